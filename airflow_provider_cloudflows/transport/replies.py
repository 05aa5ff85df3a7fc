"""The one reading of a vendor reply: decode, find the error fields, classify, raise, check the identity.

Every vendor answers in the same steps and differs only in where its fields live and how its codes map to
error classes, so the steps are written once here and each vendor declares a :class:`ReplyFormat`: a
:class:`FieldMap`, a :class:`ClassTable` of :class:`Rule` rows, and the :class:`Wording` of its messages.
The wording is declared rather than shared because error texts are what users search their logs for.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_provider_cloudflows.errors import (
    CloudApiError,
    InvalidRequestError,
    MalformedResponseError,
    ThrottledError,
)
from airflow_provider_cloudflows.transport.decoding import (
    check_echo,
    code_field,
    decode_json_object,
    id_field,
    retry_after_header,
    text_field,
    try_decode_json_object,
    vendor_message,
)
from airflow_provider_cloudflows.transport.messages import ApiResponse

# Every status except the answer's own 200 and the error statuses (4xx, 5xx): no documented reply at all.
NOT_ERROR_STATUSES = frozenset(range(400)) - {200}
SERVER_STATUSES = range(500, 1000)


@dataclass(frozen=True)
class Rule:
    """One row of a classification table: a reply it matches is raised as ``error``.

    A row matches by its code (exactly, by prefix or by suffix) or by the HTTP status; a row with neither
    matches every reply its gates let through. The gates narrow a row to replies without a code
    (``codeless``), to reads (``reads_only``) or to replies carrying a retry-after hint (``hinted``).
    """

    error: type[CloudApiError]
    codes: Collection[str] = ()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    statuses: Collection[int] = ()
    codeless: bool = False
    reads_only: bool = False
    hinted: bool = False

    def matches(self, status: int, code: str | None, *, hint: float | None, write: bool) -> bool:
        """Whether this row decides the class of a reply with ``status`` and ``code``."""
        if (self.codeless and code) or (self.reads_only and write) or (self.hinted and not hint):
            return False
        if not (self.codes or self.prefixes or self.suffixes or self.statuses):
            return True
        if status in self.statuses:
            return True
        if not code:
            return False
        return code in self.codes or code.startswith(self.prefixes) or code.endswith(self.suffixes)


@dataclass(frozen=True)
class ClassTable:
    """A vendor's classification: the first matching row decides, in order.

    A reply no row names is ``undocumented`` when it came under an error status, and
    ``undocumented_envelope`` when it is an error envelope inside an HTTP 200 (where a vendor that documents
    its errors only under error statuses has said nothing it documents: an error, but not a permanent one).
    """

    rules: tuple[Rule, ...]
    undocumented: type[CloudApiError] = InvalidRequestError
    undocumented_envelope: type[CloudApiError] = InvalidRequestError

    def classify(
        self,
        status: int,
        code: str | None,
        *,
        hint: float | None = None,
        write: bool = False,
        envelope: bool = False,
    ) -> type[CloudApiError]:
        """The error class of a reply with ``status`` and ``code`` (``hint``: its retry-after seconds)."""
        for rule in self.rules:
            if rule.matches(status, code, hint=hint, write=write):
                return rule.error
        return self.undocumented_envelope if envelope else self.undocumented


@dataclass(frozen=True)
class FieldMap:
    """Where a vendor's reply keeps what the template reads.

    ``envelope``: the key of the object that is the answer (None: the top-level object). ``error``: the key of
    a nested object holding the code and message; its mere presence makes an answer an error envelope.
    Without it, the code and message sit in the answer itself and a non-empty ``markers`` field makes it one.
    ``codes``: code fields, the first string wins; ``messages``: message fields, the first truthy one wins
    (else the last one's value), then ``nested_message`` (object key, field) when that is None.
    """

    envelope: str | None = None
    error: str | None = None
    codes: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    nested_message: tuple[str, str] | None = None
    request_ids: tuple[str, ...] = ()
    request_id_headers: tuple[str, ...] = ()
    # The header's request id wins over the body's (a gateway's id names the exchange the vendor logged).
    header_id_first: bool = False
    retry_after_header: str = "Retry-After"
    # The header's unit in seconds (Alibaba's is in milliseconds).
    retry_after_scale: float = 1.0

    def answer_of(self, top: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The answer object inside the decoded body, or None when the envelope holds none."""
        if self.envelope is None:
            return top
        answer = top.get(self.envelope)
        return answer if isinstance(answer, Mapping) else None

    def is_error(self, answer: Mapping[str, Any]) -> bool:
        """Whether an answer under HTTP 200 is an error envelope (never data)."""
        if self.error is not None:
            return self.error in answer
        return any(answer.get(name) not in (None, "") for name in self.markers)

    def error_scope(self, answer: Mapping[str, Any]) -> Mapping[str, Any]:
        """The object holding the code and the message."""
        if self.error is None:
            return answer
        nested = answer.get(self.error)
        return nested if isinstance(nested, Mapping) else {}

    def code(self, answer: Mapping[str, Any]) -> str | None:
        """The error code, if the reply names one as a string."""
        scope = self.error_scope(answer)
        return next((code for name in self.codes if (code := code_field(scope.get(name))) is not None), None)

    def message(self, answer: Mapping[str, Any]) -> Any:
        """The vendor's error text as it sent it (not yet redacted or bounded)."""
        scope = self.error_scope(answer)
        message: Any = None
        for name in self.messages:
            message = scope.get(name)
            if message:
                break
        if message is None and self.nested_message is not None:
            holder, name = self.nested_message
            nested = scope.get(holder)
            if isinstance(nested, Mapping):
                message = nested.get(name)
        return message

    def header_request_id(self, headers: httpx.Headers) -> str | None:
        """The request id a header carries, if any."""
        return next((found for name in self.request_id_headers if (found := id_field(headers.get(name)))), None)

    def request_id(self, answer: Mapping[str, Any], header_id: str | None) -> str | None:
        """The request id of a reply: from the body or the header, in the vendor's order."""
        body_id = next((found for name in self.request_ids if (found := id_field(answer.get(name)))), None)
        return (header_id or body_id) if self.header_id_first else (body_id or header_id)

    def retry_after(self, headers: httpx.Headers) -> float | None:
        """The server's retry-after hint in seconds, if it gave a usable one."""
        return retry_after_header(headers.get(self.retry_after_header), scale=self.retry_after_scale)


@dataclass(frozen=True)
class Wording:
    """A vendor's error texts; placeholders ``{what}`` (the call), ``{status}``, ``{message}`` (the vendor's
    text, redacted and bounded) and ``{error}`` (the error object as bounded text)."""

    # Under an error status, with the vendor's text and without it.
    refused: str = "{what} failed: {message}"
    refused_bare: str = "{what} answered HTTP {status}"
    # An error envelope under HTTP 200, with a code and without a usable one.
    envelope: str = "{what} answered HTTP 200 with an error envelope: {message}"
    codeless: str = "{what} answered HTTP 200 with an error envelope: {message}"


@dataclass(frozen=True)
class ReplyFormat:
    """One vendor's replies: where the fields live, how codes classify, how errors read.

    ``throttle_retry_after``: the seconds a throttled reply waits when the vendor gives no hint.
    ``envelope_status``: whether errors read from a 200 carry the HTTP status. ``codeless_code``: the code an
    error envelope without a usable code is raised with.
    """

    vendor: str
    fields: FieldMap
    table: ClassTable
    wording: Wording = Wording()
    throttle_retry_after: float | None = None
    envelope_status: bool = True
    codeless_code: str | None = None

    def read(
        self,
        status: int,
        headers: httpx.Headers,
        body: bytes,
        *,
        what: str,
        echo: Mapping[str, Any],
        redact: Callable[[str], str],
        write: bool = False,
    ) -> ApiResponse:
        """The answer of a reply, or the typed error it carries.

        Only HTTP 200 carries answers; an answer holding an error envelope is an error, never data; an
        answer that names the execution must name the one asked for (``echo``, see ``check_echo``).
        """
        header_id = self.fields.header_request_id(headers)
        if status != 200:
            raise self.refusal(status, headers, body, what=what, redact=redact, write=write, header_id=header_id)
        top = decode_json_object(body, vendor=self.vendor, what=what, request_id=header_id)
        answer = self.fields.answer_of(top)
        if answer is None:
            raise MalformedResponseError(
                f"{what} returned no {self.fields.envelope} object", vendor=self.vendor, request_id=header_id
            )
        request_id = self.fields.request_id(answer, header_id)
        if self.fields.is_error(answer):
            raise self.envelope_error(answer, what=what, redact=redact, write=write, request_id=request_id)
        check_echo(answer, echo, vendor=self.vendor, what=what, request_id=request_id)
        return ApiResponse(answer, request_id, status)

    def refusal(
        self,
        status: int,
        headers: httpx.Headers,
        body: bytes,
        *,
        what: str,
        redact: Callable[[str], str],
        write: bool = False,
        header_id: str | None = None,
    ) -> CloudApiError:
        """The error a reply under any status but 200 stands for, read for its code and request id when its
        body is the vendor's envelope (so that, say, an auth failure behind a gateway status is never retried)."""
        answer = self.fields.answer_of(try_decode_json_object(body) or {}) or {}
        code = self.fields.code(answer)
        message = vendor_message(self.fields.message(answer), redact)
        hint = self.fields.retry_after(headers)
        cls = self.table.classify(status, code, hint=hint, write=write)
        wording = self.wording.refused if message else self.wording.refused_bare
        return cls(
            wording.format(what=what, status=status, message=message, error=""),
            vendor=self.vendor,
            code=code or f"HTTP{status}",
            request_id=self.fields.request_id(answer, header_id),
            http_status=status,
            retry_after=(hint or self.throttle_retry_after) if cls is ThrottledError else None,
        )

    def envelope_error(
        self,
        answer: Mapping[str, Any],
        *,
        what: str,
        redact: Callable[[str], str],
        write: bool = False,
        request_id: str | None = None,
    ) -> CloudApiError:
        """The error an error envelope inside an HTTP 200 stands for."""
        code = self.fields.code(answer)
        message = vendor_message(self.fields.message(answer), redact)
        cls: type[CloudApiError]
        if code is None:
            cls, wording = MalformedResponseError, self.wording.codeless
        else:
            cls, wording = self.table.classify(200, code, write=write, envelope=True), self.wording.envelope
        error = text_field(answer.get(self.fields.error), 200) if self.fields.error is not None else ""
        return cls(
            wording.format(what=what, status=200, message=message, error=error),
            vendor=self.vendor,
            code=code or self.codeless_code,
            request_id=request_id,
            http_status=200 if self.envelope_status else None,
            retry_after=self.throttle_retry_after if cls is ThrottledError else None,
        )
