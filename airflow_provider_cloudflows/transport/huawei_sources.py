"""Which source a Huawei Cloud connection's keys come from, chosen from the connection and the environment.

The choice makes no I/O (the async path makes it on the event loop), and a connection names one source:
extras that name two sources, or a source and stored keys it would not use, are refused naming the extra
rather than one of them silently winning.
"""

from __future__ import annotations

import hashlib
import re

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, Identity
from airflow_provider_cloudflows.transport.huawei_iam import default_iam_endpoint
from airflow_provider_cloudflows.transport.huawei_identity import (
    METADATA_LABEL,
    OIDC_DEFAULT_DURATION,
    PROBE_POLICY,
    agency_source,
    metadata_source,
    oidc_source,
)
from airflow_provider_cloudflows.transport.identity import IdentitySettings, ProbeSource, env_value

__all__ = ["environment_extras", "identity_from", "names_nothing"]

# IAM's bounds of a temporary key's lifetime (assume_role and token methods).
MIN_DURATION, MAX_DURATION = 900, 86400
# A domain (account) id as IAM writes it; anything else in agency_domain is a domain name.
_DOMAIN_ID = re.compile(r"[0-9a-f]{32}")
# huaweicloudsdkcore's environment variables.
ENV_AK, ENV_SK, ENV_TOKEN = "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"
ENV_IDP_ID, ENV_ID_TOKEN_FILE = "HUAWEICLOUD_SDK_IDP_ID", "HUAWEICLOUD_SDK_ID_TOKEN_FILE"
ENV_IAM_ENDPOINT, ENV_PROJECT_ID = "HUAWEICLOUD_SDK_IAM_ENDPOINT", "HUAWEICLOUD_SDK_PROJECT_ID"


def identity_from(settings: IdentitySettings) -> Credentials | Identity:
    """The stored AK/SK, an agency assumed with them, the ECS metadata, a federated OIDC token, or (nothing
    stored) huaweicloudsdkcore's environment: its id token and identity provider, else its AK/SK, else the
    ECS metadata."""
    value = settings.extra
    source = _named_source(settings)
    stored = settings.stores_key
    if source != "instance_metadata" and (source is not None or stored) and value("metadata_endpoint"):
        raise ConfigurationError("metadata_endpoint", "is only read with instance_metadata (or nothing stored)")
    if value("duration_seconds") and (source == "instance_metadata" or (source is None and stored)):
        raise ConfigurationError("duration_seconds", "is only read with agency_name or an OIDC token file")
    if source == "agency_name":
        return _agency(settings)
    if source is not None and stored:
        raise ConfigurationError(source, "contradicts the stored login/password (AK/SK): remove one of them")
    if source is not None and value("security_token"):
        raise ConfigurationError("security_token", f"contradicts {source}: it comes with a stored AK/SK only")
    if source == "instance_metadata":
        endpoint = value("metadata_endpoint")
        return Identity(
            metadata_source(endpoint=endpoint, policy=settings.policy()), "ecs metadata", (settings.conn_id, endpoint)
        )
    if source == "oidc_token_file":
        return _oidc(settings, value("idp_id"), value("oidc_token_file"), ("idp_id", "oidc_token_file"), None)
    if stored or value("security_token"):
        return settings.stored_credentials()
    return _from_environment(settings)


def names_nothing(settings: IdentitySettings) -> bool:
    """Whether the connection names no source and stores no key: huaweicloudsdkcore's environment then
    supplies the keys, and :func:`environment_extras` the extras the connection leaves out."""
    return _named_source(settings) is None and not settings.stores_key and not settings.extra("security_token")


def environment_extras() -> dict[str, str]:
    """``iam_endpoint`` / ``project_id`` from huaweicloudsdkcore's variables, where set."""
    return {
        name: found
        for name, variable in (("iam_endpoint", ENV_IAM_ENDPOINT), ("project_id", ENV_PROJECT_ID))
        if (found := env_value(variable)) is not None
    }


def _named_source(settings: IdentitySettings) -> str | None:
    """The one source the extras name (None: none), refusing a second."""
    value = settings.extra
    sources = [
        name
        for name, named in (
            ("agency_name", value("agency_name") or value("agency_domain")),
            ("instance_metadata", _flag(settings, "instance_metadata")),
            ("oidc_token_file", value("oidc_token_file") or value("idp_id")),
        )
        if named
    ]
    if len(sources) > 1:
        raise ConfigurationError(sources[1], f"contradicts {sources[0]}: a connection names one source of keys")
    return sources[0] if sources else None


def _digest(*secrets: str | None) -> str:
    # What tells one stored key from another in an identity's cache key, without holding the secret there.
    return hashlib.sha256("\0".join(s or "" for s in secrets).encode("utf-8")).hexdigest()


def _flag(settings: IdentitySettings, name: str) -> bool:
    """A boolean extra: the form stores true/false, a JSON extra may hold a string."""
    raw = settings.extra(name)
    if raw is None or raw.strip().lower() in ("false", "0", "no", "off"):
        return False
    if raw.strip().lower() in ("true", "1", "yes", "on"):
        return True
    raise ConfigurationError(name, f"must be true or false, not {raw[:40]!r}")


def _duration(settings: IdentitySettings) -> int | None:
    raw = settings.extra("duration_seconds")
    if raw is None:
        return None
    text = raw.strip()
    if not text.isdigit() or not MIN_DURATION <= int(text) <= MAX_DURATION:
        raise ConfigurationError(
            "duration_seconds", f"must be whole seconds from {MIN_DURATION} to {MAX_DURATION}, not {raw[:40]!r}"
        )
    return int(text)


def _iam_endpoint(settings: IdentitySettings, from_environment: str | None) -> str:
    return settings.extra("iam_endpoint") or from_environment or default_iam_endpoint(settings.region())


def _agency(settings: IdentitySettings) -> Identity:
    name, domain = settings.extra("agency_name"), settings.extra("agency_domain")
    if not name:
        raise ConfigurationError("agency_name", "is required with agency_domain")
    if not domain:
        raise ConfigurationError("agency_domain", "is required with agency_name: the account owning the agency")
    base = settings.stored_credentials()
    region, iam, duration = settings.region(), _iam_endpoint(settings, None), _duration(settings)
    is_id = _DOMAIN_ID.fullmatch(domain) is not None
    source = agency_source(
        base,
        region=region,
        iam_endpoint=iam,
        agency_name=name,
        domain_id=domain if is_id else None,
        domain_name=None if is_id else domain,
        duration=duration,
        policy=settings.policy(),
    )
    stored = (base.key_id, _digest(base.secret, base.token))
    return Identity(
        source, f"agency {domain}/{name}", (settings.conn_id, "agency", *stored, iam, region, name, domain, duration)
    )


def _oidc(
    settings: IdentitySettings,
    idp_id: str | None,
    token_file: str | None,
    names: tuple[str, str],
    iam_from_environment: str | None,
) -> Identity:
    if not idp_id:
        raise ConfigurationError(names[0], f"is required with {names[1]}")
    if not token_file:
        raise ConfigurationError(names[1], f"is required with {names[0]}")
    region, iam = settings.region(), _iam_endpoint(settings, iam_from_environment)
    duration = _duration(settings) or OIDC_DEFAULT_DURATION
    source = oidc_source(
        region=region,
        iam_endpoint=iam,
        idp_id=idp_id,
        token_file=token_file,
        setting=names[1],
        duration=duration,
        policy=settings.policy(),
    )
    return Identity(source, f"idp {idp_id}", (settings.conn_id, "oidc", idp_id, token_file, iam, region, duration))


def _from_environment(settings: IdentitySettings) -> Credentials | Identity:
    """huaweicloudsdkcore's ``EnvCredentialProvider`` (its id token first, then its AK/SK), else the ECS
    metadata, probed briefly. The SDK's profile file is not read: reading it here would be I/O."""
    idp_id, token_file = env_value(ENV_IDP_ID), env_value(ENV_ID_TOKEN_FILE)
    if idp_id or token_file:
        iam = environment_extras().get("iam_endpoint")
        return _oidc(settings, idp_id, token_file, (ENV_IDP_ID, ENV_ID_TOKEN_FILE), iam)
    ak, sk = env_value(ENV_AK), env_value(ENV_SK)
    if ak or sk:
        if not ak or not sk:
            raise ConfigurationError(ENV_SK if ak else ENV_AK, f"is required with {ENV_AK if ak else ENV_SK}")
        return Credentials(ak, sk, env_value(ENV_TOKEN))
    endpoint = settings.extra("metadata_endpoint")
    probe = ProbeSource(
        metadata_source(endpoint=endpoint, policy=PROBE_POLICY),
        until_proven=False,
        label=f"{METADATA_LABEL}: no key in the connection or in {ENV_AK} / {ENV_IDP_ID}",
    )
    return Identity(probe, "ecs metadata", (settings.conn_id, "metadata-probe", endpoint))
