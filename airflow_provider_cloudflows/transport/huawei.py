"""Huawei Cloud APIG-fronted REST APIs (DWS): SDK-HMAC-SHA256, ``{error_code, error_msg}`` + X-Request-Id.

Errors are typed by their code before their HTTP status, because DWS answers the same condition under
different statuses. A code DWS documents as "try again later" is an outage on a read (retried, and a wait
with deadline left keeps polling through it, as through a 5xx) but a refusal on a write: the write driver
resends only what proves the write was not applied, and a 5xx-like error would report "maybe applied".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials
from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    ExpiredCredentialsError,
    MalformedResponseError,
    NotFoundError,
    ServerError,
    ThrottledError,
    UnexpectedStatusError,
)
from airflow_provider_cloudflows.signing.sdk_hmac import encode_path, sdk_hmac_canonical_query, sign_sdk_hmac
from airflow_provider_cloudflows.transport import replies
from airflow_provider_cloudflows.transport.endpoints import check_path_segment, endpoint_and_host
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest
from airflow_provider_cloudflows.transport.vendor_api import VendorApi

VENDOR = "huaweicloud"
_EU_REGIONS = frozenset({"eu-west-101"})
_CN_REGIONS = frozenset({"cn-south-4", "cn-north-12", "cn-east-4", "tr-west-1", "ap-southeast-4"})
# DWS answers an unknown cluster with one of these, under 401, 403 or 404 depending on the endpoint, so the
# code, not the HTTP status, decides (401 alone would be read as an auth failure).
CLUSTER_UNKNOWN_CODES = frozenset({"DWS.0047", "DWS.0015", "DWS.3027"})
# Documented with the solution "Try again later" and nothing to correct first (API error codes, dws_02_0030):
# 409 DWS.0011 "This operation cannot be performed because another operation is being performed on the
# instance or the instance is faulty. Please try again later." The other codes there that mention trying
# again (DWS.0001, DWS.0006, DWS.0015) ask to fix the request or the permissions first; DWS.0005 is a 500.
TRY_LATER_CODES = frozenset({"DWS.0011"})
THROTTLE_RETRY_AFTER = 3.0
# APIG's answer to a security token that must be renewed ("The token must be updated.").
EXPIRED_TOKEN_CODE = "APIG.0307"
JSON_WITH_BODY = "application/json;charset=utf-8"


def default_endpoint(region: str) -> str:
    """The DWS regional endpoint, with the documented ``.eu`` / ``.cn`` domain exceptions."""
    domain = (
        "myhuaweicloud.eu"
        if region in _EU_REGIONS
        else "myhuaweicloud.cn"
        if region in _CN_REGIONS
        else "myhuaweicloud.com"
    )
    return f"https://dws.{{region}}.{domain}"


@dataclass(frozen=True)
class HuaweiCall:
    """One REST call: a path template (``{project_id}`` is filled by the API) and its parameters."""

    method: str
    path: str
    path_params: Mapping[str, str]
    query: Sequence[tuple[str, str]] = field(default_factory=tuple)
    # Fields of the answer that name what was asked (e.g. ``action_name``), with the values asked for.
    echo: Mapping[str, str] = field(default_factory=dict)
    # JSON body of a write (POST); sent as the SDK serializes it and hashed into the signature.
    body: Mapping[str, object] | None = None


# The first matching row decides.
TABLE = replies.ClassTable(
    (
        replies.Rule(UnexpectedStatusError, statuses=replies.NOT_ERROR_STATUSES),
        replies.Rule(NotFoundError, codes=CLUSTER_UNKNOWN_CODES),
        replies.Rule(ThrottledError, statuses={429}, codes={"APIG.0308"}),
        replies.Rule(ServerError, statuses=replies.SERVER_STATUSES),
        replies.Rule(ServerError, codes=TRY_LATER_CODES, reads_only=True),
        replies.Rule(ExpiredCredentialsError, codes={EXPIRED_TOKEN_CODE}),
        # APIG.0301: five bad signatures in a row lock the key for five minutes, so never retried.
        replies.Rule(AuthError, statuses={401, 403}, prefixes=("APIG.03",)),
        replies.Rule(NotFoundError, statuses={404}),
    ),
    # DWS documents errors only with 4xx/5xx: an unknown code inside a 200 is an error all the same, never
    # data, and never read as "no such task" (a transient gateway answer must not end a wait).
    undocumented_envelope=MalformedResponseError,
)

# 200 carries the resource; >= 400 carries ``error_code``/``error_msg`` (or the legacy names, or IAM's
# Keystone ``{"error": {"message", "code", "title"}}``, whose numeric code only repeats the HTTP status). The
# request id is the ``X-Request-Id`` header (IAM: ``X-IAM-Trace-Id``), else the body's ``request_id``.
REPLIES = replies.ReplyFormat(
    VENDOR,
    replies.FieldMap(
        codes=("error_code", "errCode", "code"),
        markers=("error_code", "errCode"),
        messages=("error_msg", "externalMessage", "message"),
        nested_message=("error", "message"),
        request_ids=("request_id",),
        request_id_headers=("X-Request-Id", "X-IAM-Trace-Id"),
        header_id_first=True,
    ),
    TABLE,
    replies.Wording(refused_bare="{what} failed: HTTP {status}"),
    throttle_retry_after=THROTTLE_RETRY_AFTER,
    codeless_code="ErrorEnvelope",
)


def classify(status: int, code: str, *, write: bool = False) -> type[CloudApiError]:
    """The error class of a Huawei error reply (``write``: the call was a write; see the module doc)."""
    return TABLE.classify(status, code, write=write)


class HuaweiRestApi(VendorApi[HuaweiCall]):
    """What every Huawei REST API shares: SDK-HMAC-SHA256 signing and the reply envelope."""

    vendor = VENDOR

    def signed(self, call: HuaweiCall, path: str, headers: Mapping[str, str], now: float) -> HttpRequest:
        """The request for ``call`` sent to ``path`` (already encoded) with ``headers`` signed among the rest."""
        base, host = endpoint_and_host(self.endpoint, region=self.region)
        # Serialized like huaweicloudsdkcore (json.dumps defaults), signed and sent as these exact bytes.
        payload = b"" if call.body is None else json.dumps(dict(call.body)).encode("utf-8")
        signed_headers = sign_sdk_hmac(
            self.credentials,
            method=call.method,
            host=host,
            path=path,
            query=call.query,
            headers=headers,
            body=payload,
            timestamp=datetime.fromtimestamp(now, tz=timezone.utc),
        )
        query = sdk_hmac_canonical_query(call.query) if call.query else ""
        return HttpRequest(call.method, base + path + (f"?{query}" if query else ""), signed_headers, payload)

    def parse(self, call: HuaweiCall, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """Read as :data:`REPLIES` declares; a write's reply is classified as a write's (see the module doc)."""
        if call.body is not None and 200 <= status < 300 and not body.strip():
            # Some DWS writes (resize) answer with an empty body: nothing to read, not a garbled answer.
            body = b"{}"
        return REPLIES.read(
            status,
            headers,
            body,
            what=self.describe(call),
            echo=call.echo,
            redact=self.redact,
            write=call.method not in ("GET", "HEAD"),
        )


class HuaweiApi(HuaweiRestApi):
    """DWS: signed requests with ``X-Project-Id`` matching the path's project."""

    def __init__(
        self, credentials: Credentials | CredentialProvider, *, region: str, endpoint: str | None, project_id: str
    ) -> None:
        if not project_id:
            raise ConfigurationError("project_id", "is required: set it in the connection's extras or on the task")
        check_path_segment("project_id", project_id)
        if not region and not endpoint:
            raise ValueError("region is required: set it in the connection's extras or on the task")
        super().__init__(credentials, region=region, endpoint=endpoint or default_endpoint(region))
        self.project_id = project_id

    def prepare(self, call: HuaweiCall, now: float) -> HttpRequest:
        """Sign the path as sent; the canonical URI's appended slash is the signer's business."""
        path = encode_path(call.path, {"project_id": self.project_id, **call.path_params})
        # With a body the SDK declares its charset (signed, like every header it sends).
        content_type = JSON_WITH_BODY if call.body is not None else "application/json"
        return self.signed(call, path, {"Content-Type": content_type, "X-Project-Id": self.project_id}, now)

    def describe(self, call: HuaweiCall) -> str:
        """E.g. ``dws:GET /v1/{project_id}/clusters/{cluster_id}/actions/{action_name}``."""
        return f"dws:{call.method} {call.path}"
