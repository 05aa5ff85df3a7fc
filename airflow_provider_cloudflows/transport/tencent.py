"""Tencent Cloud API 3.0: TC3-signed JSON POSTs and the HTTP-200 error envelope."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    ExpiredCredentialsError,
    NotFoundError,
    ServerError,
    ThrottledError,
    UnexpectedStatusError,
)
from airflow_provider_cloudflows.signing.tc3 import sign_tc3
from airflow_provider_cloudflows.transport import replies
from airflow_provider_cloudflows.transport.endpoints import endpoint_and_host
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest
from airflow_provider_cloudflows.transport.vendor_api import VendorApi

VENDOR = "tencentcloud"
DEFAULT_ENDPOINT = "https://{service}.tencentcloudapi.com"
# Financial regions are isolated from the others: only their regional domain reaches them.
FINANCIAL_ENDPOINT = "https://{service}.{region}.tencentcloudapi.com"
INTL_ENDPOINT = "https://{service}.intl.tencentcloudapi.com"
# Values of the ``site`` extra: the China site (tencentcloudapi.com) or the international one.
SITES = ("china", "intl")


def check_site(site: str | None) -> str | None:
    """The ``site`` extra when it is one of :data:`SITES`, None when unset; else an error naming it."""
    if site is None or site == "":
        return None
    if site not in SITES:
        shown = site if len(site) <= 40 and site.isprintable() else "<garbled>"
        raise ConfigurationError("site extra", f"{shown!r} is not a site; use china (the default) or intl")
    return site


def endpoint_template(region: str, *, site: str | None = None, endpoint: str | None = None) -> str:
    """The endpoint template a connection's calls go to (``{service}`` filled per call); pure, no I/O.

    A hand-written ``endpoint`` wins. Otherwise Tencent's API documentation decides: the nearest-region domain
    ``{service}.tencentcloudapi.com`` serves every region except the financial ones (``*-fsi``), which are
    isolated and reached only at their regional domain ``{service}.{region}.tencentcloudapi.com``; ``site``
    ``intl`` selects the international site, ``{service}.intl.tencentcloudapi.com``. The official SDK decides
    none of this itself (it sends to ``{service}.{rootDomain}`` whatever the region, and leaves the financial
    and international domains to the caller's ``HttpProfile``). The international site has no financial
    regions, so ``intl`` with one is refused rather than sent where it cannot be served.
    """
    chosen = check_site(site)
    if endpoint:
        return endpoint
    if region.endswith("-fsi"):
        if chosen == "intl":
            raise ConfigurationError(
                "site extra",
                f"intl has no domain for the financial region {region!r} (region), which is served only at "
                "{service}." + region + ".tencentcloudapi.com: use site china, or set endpoint",
            )
        return FINANCIAL_ENDPOINT
    return INTL_ENDPOINT if chosen == "intl" else DEFAULT_ENDPOINT


@dataclass(frozen=True)
class TencentCall:
    """One Tencent Cloud API 3.0 action with its JSON parameters."""

    service: str
    action: str
    version: str
    params: Mapping[str, Any]
    # Fields of the answer that name the execution, with the values asked for (see ``check_echo``).
    echo: Mapping[str, Any] = field(default_factory=dict)


# Codes are ``Family.Sub``, so they classify by prefix; the first matching row decides. A reply without a
# code (a gateway's) classifies by its status alone.
TABLE = replies.ClassTable(
    (
        replies.Rule(ThrottledError, prefixes=("RequestLimitExceeded",)),
        replies.Rule(ServerError, prefixes=("InternalError", "ServiceUnavailable")),
        replies.Rule(ExpiredCredentialsError, prefixes=("AuthFailure.TokenFailure",)),
        replies.Rule(AuthError, prefixes=("AuthFailure", "UnauthorizedOperation")),
        replies.Rule(
            NotFoundError,
            prefixes=("ResourceNotFound", "InvalidParameterValue.FlowNotFound", "FailedOperation.FlowNotFoundError"),
        ),
        replies.Rule(ThrottledError, statuses={429}, codeless=True),
        replies.Rule(ServerError, statuses=replies.SERVER_STATUSES, codeless=True),
        # 201, 206, a redirect (never followed), a 4xx from a proxy: not a documented answer.
        replies.Rule(UnexpectedStatusError, codeless=True),
    )
)

# Only HTTP 200 carries answers, business errors included, as ``{"Response": {"Error": {Code, Message},
# "RequestId"}}``; any Error key, even null, makes an error envelope. A reply under another status is still
# read for that envelope.
REPLIES = replies.ReplyFormat(
    VENDOR,
    replies.FieldMap(
        envelope="Response", error="Error", codes=("Code",), messages=("Message",), request_ids=("RequestId",)
    ),
    TABLE,
    replies.Wording(
        refused="{what} answered HTTP {status}: {message}",
        envelope="{what} failed: {message}",
        codeless="{what} returned an Error without a Code: {error}",
    ),
    envelope_status=False,
)


def classify(code: str) -> type[CloudApiError]:
    """The error class of a Tencent error code; unlisted codes are permanent, never silently retried."""
    return TABLE.classify(200, code)


# Built once: json.dumps with options builds an encoder on every call, and every poll encodes.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_body(params: Mapping[str, Any]) -> bytes:
    """The JSON bytes of the parameters, encoded once per distinct parameter set when every value is a string,
    an integer, a boolean or null (every poll of a wait sends the same ones); others are encoded every time."""
    if all(type(value) in _CACHEABLE for value in params.values()):
        # The value's type is part of the key: 1 and True are equal and hash alike but encode differently.
        return _cached_json_body(tuple((name, type(value), value) for name, value in params.items()))
    # Floats (0.0 == -0.0, encoded differently), tuples and nested values (their items' types are not in a key).
    return _ENCODE(params).encode()


_CACHEABLE = frozenset({str, int, bool, type(None)})


@functools.lru_cache(maxsize=8192)
def _cached_json_body(key: tuple[tuple[str, type, Any], ...]) -> bytes:
    return _ENCODE({name: value for name, _, value in key}).encode()


class TencentApi(VendorApi[TencentCall]):
    """TC3-HMAC-SHA256 over ``POST {endpoint}/`` with the body signed byte for byte as sent."""

    vendor = VENDOR

    def prepare(self, call: TencentCall, now: float) -> HttpRequest:
        """Serialize once, sign exactly those bytes, send exactly those bytes."""
        base, host = endpoint_and_host(self.endpoint, service=call.service, region=self.region)
        body = json_body(call.params)
        headers = sign_tc3(
            self.credentials,
            service=call.service,
            host=host,
            action=call.action,
            version=call.version,
            region=self.region or None,
            body=body,
            timestamp=int(now),
        )
        return HttpRequest("POST", base + "/", headers, body)

    def parse(self, call: TencentCall, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """Read as :data:`REPLIES` declares."""
        return REPLIES.read(status, headers, body, what=self.describe(call), echo=call.echo, redact=self.redact)

    def describe(self, call: TencentCall) -> str:
        """E.g. ``emr:DescribeClusterFlowStatusDetail``."""
        return f"{call.service}:{call.action}"
