"""Huawei Cloud temporary identities: an IAM agency, the ECS metadata's agency key, a federated OIDC token.

Each is an exchange with IAM or the metadata service whose answer, ``{"credential": {"access", "secret",
"securitytoken", "expires_at"}}``, becomes a key only when every field is exactly that: IAM's and the
metadata's answers are read by one reader, so a garbled answer from either is the same typed error. The
requests are huaweicloudsdkcore's, byte for byte where it has them (the OIDC exchange, the metadata token);
the agency, which the Python SDK does not implement, is the documented ``assume_role`` body, signed with the
stored AK/SK like every IAM call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.transport import credential_checks as checks
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.huawei import VENDOR, HuaweiCall
from airflow_provider_cloudflows.transport.huawei_iam import HuaweiIamTokenApi
from airflow_provider_cloudflows.transport.identity import (
    Exchange,
    ExchangeSource,
    TokenFile,
)
from airflow_provider_cloudflows.transport.messages import ApiResponse
from airflow_provider_cloudflows.transport.metadata import MetadataApi, MetadataCall
from airflow_provider_cloudflows.transport.retry import RetryPolicy

__all__ = [
    "AGENCY_LABEL",
    "DEFAULT_METADATA_ENDPOINT",
    "ID_TOKEN_PATH",
    "METADATA_LABEL",
    "OIDC_DEFAULT_DURATION",
    "OIDC_LABEL",
    "PROBE_POLICY",
    "SECURITY_TOKENS_PATH",
    "HuaweiMetadataApi",
    "agency_source",
    "credentials_from",
    "metadata_source",
    "oidc_source",
]

AGENCY_LABEL = "IAM agency (assume_role)"
METADATA_LABEL = "ECS metadata (securitykey)"
OIDC_LABEL = "OIDC id token (IAM identity provider)"

SECURITY_TOKENS_PATH = "/v3.0/OS-CREDENTIAL/securitytokens"
ID_TOKEN_PATH = "/v3.0/OS-AUTH/id-token/tokens"
DEFAULT_METADATA_ENDPOINT = "http://169.254.169.254"
# huaweicloudsdkcore.auth.internal.FederalAccessor asks for 6 h keys.
OIDC_DEFAULT_DURATION = 6 * 60 * 60
# The metadata token as MetadataAccessor asks for it.
METADATA_TOKEN_TTL = "21600"
# Statuses of the token request after which MetadataAccessor reads the securitykey without a token (a
# metadata service without the token API).
_NO_TOKEN_API = frozenset({404, 405, 503})

# The default chain's metadata probe: two short attempts within identity.PROBE_SECONDS.
PROBE_POLICY = RetryPolicy(max_attempts=2, initial_backoff=0.1, max_backoff=0.2)

_TOKEN_CALL = MetadataCall(
    "PUT", "/meta-data/latest/api/token", "api/token", {"X-Metadata-Token-Ttl-Seconds": METADATA_TOKEN_TTL}, text=True
)


def credentials_from(answer: ApiResponse, *, what: str) -> Credentials:
    """The key of an IAM or metadata answer ``{"credential": {...}}``; anything else is an
    :class:`UnreadableAnswerError` naming the field (never the value)."""
    credential = answer.body.get("credential")
    if not isinstance(credential, Mapping):
        raise checks.unreadable_credentials(VENDOR, what, "has no 'credential' object", answer)
    return checks.checked_credentials(
        credential,
        names=("access", "secret", "securitytoken"),
        expires_at=checks.expiry_from_iso(credential.get("expires_at")),
        expiry_field="expires_at",
        now=time.time(),
        vendor=VENDOR,
        what=what,
        answer=answer,
    )


def _securitytokens(identity: Mapping[str, Any]) -> HuaweiCall:
    return HuaweiCall("POST", SECURITY_TOKENS_PATH, {}, body={"auth": {"identity": dict(identity)}})


def agency_source(
    base: Credentials,
    *,
    region: str,
    iam_endpoint: str | None,
    agency_name: str,
    domain_id: str | None,
    domain_name: str | None,
    duration: int | None,
    policy: RetryPolicy,
) -> ExchangeSource:
    """Assume ``agency_name`` of the domain (by id or name) with the stored key: IAM ``assume_role``.

    ``duration`` None leaves the lifetime to IAM (its documented default: 15 minutes).
    """
    assume: dict[str, Any] = {"agency_name": agency_name}
    assume.update({"domain_id": domain_id} if domain_id else {"domain_name": domain_name})
    if duration is not None:
        assume["duration_seconds"] = duration
    call = _securitytokens({"methods": ["assume_role"], "assume_role": assume})
    # Built once: the endpoint is checked now, naming the setting, not at the first refresh.
    client = CloudClient(HuaweiIamTokenApi(base, region=region, endpoint=iam_endpoint), policy)

    def exchange() -> Exchange:
        answer = yield (client, call)
        return credentials_from(answer, what=client.api.describe(call))

    return ExchangeSource(AGENCY_LABEL, exchange)


def oidc_source(
    *,
    region: str,
    iam_endpoint: str | None,
    idp_id: str,
    token_file: str,
    setting: str,
    duration: int,
    policy: RetryPolicy,
) -> ExchangeSource:
    """The id token in ``token_file`` (read again at every refresh) exchanged for an unscoped federated
    token of ``idp_id``, then that token for a temporary key: huaweicloudsdkcore's ``FederalAccessor``.

    The subject token is sent both as ``X-Auth-Token`` (as IAM documents) and as ``token.id`` (as the SDK
    does); it is a secret like the id token and is removed from any error text.
    """
    # Checked now: a bad iam_endpoint fails when the connection is read, naming the setting.
    HuaweiIamTokenApi(None, region=region, endpoint=iam_endpoint)

    def exchange() -> Exchange:
        id_token: str = yield TokenFile(token_file, setting)
        federation = HuaweiIamTokenApi(
            None, region=region, endpoint=iam_endpoint, headers={"X-Idp-Id": idp_id}, hidden=(id_token,)
        )
        call = HuaweiCall("POST", ID_TOKEN_PATH, {}, body={"auth": {"id_token": {"id": id_token}}})
        answer: ApiResponse = yield (CloudClient(federation, policy), call)
        subject = answer.headers.get("X-Subject-Token")
        if not isinstance(subject, str) or not subject.isascii() or not subject.isprintable() or not subject:
            raise checks.unreadable_credentials(
                VENDOR, federation.describe(call), "answered no usable X-Subject-Token header", answer
            )
        keys = HuaweiIamTokenApi(
            None, region=region, endpoint=iam_endpoint, headers={"X-Auth-Token": subject}, hidden=(id_token, subject)
        )
        call = _securitytokens({"methods": ["token"], "token": {"id": subject, "duration_seconds": duration}})
        answer = yield (CloudClient(keys, policy), call)
        return credentials_from(answer, what=keys.describe(call))

    return ExchangeSource(OIDC_LABEL, exchange)


class HuaweiMetadataApi(MetadataApi):
    """The ECS metadata service (``http://169.254.169.254``): unsigned, JSON answers, an optional token."""

    vendor = VENDOR

    def parse(self, call: MetadataCall, status: int, headers: Any, body: bytes) -> ApiResponse:
        """As any metadata answer, except that a token request answered 404, 405 or 503 means the service has
        no token API: the securitykey is then read without one, as huaweicloudsdkcore does."""
        if call is _TOKEN_CALL and status in _NO_TOKEN_API:
            return ApiResponse({}, None, status)
        return super().parse(call, status, headers, body)


def metadata_source(*, endpoint: str | None, policy: RetryPolicy) -> ExchangeSource:
    """The agency key of the ECS from its metadata service: a session token first (the service answers one
    when it has the token API), then ``GET /openstack/latest/securitykey``.

    The service answers 401 "Please configure Cloud Service Agency first" when the ECS has no agency: an
    :class:`AuthError` with that text.
    """
    client = CloudClient(HuaweiMetadataApi(endpoint=endpoint or DEFAULT_METADATA_ENDPOINT), policy)

    def exchange() -> Exchange:
        answer: ApiResponse = yield (client, _TOKEN_CALL)
        token = answer.body.get("text") if answer.http_status == 200 else None
        headers = {"X-Metadata-Token": token} if isinstance(token, str) else {}
        call = MetadataCall("GET", "/openstack/latest/securitykey", "securitykey", headers)
        answer = yield (client, call)
        return credentials_from(answer, what=client.api.describe(call))

    return ExchangeSource(METADATA_LABEL, exchange)
