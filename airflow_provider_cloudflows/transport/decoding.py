"""Shared reply decoding: strict JSON, bounded in every dimension, or a typed malformed-reply error.

Whatever the network delivers must end in data the rest of the provider can use safely — logged, compared,
put into an XCom (strict JSON) — or in a :class:`MalformedResponseError`. Python's ``json`` alone lets
through, or crashes on, things no vendor documents: ``NaN`` / ``Infinity`` / ``1e400`` (not JSON; they break
the XCom), integers of thousands of digits (``ValueError`` in Python 3.11+), nesting deep enough to raise
``RecursionError`` (in the decoder, or later when the event is serialized), and duplicate keys (``{"Status":
"Running", "Status": "Succeeded"}`` silently keeps the last — an answer that says two things proves nothing).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_cloudflows.errors import MalformedResponseError, MismatchedAnswerError

# No documented answer nests deeper than 6 levels (DWS items → sub_items → detail); 32 leaves ample room while
# keeping every later walk of the data (repr, json.dumps of the event) far from the recursion limit.
MAX_DEPTH = 32
# int64 needs 19 digits; anything much longer is not an id, a counter or a state.
MAX_INT_DIGITS = 40
# Vendor text quoted in an error message or a reason (a message can be megabytes long).
MAX_TEXT = 500
# Vendor text longer than this is cut before redaction (the body itself is capped at a few MiB).
MAX_BODY_TEXT = 64 * 1024


class _Refused(ValueError):
    """A JSON value the provider refuses to accept (raised from the decoder hooks)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text)} digits")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 400:
        raise _Refused(f"a number of {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} overflows to infinity")
    return value


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name}, which is not JSON")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"the key {key[:40]!r} twice")
            seen.add(key)
    return data


# Built once: ``json.loads`` with hooks builds a decoder on every call, and every poll decodes.
_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant, object_pairs_hook=_pairs
)


# A JSON string (escapes included; an unterminated one runs to the end of the text, so a failed match is never
# retried from each later quote: linear time whatever the text), or one bracket outside strings.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def _nests_deeper(text: str, limit: int) -> bool:
    """Whether the brackets of ``text`` outside strings nest deeper than ``limit`` (for text that is not JSON,
    an estimate: a body that is not JSON is refused either way)."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def loads_strict(text: str | bytes) -> Any:
    """Decode JSON with every refusal above; raises ``ValueError`` (with the reason) for anything refused."""
    # What json.loads does before decoding: bytes in UTF-8/16/32 (a BOM allowed), a str without a BOM.
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    elif text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    # Refused before decoding, so a hostile body never drives the C decoder into RecursionError in a
    # triggerer shared by thousands of waits (CPython 3.11 can leave the interpreter's recursion counter
    # off after one, and a later import then fails with "AST constructor recursion depth mismatch").
    # Counting brackets is C-fast; only a body with more than MAX_DEPTH of them (no documented answer has as
    # many) is scanned.
    if text.count("[") + text.count("{") > MAX_DEPTH and _nests_deeper(text, MAX_DEPTH):
        raise _Refused(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return _DECODER.decode(text)
    except RecursionError:  # not reachable after the check above; kept so that it can never escape untyped
        raise _Refused("JSON nested too deeply to decode") from None


def decode_json_object(body: bytes, *, vendor: str, what: str, request_id: str | None = None) -> Mapping[str, Any]:
    """Decode ``body`` as a JSON object; anything else is a :class:`MalformedResponseError`."""
    try:
        data = loads_strict(body)
    except _Refused as exc:
        raise MalformedResponseError(
            f"{what} returned a body with {exc} ({len(body)} bytes)", vendor=vendor, request_id=request_id
        ) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise MalformedResponseError(
            f"{what} returned a body that is not JSON ({exc.__class__.__name__} at byte {getattr(exc, 'pos', '?')}, "
            f"{len(body)} bytes)",
            vendor=vendor,
            request_id=request_id,
        ) from None
    if not isinstance(data, Mapping):
        raise MalformedResponseError(
            f"{what} returned JSON {type(data).__name__}, expected an object",
            vendor=vendor,
            request_id=request_id,
        )
    return data


def try_decode_json_object(body: bytes) -> Mapping[str, Any] | None:
    """An error reply's body, if it is a strict JSON object (error replies are read for their code only)."""
    try:
        data = loads_strict(body)
    except ValueError:
        return None
    return data if isinstance(data, Mapping) else None


def parse_embedded_json(text: Any) -> tuple[Any, bool]:
    """A JSON document held in a string field (CloudFlow ``Output``, ``EventDetail``): ``(value, True)``, or
    ``(None, False)`` when it is not a string or not strict JSON. Never raises."""
    if not isinstance(text, str) or not text:
        return None, False
    try:
        return loads_strict(text), True
    except ValueError:
        return None, False


def text_field(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A vendor value as bounded text for messages: strings as they are, other JSON compactly; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def vendor_message(value: Any, redact: Callable[[str], str]) -> str:
    """Vendor error text for a message: redacted first, then bounded (a cut must not leave half a secret)."""
    return text_field(redact(text_field(value, limit=MAX_BODY_TEXT) or ""), limit=MAX_TEXT) or ""


def id_field(value: Any) -> str | None:
    """A request id as the vendor sent it: a non-empty string (bounded) or an integer; anything else is None."""
    if isinstance(value, str) and value.strip():
        return value[:200]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def code_field(value: Any) -> str | None:
    """An error code: a non-empty string (bounded), else None."""
    return value[:120] if isinstance(value, str) and value.strip() else None


def retry_after_header(raw: str | None, *, scale: float = 1.0) -> float | None:
    """A positive, finite retry-after hint in seconds (``scale`` converts the header's unit), else None.

    Garbage (``"soon"``, ``"nan"``, ``"-5"``, 5,000 digits) is ignored, never an error: it is only a hint.
    """
    if raw is None or len(raw) > 30:
        return None
    try:
        value = float(raw.strip()) * scale
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def check_echo(
    body: Mapping[str, Any],
    echo: Mapping[str, Any],
    *,
    vendor: str,
    what: str,
    request_id: str | None,
) -> None:
    """An answer that names the execution must name the one asked for (exactly: the names are case-sensitive).

    ``echo`` maps the answer's naming fields to the values asked for. A field missing or different is a
    :class:`MismatchedAnswerError` naming both values: the answer is about another execution, or about none.
    """
    for name, asked in echo.items():
        answered = body.get(name)
        if type(answered) is not type(asked) or answered != asked:
            shown = "nothing" if answered is None else f"{name}={text_field(answered, 120)!r}"
            raise MismatchedAnswerError(
                f"{what} answered about {shown}, not the {name}={asked!r} asked for",
                vendor=vendor,
                code="MismatchedAnswer",
                request_id=request_id,
            )
