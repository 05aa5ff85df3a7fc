"""Alibaba Cloud connections (``alibabacloud``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.compat import legacy_connection_form
from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials
from airflow_provider_cloudflows.errors import ConfigurationError
from airflow_provider_cloudflows.hooks.base import CloudHook, Identity, extra_value
from airflow_provider_cloudflows.transport.alibaba import DEFAULT_ENDPOINT, AlibabaApi, AlibabaCall
from airflow_provider_cloudflows.transport.alibaba_identity import (
    AUTO_ROLE,
    DEFAULT_METADATA_ENDPOINT,
    DEFAULT_SESSION_NAME,
    DEFAULT_STS_ENDPOINT,
    ROLE_NAME,
    assume_role_source,
    checked_duration,
    checked_role_arn,
    checked_session_name,
    default_chain,
    ecs_ram_role_source,
    env_credentials,
    oidc_source,
)
from airflow_provider_cloudflows.transport.endpoints import check_metadata_endpoint, resolve_endpoint

# Extras that only make sense with ``role_arn`` (AssumeRole) or the OIDC exchange.
_ROLE_OPTIONS = ("role_session_name", "duration_seconds")


@legacy_connection_form
class AlibabaCloudHook(CloudHook):
    """Alibaba Cloud access: login = AccessKeyId, password = AccessKeySecret.

    Extras: ``region``, ``security_token`` (STS), ``endpoint`` (may contain ``{region}``; default
    ``https://{region}.fnf.aliyuncs.com``) and ``signature_version`` (``v2``, the default, or ``v3``).

    Temporary identities (see docs/credentials-alibaba.md): ``role_arn`` (+ ``role_session_name``,
    ``duration_seconds``, ``external_id``) assumes a RAM role with the stored key; ``ecs_ram_role`` (a role name
    or ``auto``; ``disable_imds_v1``) uses the ECS instance's role; ``oidc_token_file`` +
    ``oidc_provider_arn`` + ``role_arn`` use an ACK pod's RRSA token; with nothing stored, the SDK's default
    chain (environment key, OIDC variables, ECS RAM role). ``sts_endpoint`` and ``metadata_endpoint``
    override the services' addresses.
    """

    conn_name_attr = "alibabacloud_conn_id"
    default_conn_name = "alibabacloud_default"
    conn_type = "alibabacloud"
    hook_name = "Alibaba Cloud"
    vendor_label = "Alibaba Cloud"

    def token_from(self, extra: Mapping[str, Any]) -> str | None:
        """The ``security_token`` extra."""
        return extra_value(extra, self.conn_type, "security_token")

    def identity(self, conn: Any, extra: Mapping[str, Any]) -> Credentials | Identity:
        """The stored key, a RAM role assumed with it, the ECS RAM role, the pod's OIDC token, or (nothing
        stored) the SDK's default chain. Reads extras and the environment only: no I/O."""
        role_arn = self.extra(extra, "role_arn")
        ecs_role = self.extra(extra, "ecs_ram_role")
        token_file = self.extra(extra, "oidc_token_file")
        provider_arn = self.extra(extra, "oidc_provider_arn")
        stored = bool(conn.login or conn.password)
        if ecs_role is not None:
            return self._ecs_identity(ecs_role, stored, extra)
        if token_file is not None or provider_arn is not None:
            return self._oidc_identity(token_file, provider_arn, role_arn, stored, extra)
        if role_arn is not None:
            return self._role_identity(conn, role_arn, extra)
        self._refuse_unused(extra, (*_ROLE_OPTIONS, "external_id"), "needs role_arn")
        if stored:
            return self.stored_credentials(conn, extra)
        return self._default_identity(extra)

    def _refuse_unused(self, extra: Mapping[str, Any], names: tuple[str, ...], why: str) -> None:
        for name in names:
            if self.extra(extra, name) is not None:
                raise ConfigurationError(f"{name} extra", why)

    def _sts(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        endpoint = self.extra(extra, "sts_endpoint") or DEFAULT_STS_ENDPOINT
        region = self.resolved_region(extra)
        try:
            resolve_endpoint(endpoint, service="sts", region=region)
        except ConfigurationError as exc:
            raise ConfigurationError("sts_endpoint extra", exc.problem) from None
        return {"region": region, "endpoint": endpoint, "policy": self.retry_policy or self._policy_from(extra)}

    def _session(self, extra: Mapping[str, Any]) -> tuple[str, int]:
        session = self.extra(extra, "role_session_name") or DEFAULT_SESSION_NAME
        duration = self.extra(extra, "duration_seconds")
        return (
            checked_session_name(session, "role_session_name extra"),
            checked_duration(duration, "duration_seconds extra"),
        )

    def _imds_v1_allowed(self, extra: Mapping[str, Any]) -> bool:
        value = self.extra(extra, "disable_imds_v1")
        setting = "disable_imds_v1 extra"
        if value is None:
            value, setting = os.environ.get("ALIBABA_CLOUD_IMDSV1_DISABLED", "false"), "ALIBABA_CLOUD_IMDSV1_DISABLED"
        if value.strip().lower() not in ("true", "false"):
            raise ConfigurationError(setting, "must be true or false")
        return value.strip().lower() != "true"

    def _metadata_endpoint(self, extra: Mapping[str, Any]) -> str:
        endpoint = self.extra(extra, "metadata_endpoint") or DEFAULT_METADATA_ENDPOINT
        return check_metadata_endpoint(endpoint, setting="metadata_endpoint extra")

    def _role_identity(self, conn: Any, role_arn: str, extra: Mapping[str, Any]) -> Identity:
        self._refuse_unused(extra, ("disable_imds_v1",), "applies to ecs_ram_role, not to role_arn")
        if not (conn.login and conn.password):
            raise ConfigurationError(
                f"connection {self.conn_id!r}",
                "role_arn needs login and password (the AccessKey that assumes the role), or oidc_token_file "
                "and oidc_provider_arn",
            )
        stored = self.stored_credentials(conn, extra)
        role_arn = checked_role_arn(role_arn, "role_arn extra")
        session, duration = self._session(extra)
        external_id = self.extra(extra, "external_id")
        sts = self._sts(extra)
        source = assume_role_source(
            stored, role_arn=role_arn, session_name=session, duration=duration, external_id=external_id, **sts
        )
        inputs = (stored.key_id, stored.secret, stored.token, session, duration, external_id, *sts.values())
        return Identity(source, role_arn, (self.conn_id, "assume_role", role_arn, *inputs))

    def _oidc_identity(
        self,
        token_file: str | None,
        provider_arn: str | None,
        role_arn: str | None,
        stored: bool,
        extra: Mapping[str, Any],
    ) -> Identity:
        needed = {"oidc_token_file": token_file, "oidc_provider_arn": provider_arn, "role_arn": role_arn}
        if token_file is None or provider_arn is None or role_arn is None:
            missing = next(name for name, value in needed.items() if value is None)
            raise ConfigurationError(
                f"{missing} extra", "is missing: the OIDC exchange needs oidc_token_file, oidc_provider_arn, role_arn"
            )
        if stored:
            raise ConfigurationError(
                "oidc_token_file extra", "the OIDC exchange is anonymous: remove login and password, or the OIDC extras"
            )
        self._refuse_unused(extra, ("external_id",), "AssumeRoleWithOIDC takes no external ID")
        self._refuse_unused(extra, ("security_token", "disable_imds_v1"), "does not apply to oidc_token_file")
        role_arn = checked_role_arn(role_arn, "role_arn extra")
        session, duration = self._session(extra)
        sts = self._sts(extra)
        source = oidc_source(
            token_file=token_file,
            token_setting="oidc_token_file extra",
            provider_arn=provider_arn,
            role_arn=role_arn,
            session_name=session,
            duration=duration,
            **sts,
        )
        key = (self.conn_id, "oidc", role_arn, token_file, provider_arn, session, duration, *sts.values())
        return Identity(source, role_arn, key)

    def _ecs_identity(self, role: str, stored: bool, extra: Mapping[str, Any]) -> Identity:
        for name in ("role_arn", "oidc_token_file", "oidc_provider_arn", "external_id", *_ROLE_OPTIONS):
            if self.extra(extra, name) is not None:
                raise ConfigurationError(f"{name} extra", "contradicts ecs_ram_role: keep one source of credentials")
        if stored or self.extra(extra, "security_token") is not None:
            raise ConfigurationError(
                "ecs_ram_role extra", "the instance's role replaces a stored key: remove login, password and token"
            )
        if role != AUTO_ROLE and not ROLE_NAME.fullmatch(role):
            raise ConfigurationError("ecs_ram_role extra", "must be a RAM role name (letters, digits, . - _) or auto")
        endpoint = self._metadata_endpoint(extra)
        v1 = self._imds_v1_allowed(extra)
        source = ecs_ram_role_source(role, endpoint=endpoint, imds_v1_allowed=v1)
        return Identity(source, f"ecs role {role}", (self.conn_id, "ecs_ram_role", role, endpoint, v1))

    def _default_identity(self, extra: Mapping[str, Any]) -> Credentials | Identity:
        self._refuse_unused(extra, ("security_token",), "needs login and password")
        env = env_credentials()
        if env is not None:
            return env
        sts = self._sts(extra)
        chain = default_chain(
            region=sts["region"],
            sts_endpoint=sts["endpoint"],
            metadata_endpoint=self._metadata_endpoint(extra),
            imds_v1_allowed=self._imds_v1_allowed(extra),
            policy=sts["policy"],
        )
        if chain is None:
            raise ConfigurationError(
                f"connection {self.conn_id!r}",
                "stores no key and names no role; the environment has no ALIBABA_CLOUD_ACCESS_KEY_ID, no OIDC "
                "variables, and ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
            )
        source, account, inputs = chain
        return Identity(source, account, (self.conn_id, "default", inputs, *sts.values()))

    def build_api(self, credentials: CredentialProvider, extra: Mapping[str, Any]) -> AlibabaApi:
        """RPC v2 by default, like the official fnf SDK; v3 on request."""
        return AlibabaApi(
            credentials,
            region=self.resolved_region(extra),
            endpoint=extra_value(extra, self.conn_type, "endpoint") or DEFAULT_ENDPOINT,
            signature_version=(extra_value(extra, self.conn_type, "signature_version") or "v2").lower(),
        )

    def probe_call(self) -> AlibabaCall:
        """DescribeExecution of a flow that does not exist: a signed read with no side effect."""
        return AlibabaCall(
            "DescribeExecution",
            "2019-03-15",
            {"FlowName": "airflow_connection_test", "ExecutionName": "probe", "WaitTimeSeconds": "0"},
        )
