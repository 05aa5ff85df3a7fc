"""Alibaba Cloud RPC-style APIs (CloudFlow ``fnf``): signed GET queries and form POSTs, HTTP-status error envelopes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx

from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials
from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    ExpiredCredentialsError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    ServerError,
    ThrottledError,
    UnexpectedStatusError,
)
from airflow_provider_cloudflows.signing.acs import rpc_form_body, sign_acs3, sign_rpc_v2
from airflow_provider_cloudflows.transport.client import VendorApi
from airflow_provider_cloudflows.transport.decoding import (
    check_echo,
    code_field,
    decode_json_object,
    id_field,
    retry_after_header,
    try_decode_json_object,
    vendor_message,
)
from airflow_provider_cloudflows.transport.endpoints import endpoint_and_host
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest

VENDOR = "alibabacloud"
DEFAULT_ENDPOINT = "https://{region}.fnf.aliyuncs.com"
SIGNATURE_VERSIONS = ("v2", "v3")
# The read timeout must outlast a long poll, with room for the server's own latency.
LONG_POLL_SLACK = 15.0
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class AlibabaCall:
    """One RPC-style action with its (string) query parameters."""

    action: str
    version: str
    params: Mapping[str, str]
    long_poll_seconds: float = 0.0
    # Fields of the answer that name the execution, with the values asked for (see ``check_echo``).
    echo: Mapping[str, str] = field(default_factory=dict)
    # Form body parameters of a write (POST); None or empty: a GET with everything in the query.
    form: Mapping[str, str] | None = None


# Documented (DescribeExecution's error table) or common to every RPC API; matched before any header.
_AUTH_CODES = (
    "InvalidAccessKeyId",
    "InvalidAccessKeyID",
    "Signature",
    "InvalidTimeStamp",
    "RequestTimeTooSkewed",
    "AccessDenied",
    "Forbidden",
    "InvalidSecurityToken",
    "NoPermission",
)
# The STS token's lifetime ended; a refreshable identity refreshes and repeats the call once.
EXPIRED_TOKEN_CODE = "InvalidSecurityToken.Expired"
_INVALID_CODES = (
    "InvalidArgument",
    "MissingRequired",
    "ActionNotSupported",
    "APIVersionNotSupported",
    "EntityTooLarge",
    "InvalidParameter",
)


def classify(status: int, code: str, retry_after: float | None) -> type[CloudApiError]:
    """The error class of an Alibaba error reply.

    The code decides first: a documented auth, not-found or invalid-argument code is permanent *whatever
    headers come with it* (a 403 ``SignatureDoesNotMatch`` carrying ``x-acs-retry-after`` must not be sent five
    more times), and so is any other 401/403. Only an undocumented code of another status may be made transient
    by a retry-after hint.
    """
    if status == 429 or code == "ResourceThrottled" or code.startswith("Throttling"):
        return ThrottledError
    if code == "SignatureNonceUsed":
        # The nonce collided; the next attempt is signed with a fresh one, so retrying is safe.
        return ServerError
    if code == EXPIRED_TOKEN_CODE:
        return ExpiredCredentialsError
    if code.startswith(_AUTH_CODES):
        return AuthError
    if status == 404 or code.endswith("NotExists"):
        return NotFoundError
    if code.startswith(_INVALID_CODES):
        return InvalidRequestError
    if status in (401, 403):
        # Refused credentials or permission, documented code or not: never retried, whatever the headers say.
        return AuthError
    if retry_after:
        # An undocumented code with the server's own hint to come back later.
        return ThrottledError
    if status >= 500:
        return ServerError
    return InvalidRequestError


class AlibabaApi(VendorApi[AlibabaCall]):
    """RPC v2 (HMAC-SHA1, the official fnf SDK's default) or V3 (ACS3-HMAC-SHA256) over GET."""

    vendor = VENDOR

    def __init__(
        self,
        credentials: Credentials | CredentialProvider,
        *,
        region: str,
        endpoint: str,
        signature_version: str = "v2",
    ) -> None:
        if signature_version not in SIGNATURE_VERSIONS:
            raise ValueError(f"signature_version must be one of {SIGNATURE_VERSIONS}, got {signature_version!r}")
        super().__init__(credentials, region=region, endpoint=endpoint)
        self.signature_version = signature_version

    def prepare(self, call: AlibabaCall, now: float) -> HttpRequest:
        """Sign with a fresh nonce per attempt and send the query exactly as canonicalized."""
        base, host = endpoint_and_host(self.endpoint, region=self.region)
        timestamp = datetime.fromtimestamp(now, tz=timezone.utc)
        nonce = uuid.uuid4().hex
        headers: dict[str, str]
        form = dict(call.form or {})
        # Writes (StartExecution, StopExecution) are POSTs with a form body, as the official SDK sends them:
        # RPC v2 signs the query and form parameters together, V3 hashes the body.
        method, body = ("POST", rpc_form_body(form)) if form else ("GET", b"")
        form_headers = {"content-type": FORM_CONTENT_TYPE} if form else {}
        if self.signature_version == "v2":
            query = sign_rpc_v2(
                self.credentials,
                action=call.action,
                version=call.version,
                params=call.params,
                timestamp=timestamp,
                nonce=nonce,
                method=method,
                form=form,
            )
            headers = {"accept": "application/json", **form_headers}
        else:
            query, headers = sign_acs3(
                self.credentials,
                host=host,
                action=call.action,
                version=call.version,
                params=call.params,
                timestamp=timestamp,
                nonce=nonce,
                method=method,
                body=body,
                extra_headers=form_headers,
            )
        read_timeout = call.long_poll_seconds + LONG_POLL_SLACK if call.long_poll_seconds > 0 else None
        return HttpRequest(method, f"{base}/?{query}" if query else f"{base}/", headers, body, read_timeout)

    def parse(self, call: AlibabaCall, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """200 carries the result; >= 400 carries ``{RequestId, Code, Message}``; anything else is no answer.

        A 200 whose body carries a ``Code`` is an error envelope, never data.
        """
        what = self.describe(call)
        header_id = id_field(headers.get("x-acs-request-id"))
        if status != 200:
            data = try_decode_json_object(body) or {}
            code = code_field(data.get("Code")) or code_field(data.get("code"))
            request_id = id_field(data.get("RequestId")) or id_field(data.get("requestId")) or header_id
            message = vendor_message(data.get("Message") or data.get("message"), self.redact)
            retry_after = _retry_after(headers)
            cls = classify(status, code or "", retry_after) if status >= 400 else UnexpectedStatusError
            raise cls(
                f"{what} failed: {message or f'answered HTTP {status}'}",
                vendor=VENDOR,
                code=code or f"HTTP{status}",
                request_id=request_id,
                http_status=status,
                retry_after=retry_after if cls is ThrottledError else None,
            )
        data = decode_json_object(body, vendor=VENDOR, what=what, request_id=header_id)
        request_id = id_field(data.get("RequestId")) or header_id
        raw_code = data.get("Code", data.get("code"))
        if raw_code not in (None, ""):
            code = code_field(raw_code)
            message = vendor_message(data.get("Message") or data.get("message"), self.redact)
            if code is None:
                raise MalformedResponseError(
                    f"{what} answered HTTP 200 with a Code that is not a string: {message}",
                    vendor=VENDOR,
                    request_id=request_id,
                    http_status=status,
                )
            cls = classify(status, code, None)
            if cls is InvalidRequestError and not code.startswith(_INVALID_CODES):
                # An unknown code inside a 200 is not a documented refusal: an error, but not a permanent one.
                cls = MalformedResponseError
            raise cls(
                f"{what} answered HTTP 200 with an error envelope: {message}",
                vendor=VENDOR,
                code=code,
                request_id=request_id,
                http_status=status,
            )
        check_echo(data, call.echo, vendor=VENDOR, what=what, request_id=request_id)
        return ApiResponse(data, request_id, status)

    def describe(self, call: AlibabaCall) -> str:
        """E.g. ``fnf:DescribeExecution``."""
        return f"fnf:{call.action}"


def _retry_after(headers: httpx.Headers) -> float | None:
    """``x-acs-retry-after`` is in milliseconds (as the official SDK reads it); only positive values count."""
    return retry_after_header(headers.get("x-acs-retry-after"), scale=0.001)
