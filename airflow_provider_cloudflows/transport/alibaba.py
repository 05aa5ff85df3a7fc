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
from airflow_provider_cloudflows.transport import replies
from airflow_provider_cloudflows.transport.endpoints import endpoint_and_host
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest
from airflow_provider_cloudflows.transport.vendor_api import VendorApi

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


# The code decides first: a documented auth, not-found or invalid-argument code is permanent *whatever headers
# come with it* (a 403 ``SignatureDoesNotMatch`` carrying ``x-acs-retry-after`` must not be sent five more
# times), and so is any other 401/403. Only an undocumented code of another status may be made transient by a
# retry-after hint. The first matching row decides.
TABLE = replies.ClassTable(
    (
        replies.Rule(UnexpectedStatusError, statuses=replies.NOT_ERROR_STATUSES),
        replies.Rule(ThrottledError, statuses={429}, codes={"ResourceThrottled"}, prefixes=("Throttling",)),
        # The nonce collided; the next attempt is signed with a fresh one, so retrying is safe.
        replies.Rule(ServerError, codes={"SignatureNonceUsed"}),
        replies.Rule(ExpiredCredentialsError, codes={EXPIRED_TOKEN_CODE}),
        replies.Rule(AuthError, prefixes=_AUTH_CODES),
        replies.Rule(NotFoundError, statuses={404}, suffixes=("NotExists",)),
        replies.Rule(InvalidRequestError, prefixes=_INVALID_CODES),
        # Refused credentials or permission, documented code or not: never retried, whatever the headers say.
        replies.Rule(AuthError, statuses={401, 403}),
        # An undocumented code with the server's own hint to come back later.
        replies.Rule(ThrottledError, hinted=True),
        replies.Rule(ServerError, statuses=replies.SERVER_STATUSES),
    ),
    # An unknown code inside a 200 is not a documented refusal: an error, but not a permanent one.
    undocumented_envelope=MalformedResponseError,
)

# 200 carries the result; >= 400 carries ``{RequestId, Code, Message}`` (a gateway's in lower camel case);
# a 200 whose body carries a ``Code`` is an error envelope, never data. ``x-acs-retry-after`` is in
# milliseconds, as the official SDK reads it.
REPLIES = replies.ReplyFormat(
    VENDOR,
    replies.FieldMap(
        codes=("Code", "code"),
        markers=("Code", "code"),
        messages=("Message", "message"),
        request_ids=("RequestId", "requestId"),
        request_id_headers=("x-acs-request-id",),
        retry_after_header="x-acs-retry-after",
        retry_after_scale=0.001,
    ),
    TABLE,
    replies.Wording(
        refused_bare="{what} failed: answered HTTP {status}",
        codeless="{what} answered HTTP 200 with a Code that is not a string: {message}",
    ),
)


def classify(status: int, code: str, retry_after: float | None) -> type[CloudApiError]:
    """The error class of an Alibaba error reply (``retry_after``: the server's hint, if any)."""
    return TABLE.classify(status, code, hint=retry_after)


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
        """Read as :data:`REPLIES` declares."""
        return REPLIES.read(status, headers, body, what=self.describe(call), echo=call.echo, redact=self.redact)

    def describe(self, call: AlibabaCall) -> str:
        """E.g. ``fnf:DescribeExecution``."""
        return f"fnf:{call.action}"
