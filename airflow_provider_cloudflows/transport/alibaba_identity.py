"""Alibaba Cloud temporary identities: a RAM role (STS ``AssumeRole``), the ECS instance's RAM role (metadata,
IMDSv2 first) and an ACK pod's RRSA token (STS ``AssumeRoleWithOIDC``), and the SDK's default chain.

Each request is sent as the official ``alibabacloud_credentials`` sends it (an RPC v2 signed GET for
``AssumeRole``, an unsigned GET for ``AssumeRoleWithOIDC``, a metadata token before the metadata read), so
that it passes whatever STS and the metadata service check for the SDK; and each goes through the client of
the service APIs, so that its answer is read as strictly as a status answer and an outage is retried the
same way. The OIDC token travels in the query, as the SDK sends it: it is never part of a call object, the
query is scrubbed from transport errors and the token from STS's messages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, CredentialSource
from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.signing.acs import acs_timestamp
from airflow_provider_cloudflows.transport import credential_checks as checks
from airflow_provider_cloudflows.transport.alibaba import VENDOR, AlibabaApi, AlibabaCall
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.endpoints import endpoint_and_host
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
from airflow_provider_cloudflows.transport.vendor_api import VendorApi

__all__ = [
    "DEFAULT_METADATA_ENDPOINT",
    "DEFAULT_STS_ENDPOINT",
    "AlibabaMetadataApi",
    "OidcStsApi",
    "StsApi",
    "assume_role_source",
    "default_chain",
    "ecs_ram_role_source",
    "env_credentials",
    "oidc_source",
]

STS_VERSION = "2015-04-01"
# The SDK's default: the global endpoint. ``sts.<region>.aliyuncs.com`` and ``sts-vpc.<region>.aliyuncs.com``
# are set through ``sts_endpoint`` (which may contain ``{region}``).
DEFAULT_STS_ENDPOINT = "https://sts.aliyuncs.com"
DEFAULT_METADATA_ENDPOINT = "http://100.100.100.200"
DEFAULT_SESSION_NAME = "airflow"
DEFAULT_DURATION = 3600
MIN_DURATION = 900
# A role's maximum session duration can be raised to 12 hours; STS refuses more than the role allows.
MAX_DURATION = 43200
METADATA_TOKEN_PATH = "/latest/api/token"
METADATA_TOKEN_TTL_HEADER = "X-aliyun-ecs-metadata-token-ttl-seconds"
METADATA_TOKEN_HEADER = "X-aliyun-ecs-metadata-token"
METADATA_TOKEN_TTL = 21600
CREDENTIALS_PATH = "/latest/meta-data/ram/security-credentials/"
AUTO_ROLE = "auto"
# The default chain's metadata probe: within identity.PROBE_SECONDS, nothing tried twice.
PROBE_POLICY = RetryPolicy(max_attempts=1, initial_backoff=0.1)
# The metadata service is on the instance: a failure is retried, but briefly.
METADATA_POLICY = RetryPolicy(max_attempts=3, initial_backoff=0.2, max_backoff=1.0)

ROLE_ARN = re.compile(r"acs:ram::[0-9]+:role/[A-Za-z0-9._-]{1,64}")
OIDC_PROVIDER_ARN = re.compile(r"acs:ram::[0-9]+:oidc-provider/[A-Za-z0-9._-]{1,128}")
ROLE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
SESSION_NAME = re.compile(r"[A-Za-z0-9.@_-]{2,64}")
# STS and the metadata service write expiries to the second, as the SDK parses them (%Y-%m-%dT%H:%M:%SZ).
EXPIRATION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def _expiry(value: Any) -> float | None:
    return checks.expiry_from_iso(value) if isinstance(value, str) and EXPIRATION.fullmatch(value) else None


def answer_credentials(fields: Any, *, what: str, answer: ApiResponse) -> Credentials:
    """The key of an STS ``Credentials`` block or a metadata answer: ``AccessKeyId``, ``AccessKeySecret``,
    ``SecurityToken`` printable strings, ``Expiration`` a second-precise UTC time in the future."""
    if not isinstance(fields, Mapping):
        raise checks.unreadable_credentials(VENDOR, what, "has no 'Credentials' object", answer)
    return checks.checked_credentials(
        fields,
        names=("AccessKeyId", "AccessKeySecret", "SecurityToken"),
        expires_at=_expiry(fields.get("Expiration")),
        expiry_field="Expiration",
        now=time.time(),
        vendor=VENDOR,
        what=what,
        answer=answer,
    )


def checked_duration(value: str | None, setting: str = "duration_seconds") -> int:
    """Seconds of a session: a whole number from 900 (STS's minimum) to 43200; default 3600."""
    if value is None:
        return DEFAULT_DURATION
    text = str(value).strip()
    if not text.isdigit() or not MIN_DURATION <= int(text) <= MAX_DURATION:
        raise ConfigurationError(setting, f"must be whole seconds from {MIN_DURATION} to {MAX_DURATION}")
    return int(text)


def checked_role_arn(value: str, setting: str = "role_arn") -> str:
    """A RAM role ARN, ``acs:ram::<account id>:role/<name>``."""
    if not ROLE_ARN.fullmatch(value):
        raise ConfigurationError(setting, f"{value[:120]!r} is not a RAM role ARN (acs:ram::<account id>:role/<name>)")
    return value


def checked_session_name(value: str, setting: str = "role_session_name") -> str:
    """2 to 64 letters, digits and ``. @ - _``, as STS accepts."""
    if not SESSION_NAME.fullmatch(value):
        raise ConfigurationError(setting, "must be 2 to 64 letters, digits or . @ - _")
    return value


# --- STS ----------------------------------------------------------------------------------------------------


class StsApi(AlibabaApi):
    """STS's RPC API, RPC v2 signed (HMAC-SHA1) with the stored key, as the SDK signs ``AssumeRole``."""

    def __init__(self, credentials: Credentials, *, region: str, endpoint: str) -> None:
        super().__init__(credentials, region=region, endpoint=endpoint, signature_version="v2")

    def describe(self, call: AlibabaCall) -> str:
        """E.g. ``sts:AssumeRole``."""
        return f"sts:{call.action}"


class OidcStsApi(AlibabaApi):
    """STS's anonymous ``AssumeRoleWithOIDC``: a GET whose query holds the OIDC token, no signature.

    One instance per exchange, holding that exchange's token (read from the file at every refresh).
    """

    def __init__(self, *, region: str, endpoint: str, token: str) -> None:
        VendorApi.__init__(self, None, region=region, endpoint=endpoint)
        self.signature_version = "v2"
        self._token = token

    def prepare(self, call: AlibabaCall, now: float) -> HttpRequest:
        """The SDK's query: the action's parameters, the token, a timestamp; nothing signed."""
        base, _ = endpoint_and_host(self.endpoint, region=self.region)
        query = {
            "Action": call.action,
            "Format": "JSON",
            "Version": call.version,
            "Timestamp": acs_timestamp(datetime.fromtimestamp(now, tz=timezone.utc)),
            **call.params,
            "OIDCToken": self._token,
        }
        return HttpRequest("GET", f"{base}/?{urlencode(query)}", {"accept": "application/json"})

    def redact(self, text: str) -> str:
        """STS's messages never repeat the token it was sent."""
        for form in (self._token, quote(self._token, safe=""), quote_plus(self._token)):
            text = text.replace(form, "***")
        return text

    def describe(self, call: AlibabaCall) -> str:
        """``sts:AssumeRoleWithOIDC``."""
        return f"sts:{call.action}"


def assume_role_source(
    stored: Credentials,
    *,
    role_arn: str,
    session_name: str = DEFAULT_SESSION_NAME,
    duration: int = DEFAULT_DURATION,
    external_id: str | None = None,
    region: str,
    endpoint: str = DEFAULT_STS_ENDPOINT,
    policy: RetryPolicy | None = None,
) -> ExchangeSource:
    """The role ``role_arn`` assumed with the stored key (and its security token, if any)."""
    params = {"RoleArn": role_arn, "RoleSessionName": session_name, "DurationSeconds": str(duration)}
    if external_id:
        params["ExternalId"] = external_id
    call = AlibabaCall("AssumeRole", STS_VERSION, params)
    client = CloudClient(StsApi(stored, region=region, endpoint=endpoint), policy)

    def exchange() -> Exchange:
        answer = yield client, call
        return answer_credentials(answer.body.get("Credentials"), what="sts:AssumeRole", answer=answer)

    return ExchangeSource("assume role (STS AssumeRole)", exchange)


def oidc_source(
    *,
    token_file: str,
    token_setting: str,
    provider_arn: str,
    role_arn: str,
    session_name: str = DEFAULT_SESSION_NAME,
    duration: int = DEFAULT_DURATION,
    region: str,
    endpoint: str = DEFAULT_STS_ENDPOINT,
    policy: RetryPolicy | None = None,
) -> ExchangeSource:
    """The role ``role_arn`` assumed with the pod's OIDC token (ACK RRSA), read anew at every refresh."""
    call = AlibabaCall(
        "AssumeRoleWithOIDC",
        STS_VERSION,
        {
            "DurationSeconds": str(duration),
            "RoleArn": role_arn,
            "OIDCProviderArn": provider_arn,
            "RoleSessionName": session_name,
        },
    )

    def exchange() -> Exchange:
        token = yield TokenFile(token_file, token_setting)
        client = CloudClient(OidcStsApi(region=region, endpoint=endpoint, token=token), policy)
        answer = yield client, call
        return answer_credentials(answer.body.get("Credentials"), what="sts:AssumeRoleWithOIDC", answer=answer)

    return ExchangeSource("OIDC token (STS AssumeRoleWithOIDC)", exchange)


# --- ECS metadata -------------------------------------------------------------------------------------------


class AlibabaMetadataApi(MetadataApi):
    """The ECS instance metadata service (``100.100.100.200``)."""

    vendor = VENDOR


def ecs_ram_role_source(
    role: str,
    *,
    endpoint: str = DEFAULT_METADATA_ENDPOINT,
    imds_v1_allowed: bool = True,
    probe: bool = False,
) -> CredentialSource:
    """The instance's RAM role ``role`` (``auto``: the one the metadata service names).

    As the SDK: a metadata token first (IMDSv2); when the service gives none, the same reads without a token
    (IMDSv1) unless v1 is disabled. The role is read anew at every refresh in ``auto`` mode. As a ``probe``
    (in the default chain), each fetch is bounded by ``identity.PROBE_SECONDS`` and tried once until one has
    succeeded.
    """
    api = AlibabaMetadataApi(endpoint=endpoint)
    token_call = MetadataCall(
        "PUT", METADATA_TOKEN_PATH, "api-token", {METADATA_TOKEN_TTL_HEADER: str(METADATA_TOKEN_TTL)}, text=True
    )

    def exchange(policy: RetryPolicy) -> Exchange:
        client = CloudClient(api, policy)
        headers: dict[str, str] = {}
        try:
            answer = yield client, token_call
            headers[METADATA_TOKEN_HEADER] = answer.body["text"]
        except CloudApiError:
            if not imds_v1_allowed:
                raise
        name = role
        if role == AUTO_ROLE:
            answer = yield client, MetadataCall("GET", CREDENTIALS_PATH, "ram-role-name", headers, text=True)
            name = answer.body["text"]
            if not ROLE_NAME.fullmatch(name):
                raise checks.unreadable_credentials(
                    VENDOR, "metadata:ram-role-name", "answered no RAM role name", answer
                )
        answer = yield client, MetadataCall("GET", CREDENTIALS_PATH + name, "security-credentials", headers)
        if answer.body.get("Code") != "Success":
            raise checks.unreadable_credentials(
                VENDOR, "metadata:security-credentials", "answered no 'Code': 'Success'", answer
            )
        return answer_credentials(answer.body, what="metadata:security-credentials", answer=answer)

    label = "ECS RAM role (instance metadata)"
    if not probe:
        return ExchangeSource(label, lambda: exchange(METADATA_POLICY))
    bounded = ProbeSource(ExchangeSource(label, lambda: exchange(METADATA_POLICY if bounded.proven else PROBE_POLICY)))
    return bounded


# --- nothing stored: the SDK's default chain ----------------------------------------------------------------


def env_credentials() -> Credentials | None:
    """``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET`` (/ ``ALIBABA_CLOUD_SECURITY_TOKEN``), or None when unset."""
    key_id = env_value("ALIBABA_CLOUD_ACCESS_KEY_ID")
    secret = env_value("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if key_id is None and secret is None:
        return None
    if key_id is None or secret is None:
        missing = "ALIBABA_CLOUD_ACCESS_KEY_ID" if key_id is None else "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        raise ConfigurationError(f"environment variable {missing}", "is unset while its pair is set")
    return Credentials(key_id, secret, env_value("ALIBABA_CLOUD_SECURITY_TOKEN"))


def default_chain(
    *,
    region: str,
    sts_endpoint: str = DEFAULT_STS_ENDPOINT,
    metadata_endpoint: str = DEFAULT_METADATA_ENDPOINT,
    imds_v1_allowed: bool = True,
    policy: RetryPolicy | None = None,
) -> tuple[CredentialSource, str, tuple[Any, ...]] | None:
    """After the environment's key: the OIDC variables when set, then the ECS RAM role unless
    ``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`` (the SDK's order; its profile, credentials file and
    credentials URI are not read). The source, the account it acts as and its inputs; None when neither
    applies."""
    sources: list[CredentialSource] = []
    accounts: list[str] = []
    inputs: list[Any] = []
    token_file = env_value("ALIBABA_CLOUD_OIDC_TOKEN_FILE")
    provider_arn = env_value("ALIBABA_CLOUD_OIDC_PROVIDER_ARN")
    role_arn = env_value("ALIBABA_CLOUD_ROLE_ARN")
    if token_file and provider_arn and role_arn:
        session = checked_session_name(
            env_value("ALIBABA_CLOUD_ROLE_SESSION_NAME") or DEFAULT_SESSION_NAME,
            "environment variable ALIBABA_CLOUD_ROLE_SESSION_NAME",
        )
        checked_role_arn(role_arn, "environment variable ALIBABA_CLOUD_ROLE_ARN")
        sources.append(
            oidc_source(
                token_file=token_file,
                token_setting="environment variable ALIBABA_CLOUD_OIDC_TOKEN_FILE",
                provider_arn=provider_arn,
                role_arn=role_arn,
                session_name=session,
                region=region,
                endpoint=sts_endpoint,
                policy=policy,
            )
        )
        accounts.append(role_arn)
        inputs.append(("oidc", token_file, provider_arn, role_arn, session))
    if (env_value("ALIBABA_CLOUD_ECS_METADATA_DISABLED") or "").lower() != "true":
        role = env_value("ALIBABA_CLOUD_ECS_METADATA") or AUTO_ROLE
        if role != AUTO_ROLE and not ROLE_NAME.fullmatch(role):
            raise ConfigurationError("environment variable ALIBABA_CLOUD_ECS_METADATA", "is not a RAM role name")
        sources.append(
            ecs_ram_role_source(role, endpoint=metadata_endpoint, imds_v1_allowed=imds_v1_allowed, probe=True)
        )
        accounts.append(f"ecs role {role}")
        inputs.append(("ecs", role, imds_v1_allowed))
    if not sources:
        return None
    return ChainSource(sources), " or ".join(accounts), tuple(inputs)
