"""Tencent Cloud temporary identities: STS ``AssumeRole``, the CVM role's metadata, TKE's OIDC token.

Every exchange goes through the same client as the service APIs (TC3 signing, the ``Response`` envelope,
typed errors, the deadline), and an answer becomes a key only when each field has the documented type:
``TmpSecretId`` / ``TmpSecretKey`` / ``Token`` printable strings, ``ExpiredTime`` an integer of epoch
seconds and ``Expiration`` an ISO 8601 UTC time, both in the future. The key is taken to expire at the
earlier of the two, so a garbled or contradictory expiry can only make it refresh sooner, never later.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, CredentialSource, StaticCredentials
from airflow_provider_cloudflows.transport import credential_checks as checks
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.endpoints import check_path_segment, endpoint_and_host, resolve_endpoint
from airflow_provider_cloudflows.transport.identity import (
    ChainSource,
    Exchange,
    ExchangeSource,
    ProbeSource,
    TokenFile,
    env_value,
)
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest
from airflow_provider_cloudflows.transport.metadata import MetadataApi, MetadataCall
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from airflow_provider_cloudflows.transport.tencent import VENDOR, TencentApi, TencentCall, check_site, json_body

__all__ = [
    "CVM_ROLE_PATH",
    "DEFAULT_DURATION",
    "DEFAULT_METADATA_ENDPOINT",
    "DEFAULT_SESSION_NAME",
    "DEFAULT_STS_ENDPOINT",
    "INTL_STS_ENDPOINT",
    "MAX_DURATION",
    "STS_VERSION",
    "TKE_VARIABLES",
    "AssumeRole",
    "CvmRole",
    "TencentMetadataApi",
    "TencentStsApi",
    "TkeOidc",
    "assume_role_source",
    "checked_sts_endpoint",
    "cvm_role_source",
    "default_chain",
    "default_sts_endpoint",
    "environment_credentials",
    "is_role_arn",
    "oidc_source",
    "tke_settings",
]

STS_VERSION = "2018-08-13"
DEFAULT_STS_ENDPOINT = "https://sts.tencentcloudapi.com"
INTL_STS_ENDPOINT = "https://sts.intl.tencentcloudapi.com"
DEFAULT_METADATA_ENDPOINT = "http://metadata.tencentyun.com"
CVM_ROLE_PATH = "/latest/meta-data/cam/security-credentials/"
# The SDK's default lifetime and the documented maximum of both STS actions.
DEFAULT_DURATION = 7200
MAX_DURATION = 43200
DEFAULT_SESSION_NAME = "airflow"
# The default chain's metadata probe: two short attempts within identity.PROBE_SECONDS.
PROBE_POLICY = RetryPolicy(max_attempts=2, initial_backoff=0.1, max_backoff=0.2)
# The TKE pod-identity webhook's variables, read by the SDK's default chain.
TKE_VARIABLES = ("TKE_REGION", "TKE_PROVIDER_ID", "TKE_WEB_IDENTITY_TOKEN_FILE", "TKE_ROLE_ARN")
_INTL_SUFFIX = ".intl.tencentcloudapi.com"


class TencentStsApi(TencentApi):
    """STS as a TC3-signed API, or unsigned (no provider) as the SDK sends ``AssumeRoleWithWebIdentity``:
    the same headers with ``Authorization: SKIP`` and no signature."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # OIDC tokens sent recently: never echoed into an error message, should STS quote one.
        self.sent_tokens: tuple[str, ...] = ()

    def prepare(self, call: TencentCall, now: float) -> HttpRequest:
        """Signed when the API has a key; otherwise the SDK's ``SkipSign`` request."""
        if self.provider is not None:
            return super().prepare(call, now)
        base, host = endpoint_and_host(self.endpoint, service=call.service, region=self.region)
        headers = {
            "Content-Type": "application/json",
            "Host": host,
            "X-TC-Action": call.action,
            "X-TC-Version": call.version,
            "X-TC-Timestamp": str(int(now)),
            "X-TC-Language": "en-US",
            "Authorization": "SKIP",
        }
        if self.region:
            headers["X-TC-Region"] = self.region
        return HttpRequest("POST", base + "/", headers, json_body(call.params))

    def redact(self, text: str) -> str:
        """The signing key's secrets and any OIDC token sent."""
        text = super().redact(text)
        for token in self.sent_tokens:
            text = text.replace(token, "***")
        return text


class TencentMetadataApi(MetadataApi):
    """The CVM instance metadata service."""

    vendor: ClassVar[str] = VENDOR


def _credentials(fields: Mapping[str, Any], body: Mapping[str, Any], what: str, answer: ApiResponse) -> Credentials:
    """The key in ``fields`` expiring at the earlier of ``body``'s ``ExpiredTime`` and ``Expiration``."""
    expired_time = body.get("ExpiredTime")
    if type(expired_time) is not int or not 0 < expired_time < 2**40:
        raise checks.unreadable_credentials(VENDOR, what, "has no 'ExpiredTime' of epoch seconds (an integer)", answer)
    expiration = checks.expiry_from_iso(body.get("Expiration"))
    if expiration is None:
        raise checks.unreadable_credentials(
            VENDOR, what, "has no 'Expiration' timestamp of the documented form", answer
        )
    return checks.checked_credentials(
        fields,
        names=("TmpSecretId", "TmpSecretKey", "Token"),
        expires_at=min(float(expired_time), expiration),
        expiry_field="ExpiredTime",
        now=time.time(),
        vendor=VENDOR,
        what=what,
        answer=answer,
    )


def _sts_credentials(answer: ApiResponse, what: str) -> Credentials:
    fields = answer.body.get("Credentials")
    if not isinstance(fields, Mapping):
        raise checks.unreadable_credentials(VENDOR, what, "has no 'Credentials' object", answer)
    return _credentials(fields, answer.body, what, answer)


@dataclass(frozen=True)
class AssumeRole:
    """STS ``AssumeRole`` signed with ``credentials`` (the connection's stored key)."""

    credentials: Credentials
    role_arn: str
    session_name: str
    duration: int
    region: str
    endpoint: str
    policy: RetryPolicy

    def client(self) -> CloudClient[TencentCall]:
        """The signed STS client (built per source: the stored key may be rotated with the connection)."""
        api = TencentStsApi(StaticCredentials(self.credentials), region=self.region, endpoint=self.endpoint)
        return CloudClient(api, self.policy)

    def call(self) -> TencentCall:
        """The ``AssumeRole`` request, as the SDK's ``STSAssumeRoleCredential`` sends it."""
        params = {"RoleArn": self.role_arn, "RoleSessionName": self.session_name, "DurationSeconds": self.duration}
        return TencentCall("sts", "AssumeRole", STS_VERSION, params)


@dataclass(frozen=True)
class TkeOidc:
    """STS ``AssumeRoleWithWebIdentity``, unsigned, with the OIDC token read from ``token_file`` each time.

    ``missing`` names a TKE variable the default chain found unset: the exchange then fails with it.
    """

    provider_id: str
    role_arn: str
    token_file: str
    session_name: str
    duration: int
    region: str
    endpoint: str
    policy: RetryPolicy
    token_setting: str = "oidc_token_file extra"
    missing: str | None = None


@dataclass(frozen=True)
class CvmRole:
    """The CVM's role credentials from the metadata service; ``role`` None: read the role's name there."""

    role: str | None
    endpoint: str
    policy: RetryPolicy


def _assume_role(spec: AssumeRole) -> Exchange:
    client = spec.client()
    answer: ApiResponse = yield client, spec.call()
    return _sts_credentials(answer, "sts:AssumeRole")


def _oidc(spec: TkeOidc, client: CloudClient[TencentCall]) -> Exchange:
    if spec.missing is not None:
        raise ConfigurationError(
            spec.missing, "is not set (the TKE OIDC source needs all of " + ", ".join(TKE_VARIABLES) + ")"
        )
    token: str = yield TokenFile(spec.token_file, spec.token_setting)
    api = client.api
    if isinstance(api, TencentStsApi):
        api.sent_tokens = (token, *api.sent_tokens[:1])
    params = {
        "ProviderId": spec.provider_id,
        "WebIdentityToken": token,
        "RoleArn": spec.role_arn,
        "RoleSessionName": spec.session_name,
        "DurationSeconds": spec.duration,
    }
    answer: ApiResponse = yield client, TencentCall("sts", "AssumeRoleWithWebIdentity", STS_VERSION, params)
    return _sts_credentials(answer, "sts:AssumeRoleWithWebIdentity")


def _cvm_role(spec: CvmRole, client: CloudClient[MetadataCall]) -> Exchange:
    role = spec.role
    if role is None:
        listing: ApiResponse = yield client, MetadataCall("GET", CVM_ROLE_PATH, "role-name", text=True)
        role = listing.body["text"]
        try:
            check_path_segment("role name", role)
        except ConfigurationError:
            raise checks.unreadable_credentials(
                VENDOR, "metadata:role-name", "answered no role name (a single URL path segment)", listing
            ) from None
    answer: ApiResponse = yield client, MetadataCall("GET", CVM_ROLE_PATH + role, "role-credentials")
    what = "metadata:role-credentials"
    if answer.body.get("Code") != "Success":
        raise checks.unreadable_credentials(VENDOR, what, "answered without 'Code': 'Success'", answer)
    return _credentials(answer.body, answer.body, what, answer)


# --- building the sources (no I/O: called on the event loop) --------------------------------------------------


_ROLE_ARN = re.compile(r"qcs::cam::uin/[0-9]{1,20}:(roleName|role)/[\w+=,.@/-]{1,128}", re.ASCII)


def is_role_arn(value: str) -> bool:
    """A CAM role ARN as STS documents it: ``qcs::cam::uin/<uin>:roleName/<name>`` or ``...:role/<id>``
    (a service role's name has a ``tencentcloudServiceRole/`` prefix)."""
    return bool(_ROLE_ARN.fullmatch(value))


def default_sts_endpoint(service_endpoint: str | None, site: str | None = None) -> str:
    """The international STS endpoint for a connection on the international site, else the default.

    The ``site`` extra (``china`` / ``intl``) decides; unset, a service endpoint on the international domain
    means the international site.
    """
    chosen = check_site(site)
    if chosen is not None:
        return INTL_STS_ENDPOINT if chosen == "intl" else DEFAULT_STS_ENDPOINT
    return INTL_STS_ENDPOINT if service_endpoint and _INTL_SUFFIX in service_endpoint else DEFAULT_STS_ENDPOINT


def checked_sts_endpoint(endpoint: str, region: str) -> str:
    """``endpoint`` when it can work (https, or http to loopback), else an error naming the extra."""
    try:
        resolve_endpoint(endpoint, service="sts", region=region or "region")
    except ConfigurationError as exc:
        raise ConfigurationError("sts_endpoint extra", exc.problem) from None
    return endpoint


def assume_role_source(spec: AssumeRole) -> ExchangeSource:
    """Assume ``spec.role_arn`` with the stored key."""
    return ExchangeSource("STS AssumeRole", lambda: _assume_role(spec))


def oidc_source(spec: TkeOidc) -> ExchangeSource:
    """Exchange the pod's OIDC token for the role's key (one unsigned client per source)."""
    client = CloudClient(TencentStsApi(None, region=spec.region, endpoint=spec.endpoint), spec.policy)
    return ExchangeSource("TKE OIDC AssumeRoleWithWebIdentity", lambda: _oidc(spec, client))


def cvm_role_source(spec: CvmRole) -> ExchangeSource:
    """The CVM role's key from the metadata service."""
    client = CloudClient(TencentMetadataApi(endpoint=spec.endpoint), spec.policy)
    return ExchangeSource("CVM role metadata", lambda: _cvm_role(spec, client))


def environment_credentials() -> Credentials | None:
    """``TENCENTCLOUD_SECRET_ID`` / ``TENCENTCLOUD_SECRET_KEY`` when both are set (the SDK reads no token
    variable, so neither does this)."""
    key_id, secret = env_value("TENCENTCLOUD_SECRET_ID"), env_value("TENCENTCLOUD_SECRET_KEY")
    if key_id is None or secret is None:
        return None
    try:
        return Credentials(key_id, secret)
    except ConfigurationError as exc:
        raise ConfigurationError("TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY", exc.problem) from None


def tke_settings() -> dict[str, str | None]:
    """The TKE variables as set (None: unset or blank)."""
    return {name: env_value(name) for name in TKE_VARIABLES}


def default_chain(
    *, metadata_endpoint: str, sts_endpoint: str, session_name: str, duration: int, policy: RetryPolicy
) -> ChainSource:
    """The SDK's chain past the environment: the CVM role (name read from metadata), then TKE OIDC from the
    ``TKE_*`` variables when any is set. The metadata probe gives up within ``identity.PROBE_SECONDS``."""
    sources: list[CredentialSource] = [ProbeSource(cvm_role_source(CvmRole(None, metadata_endpoint, PROBE_POLICY)))]
    tke = tke_settings()
    if any(tke.values()):
        missing = next((name for name, value in tke.items() if value is None), None)
        sources.append(
            oidc_source(
                TkeOidc(
                    provider_id=tke["TKE_PROVIDER_ID"] or "",
                    role_arn=tke["TKE_ROLE_ARN"] or "",
                    token_file=tke["TKE_WEB_IDENTITY_TOKEN_FILE"] or "",
                    session_name=session_name,
                    duration=duration,
                    region=tke["TKE_REGION"] or "",
                    endpoint=sts_endpoint,
                    policy=policy,
                    token_setting="TKE_WEB_IDENTITY_TOKEN_FILE",
                    missing=missing,
                )
            )
        )
    return ChainSource(sources)
