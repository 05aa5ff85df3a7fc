"""Which source a Tencent Cloud connection's keys come from, chosen from its settings alone.

The choice makes no I/O (it runs on the triggerer's event loop): a role to assume with the stored key, the
CVM's role, the pod's TKE OIDC token, the stored key as it is, and for a connection that stores nothing the
SDK's default chain. Extras that name two sources at once, or a setting that no chosen source reads, are
refused naming the extra: a silently ignored ``role_arn`` would run tasks as the wrong identity.
"""

from __future__ import annotations

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, Identity
from airflow_provider_cloudflows.transport.endpoints import check_metadata_endpoint, check_path_segment, check_region
from airflow_provider_cloudflows.transport.identity import IdentitySettings
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

__all__ = ["identity_from"]

_ROLE_ARN_HELP = "qcs::cam::uin/<account uin>:roleName/<role name> (or :role/<role id>)"


def identity_from(settings: IdentitySettings) -> Credentials | Identity:
    """The stored key, a role it assumes, the CVM role, TKE OIDC, or the SDK's default chain."""
    extra = settings.extra
    role_arn = extra("role_arn")
    instance_role = extra("instance_role")
    token_file = extra("oidc_token_file")
    provider_id = extra("oidc_provider_id")
    stored = settings.stores_key
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
            if extra(name) is not None:
                raise ConfigurationError(f"{name} extra", "applies to role_arn, not to instance_role")
        return _cvm_identity(settings, instance_role)
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
        return _oidc_identity(settings, role_arn, token_file, provider_id)
    if role_arn is not None:
        return _assume_role_identity(settings, settings.stored_credentials(), role_arn)
    for name in ("role_session_name", "duration_seconds"):
        if extra(name) is not None:
            raise ConfigurationError(f"{name} extra", "applies only with role_arn")
    if stored:
        return settings.stored_credentials()
    if settings.token is not None:
        raise ConfigurationError("token extra", "needs login (SecretId) and password (SecretKey)")
    env = environment_credentials()
    if env is not None:
        return env
    return _chain_identity(settings)


def _session(settings: IdentitySettings) -> tuple[str, int]:
    name = settings.extra("role_session_name") or DEFAULT_SESSION_NAME
    if not 2 <= len(name) <= 128 or not all(c.isascii() and (c.isalnum() or c in "_+=,.@-") for c in name):
        raise ConfigurationError("role_session_name extra", "must be 2-128 letters, digits or _+=,.@-")
    raw = settings.extra("duration_seconds")
    if raw is None:
        return name, DEFAULT_DURATION
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_DURATION:
        raise ConfigurationError("duration_seconds extra", f"must be whole seconds from 1 to {MAX_DURATION}")
    return name, int(raw)


def _sts_endpoint(settings: IdentitySettings, region: str) -> str:
    configured = settings.extra("sts_endpoint")
    if configured is None:
        return default_sts_endpoint(settings.extra("endpoint"), settings.extra("site"))
    return checked_sts_endpoint(configured, region)


def _metadata_endpoint(settings: IdentitySettings) -> str:
    configured = settings.extra("metadata_endpoint") or DEFAULT_METADATA_ENDPOINT
    return check_metadata_endpoint(configured, setting="metadata_endpoint extra")


def _assume_role_identity(settings: IdentitySettings, stored: Credentials, role_arn: str) -> Identity:
    region = settings.region()
    session, duration = _session(settings)
    endpoint = _sts_endpoint(settings, region)
    spec = AssumeRole(stored, role_arn, session, duration, region, endpoint, settings.policy())
    key = ("assume-role", settings.conn_id, stored.key_id, stored.secret, stored.token, role_arn, session, duration,
           region, endpoint)  # fmt: skip
    return Identity(assume_role_source(spec), role_arn, key)


def _oidc_identity(settings: IdentitySettings, role_arn: str, token_file: str, provider_id: str) -> Identity:
    region = settings.region()
    session, duration = _session(settings)
    endpoint = _sts_endpoint(settings, region)
    spec = TkeOidc(provider_id, role_arn, token_file, session, duration, region, endpoint, settings.policy())
    key = ("oidc", settings.conn_id, provider_id, role_arn, token_file, session, duration, region, endpoint)
    return Identity(oidc_source(spec), role_arn, key)


def _cvm_identity(settings: IdentitySettings, role: str) -> Identity:
    endpoint = _metadata_endpoint(settings)
    name = None if role == "auto" else role
    if name is not None:
        check_path_segment("instance_role extra", name)
    spec = CvmRole(name, endpoint, settings.policy())
    key = ("cvm-role", settings.conn_id, role, endpoint)
    return Identity(cvm_role_source(spec), f"cvm role {role}", key)


def _chain_identity(settings: IdentitySettings) -> Identity:
    tke = tke_settings()
    if tke["TKE_ROLE_ARN"] is not None:
        _check_role_arn(tke["TKE_ROLE_ARN"], "TKE_ROLE_ARN")
    if tke["TKE_REGION"] is not None:
        check_region(tke["TKE_REGION"], source="TKE_REGION")
    session, duration = _session(settings)
    sts = _sts_endpoint(settings, tke["TKE_REGION"] or "")
    metadata = _metadata_endpoint(settings)
    chain = default_chain(
        metadata_endpoint=metadata, sts_endpoint=sts, session_name=session, duration=duration, policy=settings.policy()
    )
    key = ("default-chain", settings.conn_id, metadata, sts, session, duration, *tke.values())
    account = "default chain: cvm role auto" + (f", then {tke['TKE_ROLE_ARN']}" if tke["TKE_ROLE_ARN"] else "")
    return Identity(chain, account, key)


def _check_role_arn(value: str, setting: str) -> None:
    if not is_role_arn(value):
        raise ConfigurationError(setting, f"must look like {_ROLE_ARN_HELP}")
