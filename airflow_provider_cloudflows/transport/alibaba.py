"""Alibaba Cloud RPC-style APIs (CloudFlow ``fnf``): signed GET queries, HTTP-status error envelopes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
    ThrottledError,
)
from airflow_provider_cloudflows.signing.acs import sign_acs3, sign_rpc_v2
from airflow_provider_cloudflows.transport.client import VendorApi
from airflow_provider_cloudflows.transport.decoding import decode_json_object
from airflow_provider_cloudflows.transport.endpoints import resolve_endpoint
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest

VENDOR = "alibabacloud"
DEFAULT_ENDPOINT = "https://{region}.fnf.aliyuncs.com"
SIGNATURE_VERSIONS = ("v2", "v3")
# The read timeout must outlast a long poll, with room for the server's own latency.
LONG_POLL_SLACK = 15.0


@dataclass(frozen=True)
class AlibabaCall:
    """One RPC-style action with its (string) query parameters."""

    action: str
    version: str
    params: Mapping[str, str]
    long_poll_seconds: float = 0.0


def classify(status: int, code: str, retry_after: float | None) -> type[CloudApiError]:
    """The error class of an Alibaba error reply."""
    if retry_after or status == 429 or code == "ResourceThrottled" or code.startswith("Throttling"):
        return ThrottledError
    if code == "SignatureNonceUsed":
        # The nonce collided; the next attempt is signed with a fresh one, so retrying is safe.
        return ServerError
    if status >= 500:
        return ServerError
    if status in (401, 403) or code.startswith(("InvalidAccessKeyId", "Signature", "InvalidTimeStamp")):
        return AuthError
    if status == 404 or code.endswith("NotExists"):
        return NotFoundError
    return InvalidRequestError


class AlibabaApi(VendorApi[AlibabaCall]):
    """RPC v2 (HMAC-SHA1, the official fnf SDK's default) or V3 (ACS3-HMAC-SHA256) over GET."""

    vendor = VENDOR

    def __init__(self, credentials: Credentials, *, region: str, endpoint: str, signature_version: str = "v2") -> None:
        if signature_version not in SIGNATURE_VERSIONS:
            raise ValueError(f"signature_version must be one of {SIGNATURE_VERSIONS}, got {signature_version!r}")
        super().__init__(credentials, region=region, endpoint=endpoint)
        self.signature_version = signature_version

    def prepare(self, call: AlibabaCall, now: float) -> HttpRequest:
        """Sign with a fresh nonce per attempt and send the query exactly as canonicalized."""
        base = resolve_endpoint(self.endpoint, region=self.region)
        timestamp = datetime.fromtimestamp(now, tz=timezone.utc)
        nonce = uuid.uuid4().hex
        headers: dict[str, str]
        if self.signature_version == "v2":
            query = sign_rpc_v2(
                self.credentials,
                action=call.action,
                version=call.version,
                params=call.params,
                timestamp=timestamp,
                nonce=nonce,
            )
            headers = {"accept": "application/json"}
        else:
            query, headers = sign_acs3(
                self.credentials,
                host=urlsplit(base).netloc,
                action=call.action,
                version=call.version,
                params=call.params,
                timestamp=timestamp,
                nonce=nonce,
            )
        read_timeout = call.long_poll_seconds + LONG_POLL_SLACK if call.long_poll_seconds > 0 else None
        return HttpRequest("GET", f"{base}/?{query}" if query else f"{base}/", headers, b"", read_timeout)

    def parse(self, call: AlibabaCall, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """2xx carries the result; >= 400 carries ``{RequestId, Code, Message}``."""
        what = self.describe(call)
        header_id = headers.get("x-acs-request-id")
        if status >= 400:
            retry_after = _retry_after(headers)
            try:
                data = decode_json_object(body, vendor=VENDOR, what=what, request_id=header_id)
            except CloudApiError:
                data = {}
            code = str(data.get("Code") or data.get("code") or f"HTTP{status}")
            message = self.redact(str(data.get("Message") or data.get("message") or f"{what} answered HTTP {status}"))
            request_id = data.get("RequestId") or data.get("requestId") or header_id
            raise classify(status, code, retry_after)(
                f"{what} failed: {message}",
                vendor=VENDOR,
                code=code,
                request_id=str(request_id) if request_id else None,
                http_status=status,
                retry_after=retry_after,
            )
        data = decode_json_object(body, vendor=VENDOR, what=what, request_id=header_id)
        request_id = data.get("RequestId") or header_id
        return ApiResponse(data, str(request_id) if request_id else None, status)

    def describe(self, call: AlibabaCall) -> str:
        """E.g. ``fnf:DescribeExecution``."""
        return f"fnf:{call.action}"


def _retry_after(headers: httpx.Headers) -> float | None:
    """``x-acs-retry-after`` is in milliseconds (as the official SDK reads it); only positive values count."""
    raw = headers.get("x-acs-retry-after")
    try:
        millis = int(raw) if raw is not None else 0
    except ValueError:
        return None
    return millis / 1000.0 if millis > 0 else None
