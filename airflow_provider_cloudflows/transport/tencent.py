"""Tencent Cloud API 3.0: TC3-signed JSON POSTs and the HTTP-200 error envelope."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    ServerError,
    ThrottledError,
)
from airflow_provider_cloudflows.signing.tc3 import sign_tc3
from airflow_provider_cloudflows.transport.client import VendorApi
from airflow_provider_cloudflows.transport.decoding import decode_json_object
from airflow_provider_cloudflows.transport.endpoints import resolve_endpoint
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest

VENDOR = "tencentcloud"
DEFAULT_ENDPOINT = "https://{service}.tencentcloudapi.com"


@dataclass(frozen=True)
class TencentCall:
    """One Tencent Cloud API 3.0 action with its JSON parameters."""

    service: str
    action: str
    version: str
    params: Mapping[str, Any]


# Order matters: the first matching prefix decides. Codes are `Family.Sub`, so classify by prefix.
_CLASSES: tuple[tuple[str, type[CloudApiError]], ...] = (
    ("RequestLimitExceeded", ThrottledError),
    ("InternalError", ServerError),
    ("ServiceUnavailable", ServerError),
    ("AuthFailure", AuthError),
    ("UnauthorizedOperation", AuthError),
    ("ResourceNotFound", NotFoundError),
    ("InvalidParameterValue.FlowNotFound", NotFoundError),
    ("FailedOperation.FlowNotFoundError", NotFoundError),
)


def classify(code: str) -> type[CloudApiError]:
    """The error class of a Tencent error code; unlisted codes are permanent, never silently retried."""
    for prefix, cls in _CLASSES:
        if code.startswith(prefix):
            return cls
    return InvalidRequestError


class TencentApi(VendorApi[TencentCall]):
    """TC3-HMAC-SHA256 over ``POST {endpoint}/`` with the body signed byte for byte as sent."""

    vendor = VENDOR

    def prepare(self, call: TencentCall, now: float) -> HttpRequest:
        """Serialize once, sign exactly those bytes, send exactly those bytes."""
        base = resolve_endpoint(self.endpoint, service=call.service, region=self.region)
        body = json.dumps(call.params, separators=(",", ":"), ensure_ascii=False).encode()
        headers = sign_tc3(
            self.credentials,
            service=call.service,
            host=urlsplit(base).netloc,
            action=call.action,
            version=call.version,
            region=self.region or None,
            body=body,
            timestamp=int(now),
        )
        return HttpRequest("POST", base + "/", headers, body)

    def parse(self, call: TencentCall, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """Tencent reports business errors with HTTP 200; anything but 200 is a gateway-level failure."""
        what = self.describe(call)
        if status == 429:
            raise ThrottledError(f"{what} was throttled by the gateway", vendor=VENDOR, http_status=status)
        if status != 200:
            raise ServerError(f"{what} answered HTTP {status}", vendor=VENDOR, http_status=status)
        data = decode_json_object(body, vendor=VENDOR, what=what)
        response = data.get("Response")
        if not isinstance(response, Mapping):
            raise MalformedResponseError(f"{what} returned no Response object", vendor=VENDOR)
        request_id = response.get("RequestId")
        error = response.get("Error")
        if error is not None:
            code = str(error.get("Code", "")) if isinstance(error, Mapping) else ""
            message = self.redact(str(error.get("Message", "")) if isinstance(error, Mapping) else str(error))
            raise classify(code)(
                f"{what} failed: {message}", vendor=VENDOR, code=code or "Unknown", request_id=request_id
            )
        return ApiResponse(response, request_id if isinstance(request_id, str) else None, status)

    def describe(self, call: TencentCall) -> str:
        """E.g. ``emr:DescribeClusterFlowStatusDetail``."""
        return f"{call.service}:{call.action}"
