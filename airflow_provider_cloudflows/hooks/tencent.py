"""Tencent Cloud connections (``tencentcloud``).

Where the key comes from is decided from the extras alone, without I/O (this runs on the triggerer's event
loop): a role to assume with the stored key, the CVM's role, the pod's TKE OIDC token, the stored key as
it is, and for a connection that stores nothing the SDK's default chain. Extras that name two sources at
once, or a setting that no chosen source reads, are refused naming the extra: a silently ignored
``role_arn`` would run tasks as the wrong identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.compat import legacy_connection_form
from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials
from airflow_provider_cloudflows.hooks.base import CloudHook, Identity, extra_value
from airflow_provider_cloudflows.transport.endpoints import check_metadata_endpoint, check_path_segment, check_region
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from airflow_provider_cloudflows.transport.tencent import DEFAULT_ENDPOINT, TencentApi, TencentCall
from airflow_provider_cloudflows.transport.tencent_identity import (
    DEFAULT_DURATION,
    DEFAULT_METADATA_ENDPOINT,
    DEFAULT_SESSION_NAME,
    MAX_DURATION,
    AssumeRole,
    CvmRole,
    TkeOidc,
    assume_role_source,
    checked_sts_endpoint,
    cvm_role_source,
    default_chain,
    default_sts_endpoint,
    environment_credentials,
    is_role_arn,
    oidc_source,
    tke_settings,
)

_ROLE_ARN_HELP = "qcs::cam::uin/<account uin>:roleName/<role name> (or :role/<role id>)"


@legacy_connection_form
class TencentCloudHook(CloudHook):
    """Tencent Cloud API 3.0 access: login = SecretId, password = SecretKey.

    Extras: ``region`` (default region), ``token`` (temporary credentials), ``endpoint`` (base URL with
    optional ``{service}`` / ``{region}``; default ``https://{service}.tencentcloudapi.com``); the identity
    extras ``role_arn``, ``role_session_name``, ``duration_seconds``, ``instance_role``, ``oidc_token_file``,
    ``oidc_provider_id``, ``sts_endpoint`` and ``metadata_endpoint`` (see docs/credentials-tencent.md).
    """

    conn_name_attr = "tencentcloud_conn_id"
    default_conn_name = "tencentcloud_default"
    conn_type = "tencentcloud"
    hook_name = "Tencent Cloud"
    vendor_label = "Tencent Cloud"

    def token_from(self, extra: Mapping[str, Any]) -> str | None:
        """The ``token`` extra."""
        return extra_value(extra, self.conn_type, "token")

    def build_api(self, credentials: CredentialProvider, extra: Mapping[str, Any]) -> TencentApi:
        """TC3 signing against the connection's endpoint template."""
        endpoint = extra_value(extra, self.conn_type, "endpoint") or DEFAULT_ENDPOINT
        return TencentApi(credentials, region=self.resolved_region(extra), endpoint=endpoint)

    def probe_call(self) -> TencentCall:
        """DescribeFlow of task flow 0, which does not exist: a signed read with no side effect."""
        return TencentCall("cynosdb", "DescribeFlow", "2019-01-07", {"FlowId": 0})

    def identity(self, conn: Any, extra: Mapping[str, Any]) -> Credentials | Identity:
        """The stored key, a role it assumes, the CVM role, TKE OIDC, or the SDK's default chain."""
        role_arn = self.extra(extra, "role_arn")
        instance_role = self.extra(extra, "instance_role")
        token_file = self.extra(extra, "oidc_token_file")
        provider_id = self.extra(extra, "oidc_provider_id")
        stored = bool(conn.login or conn.password)
        if role_arn is not None:
            _check_role_arn(role_arn, "role_arn extra")
        if instance_role is not None:
            for name, value in (
                ("role_arn", role_arn),
                ("oidc_token_file", token_file),
                ("oidc_provider_id", provider_id),
            ):
                if value is not None:
                    raise ConfigurationError("instance_role extra", f"cannot be combined with {name} (two sources)")
            if stored:
                raise ConfigurationError(
                    "instance_role extra",
                    "the CVM role replaces the stored SecretId/SecretKey: clear login and password",
                )
            for name in ("role_session_name", "duration_seconds"):
                if self.extra(extra, name) is not None:
                    raise ConfigurationError(f"{name} extra", "applies to role_arn, not to instance_role")
            return self._cvm_identity(instance_role, extra)
        if token_file is not None or provider_id is not None:
            if token_file is None:
                raise ConfigurationError("oidc_provider_id extra", "needs oidc_token_file (the pod's OIDC token)")
            if provider_id is None:
                raise ConfigurationError("oidc_token_file extra", "needs oidc_provider_id (the TKE identity provider)")
            if role_arn is None:
                raise ConfigurationError("oidc_token_file extra", f"needs role_arn ({_ROLE_ARN_HELP})")
            if stored:
                raise ConfigurationError(
                    "oidc_token_file extra",
                    "the OIDC token replaces the stored SecretId/SecretKey: clear login and password",
                )
            return self._oidc_identity(role_arn, token_file, provider_id, extra)
        if role_arn is not None:
            return self._assume_role_identity(self.stored_credentials(conn, extra), role_arn, extra)
        for name in ("role_session_name", "duration_seconds"):
            if self.extra(extra, name) is not None:
                raise ConfigurationError(f"{name} extra", "applies only with role_arn")
        if stored:
            return self.stored_credentials(conn, extra)
        if self.token_from(extra) is not None:
            raise ConfigurationError("token extra", "needs login (SecretId) and password (SecretKey)")
        env = environment_credentials()
        if env is not None:
            return env
        return self._chain_identity(extra)

    # --- the sources ---------------------------------------------------------------------------------------

    def _session(self, extra: Mapping[str, Any]) -> tuple[str, int]:
        name = self.extra(extra, "role_session_name") or DEFAULT_SESSION_NAME
        if not 2 <= len(name) <= 128 or not all(c.isascii() and (c.isalnum() or c in "_+=,.@-") for c in name):
            raise ConfigurationError("role_session_name extra", "must be 2-128 letters, digits or _+=,.@-")
        raw = self.extra(extra, "duration_seconds")
        if raw is None:
            return name, DEFAULT_DURATION
        if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_DURATION:
            raise ConfigurationError("duration_seconds extra", f"must be whole seconds from 1 to {MAX_DURATION}")
        return name, int(raw)

    def _sts_endpoint(self, extra: Mapping[str, Any], region: str) -> str:
        configured = self.extra(extra, "sts_endpoint")
        if configured is None:
            return default_sts_endpoint(extra_value(extra, self.conn_type, "endpoint"))
        return checked_sts_endpoint(configured, region)

    def _metadata_endpoint(self, extra: Mapping[str, Any]) -> str:
        configured = self.extra(extra, "metadata_endpoint") or DEFAULT_METADATA_ENDPOINT
        return check_metadata_endpoint(configured, setting="metadata_endpoint extra")

    def _assume_role_identity(self, stored: Credentials, role_arn: str, extra: Mapping[str, Any]) -> Identity:
        region = self.resolved_region(extra)
        session, duration = self._session(extra)
        endpoint = self._sts_endpoint(extra, region)
        spec = AssumeRole(stored, role_arn, session, duration, region, endpoint, self._source_policy(extra))
        key = ("assume-role", self.conn_id, stored.key_id, stored.secret, stored.token, role_arn, session, duration,
               region, endpoint)  # fmt: skip
        return Identity(assume_role_source(spec), role_arn, key)

    def _oidc_identity(self, role_arn: str, token_file: str, provider_id: str, extra: Mapping[str, Any]) -> Identity:
        region = self.resolved_region(extra)
        session, duration = self._session(extra)
        endpoint = self._sts_endpoint(extra, region)
        spec = TkeOidc(
            provider_id, role_arn, token_file, session, duration, region, endpoint, self._source_policy(extra)
        )
        key = ("oidc", self.conn_id, provider_id, role_arn, token_file, session, duration, region, endpoint)
        return Identity(oidc_source(spec), role_arn, key)

    def _cvm_identity(self, role: str, extra: Mapping[str, Any]) -> Identity:
        endpoint = self._metadata_endpoint(extra)
        name = None if role == "auto" else role
        if name is not None:
            check_path_segment("instance_role extra", name)
        spec = CvmRole(name, endpoint, self._source_policy(extra))
        key = ("cvm-role", self.conn_id, role, endpoint)
        return Identity(cvm_role_source(spec), f"cvm role {role}", key)

    def _chain_identity(self, extra: Mapping[str, Any]) -> Identity:
        tke = tke_settings()
        if tke["TKE_ROLE_ARN"] is not None:
            _check_role_arn(tke["TKE_ROLE_ARN"], "TKE_ROLE_ARN")
        if tke["TKE_REGION"] is not None:
            check_region(tke["TKE_REGION"], source="TKE_REGION")
        session, duration = self._session(extra)
        sts = self._sts_endpoint(extra, tke["TKE_REGION"] or "")
        metadata = self._metadata_endpoint(extra)
        chain = default_chain(
            metadata_endpoint=metadata,
            sts_endpoint=sts,
            session_name=session,
            duration=duration,
            policy=self._source_policy(extra),
        )
        key = ("default-chain", self.conn_id, metadata, sts, session, duration, *tke.values())
        account = "default chain: cvm role auto" + (f", then {tke['TKE_ROLE_ARN']}" if tke["TKE_ROLE_ARN"] else "")
        return Identity(chain, account, key)

    def _source_policy(self, extra: Mapping[str, Any]) -> RetryPolicy:
        # Creating a temporary key has no side effect: the connection's retry discipline applies to it too.
        return self.retry_policy or self._policy_from(extra)


def _check_role_arn(value: str, setting: str) -> None:
    if not is_role_arn(value):
        raise ConfigurationError(setting, f"must look like {_ROLE_ARN_HELP}")
