"""Huawei Cloud API Gateway AK/SK request signing: SDK-HMAC-SHA256.

Unlike the Tencent and Alibaba schemes, every header sent is signed (except names containing ``_``), and
the canonical URI is not the path as sent: the signer decodes the path, re-encodes each segment and appends
a ``/``. The functions here mirror ``huaweicloudsdkcore.signer.Signer`` byte for byte.

Everything here is a pure function of its arguments: the caller supplies the clock (``timestamp``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, unquote

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.authorization import parse_authorization

__all__ = [
    "SDK_HMAC_ALGORITHM",
    "SdkHmacAuthorization",
    "encode_path",
    "parse_sdk_hmac_authorization",
    "sdk_date",
    "sdk_hmac_canonical_query",
    "sdk_hmac_canonical_request",
    "sdk_hmac_canonical_uri",
    "sdk_hmac_signature",
    "sdk_hmac_signed_headers",
    "sdk_hmac_string_to_sign",
    "sign_sdk_hmac",
]

SDK_HMAC_ALGORITHM = "SDK-HMAC-SHA256"
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_CONTENT_HASH_HEADER = "x-sdk-content-sha256"
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Headers sign_sdk_hmac sets itself; a caller's copy would either be overwritten or conflict in case only.
_RESERVED = frozenset({"host", "x-sdk-date", "x-security-token", "authorization"})


@dataclass(frozen=True)
class SdkHmacAuthorization:
    """The parts of an ``SDK-HMAC-SHA256`` ``Authorization`` header."""

    key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def encode_path(template: str, params: Mapping[str, str]) -> str:
    """Fill the ``{name}`` placeholders of a path template, each value percent-encoded with nothing safe.

    A ``/`` inside a value becomes ``%2F`` (it stays one path segment), ``~`` stays literal. Every
    placeholder must have a value (``ValueError`` otherwise); extra ``params`` are ignored, as the SDK does.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise ValueError(f"encode_path: no value for path parameter {name!r}")
        return quote(params[name], safe="", encoding="utf-8")

    return _PLACEHOLDER.sub(fill, template)


def sdk_date(timestamp: datetime) -> str:
    """Format a timezone-aware time as an ``X-Sdk-Date`` value (``YYYYMMDDTHHMMSSZ``, UTC)."""
    # A naive datetime is ambiguous; guessing wrong shifts the signed time by hours and APIG rejects it.
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("SDK-HMAC-SHA256: timestamp must be timezone-aware")
    return timestamp.astimezone(timezone.utc).strftime(_DATE_FORMAT)


def sdk_hmac_canonical_uri(path: str) -> str:
    """Return the canonical URI of a path as sent.

    Like the SDK, the path is first percent-decoded, then split on ``/`` and each segment re-encoded (only
    ``~`` and unreserved characters literal), and a ``/`` is appended when it does not already end with one.
    A consequence kept for parity: an encoded slash (``%2F``) inside a segment is signed as a real ``/``.
    """
    encoded = "/".join(quote(segment, safe="~", encoding="utf-8") for segment in unquote(path).split("/"))
    # The trailing slash exists only in the canonical form; the request line keeps the path unchanged.
    return encoded if encoded.endswith("/") else encoded + "/"


def sdk_hmac_canonical_query(query: Sequence[tuple[str, str]]) -> str:
    """Return the canonical query string: pairs sorted by name then value, both sides percent-encoded.

    The SDK sends exactly this string as the request's query, so it is also the query to send.
    """
    return "&".join(
        f"{quote(name, safe='~', encoding='utf-8')}={quote(value, safe='~', encoding='utf-8')}"
        for name, value in sorted(query)
    )


def sdk_hmac_signed_headers(headers: Mapping[str, str]) -> list[str]:
    """Return the signed header names for a set of sent headers: all without ``_``, lower-cased, sorted."""
    # The SDK skips names with "_" (presumably because proxies such as nginx drop such headers by default,
    # so the gateway could not re-check them); the gateway accepts what SignedHeaders lists, so mirror it.
    return sorted(name.lower() for name in headers if "_" not in name)


def sdk_hmac_canonical_request(
    *,
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """Build the SDK-HMAC-SHA256 canonical request.

    ``path`` is the path as sent (encoded), ``query`` the decoded query pairs, ``headers`` the headers as
    sent (looked up case-insensitively; only ``signed_headers`` enter, values trimmed) and ``body`` the exact
    payload. A verifier passes the ``SignedHeaders`` of the received ``Authorization``; a missing signed
    header raises ``ValueError``.
    """
    by_name: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in by_name:
            raise ValueError(f"SDK-HMAC-SHA256: header {name!r} appears more than once")
        by_name[name.lower()] = value.strip()
    lines = []
    for name in signed_headers:
        signed_value = by_name.get(name.lower())
        if signed_value is None:
            raise ValueError(f"SDK-HMAC-SHA256: signed header {name!r} is not among the request headers")
        lines.append(f"{name.lower()}:{signed_value}\n")
    # The SDK lets a caller-declared content hash (e.g. UNSIGNED-PAYLOAD) stand in for the body's hash.
    declared_hash = by_name.get(_CONTENT_HASH_HEADER)
    payload_hash = declared_hash if body and declared_hash else hashlib.sha256(body).hexdigest()
    return "\n".join(
        [
            method.upper(),
            sdk_hmac_canonical_uri(path),
            sdk_hmac_canonical_query(query),
            "".join(lines),
            ";".join(name.lower() for name in signed_headers),
            payload_hash,
        ]
    )


def sdk_hmac_string_to_sign(*, sdk_date: str, canonical_request: str) -> str:
    """Return the string to sign: algorithm, ``X-Sdk-Date`` value and hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{SDK_HMAC_ALGORITHM}\n{sdk_date}\n{digest}"


def sdk_hmac_signature(secret: str, *, sdk_date: str, canonical_request: str) -> str:
    """Return the hex HMAC-SHA256 signature, keyed by the secret key, of a canonical request."""
    string_to_sign = sdk_hmac_string_to_sign(sdk_date=sdk_date, canonical_request=canonical_request)
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_sdk_hmac(
    creds: Credentials,
    *,
    method: str,
    host: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    timestamp: datetime,
) -> dict[str, str]:
    """Return every header to send: the caller's ``headers`` plus ``Host``, ``X-Sdk-Date``,
    ``X-Security-Token`` (with a session token) and ``Authorization``.

    ``path`` is the path exactly as it will be sent (already encoded, e.g. by :func:`encode_path`, and
    without an added trailing slash); send the query as :func:`sdk_hmac_canonical_query` renders it. Every
    returned header whose name has no ``_`` is signed. Header values are trimmed, as the SDK sends them.
    ``timestamp`` must be timezone-aware.
    """
    if not host:
        raise ValueError("sign_sdk_hmac: host is empty")
    if not path.startswith("/"):
        raise ValueError("sign_sdk_hmac: path must start with '/'")
    sent: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if lower in _RESERVED:
            raise ValueError(f"sign_sdk_hmac: header {name!r} is set by the signer")
        if lower in seen:
            raise ValueError(f"sign_sdk_hmac: header {name!r} appears more than once")
        seen.add(lower)
        sent[name] = value.strip()
    sent["Host"] = host
    sent["X-Sdk-Date"] = sdk_date(timestamp)
    if creds.token:
        sent["X-Security-Token"] = creds.token
    for name, value in sent.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"sign_sdk_hmac: header {name!r} contains a line break")
    signed_headers = sdk_hmac_signed_headers(sent)
    canonical_request = sdk_hmac_canonical_request(
        method=method, path=path, query=query, headers=sent, signed_headers=signed_headers, body=body
    )
    signature = sdk_hmac_signature(creds.secret, sdk_date=sent["X-Sdk-Date"], canonical_request=canonical_request)
    sent["Authorization"] = (
        f"{SDK_HMAC_ALGORITHM} Access={creds.key_id}, SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )
    return sent


def parse_sdk_hmac_authorization(value: str) -> SdkHmacAuthorization:
    """Parse an ``SDK-HMAC-SHA256`` ``Authorization`` header value; raise ``ValueError`` if it is malformed."""
    parsed = parse_authorization(
        value, algorithm=SDK_HMAC_ALGORITHM, label="SDK-HMAC-SHA256", names=("Access", "SignedHeaders", "Signature")
    )
    return SdkHmacAuthorization(
        key_id=parsed.fields["Access"], signed_headers=parsed.signed_headers, signature=parsed.signature
    )
