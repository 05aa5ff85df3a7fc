"""Which source an Alibaba Cloud connection's keys come from, chosen from its settings and the environment.

The choice makes no I/O (it runs on the triggerer's event loop): the stored key, a RAM role assumed with
it, the ECS RAM role, the pod's OIDC token, or (nothing stored) the SDK's default chain. A setting that
names a second source, or that the chosen source would not read, is refused naming it: an ignored
``role_arn`` would run tasks as the wrong identity.
"""

from __future__ import annotations

import os
from typing import Any

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, Identity
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
from airflow_provider_cloudflows.transport.identity import IdentitySettings

__all__ = ["identity_from"]

# Extras that only make sense with ``role_arn`` (AssumeRole) or the OIDC exchange.
_ROLE_OPTIONS = ("role_session_name", "duration_seconds")


def identity_from(settings: IdentitySettings) -> Credentials | Identity:
    """The stored key, a RAM role assumed with it, the ECS RAM role, the pod's OIDC token, or (nothing
    stored) the SDK's default chain."""
    extra = settings.extra
    role_arn = extra("role_arn")
    ecs_role = extra("ecs_ram_role")
    token_file = extra("oidc_token_file")
    provider_arn = extra("oidc_provider_arn")
    if ecs_role is not None:
        return _ecs_identity(settings, ecs_role)
    if token_file is not None or provider_arn is not None:
        return _oidc_identity(settings, token_file, provider_arn, role_arn)
    if role_arn is not None:
        return _role_identity(settings, role_arn)
    _refuse_unused(settings, (*_ROLE_OPTIONS, "external_id"), "needs role_arn")
    if settings.stores_key:
        return settings.stored_credentials()
    return _default_identity(settings)


def _refuse_unused(settings: IdentitySettings, names: tuple[str, ...], why: str) -> None:
    for name in names:
        if settings.extra(name) is not None:
            raise ConfigurationError(f"{name} extra", why)


def _sts(settings: IdentitySettings) -> dict[str, Any]:
    endpoint = settings.extra("sts_endpoint") or DEFAULT_STS_ENDPOINT
    region = settings.region()
    try:
        resolve_endpoint(endpoint, service="sts", region=region)
    except ConfigurationError as exc:
        raise ConfigurationError("sts_endpoint extra", exc.problem) from None
    return {"region": region, "endpoint": endpoint, "policy": settings.policy()}


def _session(settings: IdentitySettings) -> tuple[str, int]:
    session = settings.extra("role_session_name") or DEFAULT_SESSION_NAME
    duration = settings.extra("duration_seconds")
    return (
        checked_session_name(session, "role_session_name extra"),
        checked_duration(duration, "duration_seconds extra"),
    )


def _imds_v1_allowed(settings: IdentitySettings) -> bool:
    value = settings.extra("disable_imds_v1")
    setting = "disable_imds_v1 extra"
    if value is None:
        value, setting = os.environ.get("ALIBABA_CLOUD_IMDSV1_DISABLED", "false"), "ALIBABA_CLOUD_IMDSV1_DISABLED"
    if value.strip().lower() not in ("true", "false"):
        raise ConfigurationError(setting, "must be true or false")
    return value.strip().lower() != "true"


def _metadata_endpoint(settings: IdentitySettings) -> str:
    endpoint = settings.extra("metadata_endpoint") or DEFAULT_METADATA_ENDPOINT
    return check_metadata_endpoint(endpoint, setting="metadata_endpoint extra")


def _role_identity(settings: IdentitySettings, role_arn: str) -> Identity:
    _refuse_unused(settings, ("disable_imds_v1",), "applies to ecs_ram_role, not to role_arn")
    if not (settings.login and settings.password):
        raise ConfigurationError(
            f"connection {settings.conn_id!r}",
            "role_arn needs login and password (the AccessKey that assumes the role), or oidc_token_file "
            "and oidc_provider_arn",
        )
    stored = settings.stored_credentials()
    role_arn = checked_role_arn(role_arn, "role_arn extra")
    session, duration = _session(settings)
    external_id = settings.extra("external_id")
    sts = _sts(settings)
    source = assume_role_source(
        stored, role_arn=role_arn, session_name=session, duration=duration, external_id=external_id, **sts
    )
    inputs = (stored.key_id, stored.secret, stored.token, session, duration, external_id, *sts.values())
    return Identity(source, role_arn, (settings.conn_id, "assume_role", role_arn, *inputs))


def _oidc_identity(
    settings: IdentitySettings, token_file: str | None, provider_arn: str | None, role_arn: str | None
) -> Identity:
    needed = {"oidc_token_file": token_file, "oidc_provider_arn": provider_arn, "role_arn": role_arn}
    if token_file is None or provider_arn is None or role_arn is None:
        missing = next(name for name, value in needed.items() if value is None)
        raise ConfigurationError(
            f"{missing} extra", "is missing: the OIDC exchange needs oidc_token_file, oidc_provider_arn, role_arn"
        )
    if settings.stores_key:
        raise ConfigurationError(
            "oidc_token_file extra", "the OIDC exchange is anonymous: remove login and password, or the OIDC extras"
        )
    _refuse_unused(settings, ("external_id",), "AssumeRoleWithOIDC takes no external ID")
    _refuse_unused(settings, ("security_token", "disable_imds_v1"), "does not apply to oidc_token_file")
    role_arn = checked_role_arn(role_arn, "role_arn extra")
    session, duration = _session(settings)
    sts = _sts(settings)
    source = oidc_source(
        token_file=token_file,
        token_setting="oidc_token_file extra",
        provider_arn=provider_arn,
        role_arn=role_arn,
        session_name=session,
        duration=duration,
        **sts,
    )
    key = (settings.conn_id, "oidc", role_arn, token_file, provider_arn, session, duration, *sts.values())
    return Identity(source, role_arn, key)


def _ecs_identity(settings: IdentitySettings, role: str) -> Identity:
    for name in ("role_arn", "oidc_token_file", "oidc_provider_arn", "external_id", *_ROLE_OPTIONS):
        if settings.extra(name) is not None:
            raise ConfigurationError(f"{name} extra", "contradicts ecs_ram_role: keep one source of credentials")
    if settings.stores_key or settings.extra("security_token") is not None:
        raise ConfigurationError(
            "ecs_ram_role extra", "the instance's role replaces a stored key: remove login, password and token"
        )
    if role != AUTO_ROLE and not ROLE_NAME.fullmatch(role):
        raise ConfigurationError("ecs_ram_role extra", "must be a RAM role name (letters, digits, . - _) or auto")
    endpoint = _metadata_endpoint(settings)
    v1 = _imds_v1_allowed(settings)
    source = ecs_ram_role_source(role, endpoint=endpoint, imds_v1_allowed=v1)
    return Identity(source, f"ecs role {role}", (settings.conn_id, "ecs_ram_role", role, endpoint, v1))


def _default_identity(settings: IdentitySettings) -> Credentials | Identity:
    _refuse_unused(settings, ("security_token",), "needs login and password")
    env = env_credentials()
    if env is not None:
        return env
    sts = _sts(settings)
    chain = default_chain(
        region=sts["region"],
        sts_endpoint=sts["endpoint"],
        metadata_endpoint=_metadata_endpoint(settings),
        imds_v1_allowed=_imds_v1_allowed(settings),
        policy=sts["policy"],
    )
    if chain is None:
        raise ConfigurationError(
            f"connection {settings.conn_id!r}",
            "stores no key and names no role; the environment has no ALIBABA_CLOUD_ACCESS_KEY_ID, no OIDC "
            "variables, and ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
        )
    source, account, inputs = chain
    return Identity(source, account, (settings.conn_id, "default", inputs, *sts.values()))
