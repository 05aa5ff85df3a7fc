"""Huawei Cloud connections (``huaweicloud``).

Where the keys come from is decided from the connection and the environment alone (no I/O: the async path
decides on the event loop), one source per connection: extras that name two sources, or a source and
stored keys it would not use, are refused naming the extra rather than one of them silently winning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.compat import legacy_connection_form
from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials
from airflow_provider_cloudflows.hooks.base import CloudHook, Identity, extra_value
from airflow_provider_cloudflows.transport.huawei import HuaweiApi, HuaweiCall
from airflow_provider_cloudflows.transport.huawei_iam import (
    alookup_project_id,
    default_iam_endpoint,
    lookup_project_id,
)
from airflow_provider_cloudflows.transport.huawei_identity import (
    METADATA_LABEL,
    OIDC_DEFAULT_DURATION,
    PROBE_POLICY,
    PROBE_SECONDS,
    agency_source,
    metadata_source,
    oidc_source,
)
from airflow_provider_cloudflows.transport.identity import ProbeSource, env_value

PROBE_CLUSTER = "00000000-0000-0000-0000-000000000000"
# IAM's bounds of a temporary key's lifetime (assume_role and token methods).
MIN_DURATION, MAX_DURATION = 900, 86400
# A domain (account) id as IAM writes it; anything else in agency_domain is a domain name.
_DOMAIN_ID = re.compile(r"[0-9a-f]{32}")
# huaweicloudsdkcore's environment variables.
ENV_AK, ENV_SK, ENV_TOKEN = "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"
ENV_IDP_ID, ENV_ID_TOKEN_FILE = "HUAWEICLOUD_SDK_IDP_ID", "HUAWEICLOUD_SDK_ID_TOKEN_FILE"
ENV_IAM_ENDPOINT, ENV_PROJECT_ID = "HUAWEICLOUD_SDK_IAM_ENDPOINT", "HUAWEICLOUD_SDK_PROJECT_ID"


def _digest(*secrets: str | None) -> str:
    # What tells one stored key from another in an identity's cache key, without holding the secret there.
    return hashlib.sha256("\0".join(s or "" for s in secrets).encode("utf-8")).hexdigest()


@legacy_connection_form
class HuaweiCloudHook(CloudHook):
    """Huawei Cloud access: login = AK, password = SK.

    Extras: ``region``, ``project_id``, ``security_token`` (temporary AK/SK), ``endpoint`` (may contain
    ``{region}``; default ``https://dws.{region}.myhuaweicloud.com``, ``.eu`` / ``.cn`` where documented) and
    ``iam_endpoint`` (default: the SDK's IAM endpoint of the region). Tasks may override ``region`` and
    ``project_id``. Without a ``project_id`` the hook asks IAM for the region's project, once per account and
    region per process, as the official SDK does.
    """

    conn_name_attr = "huaweicloud_conn_id"
    default_conn_name = "huaweicloud_default"
    conn_type = "huaweicloud"
    hook_name = "Huawei Cloud"
    vendor_label = "Huawei Cloud"
    override_fields = ("project_id",)
    completion_step = "looking up project_id in IAM"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # iam_endpoint / project_id from huaweicloudsdkcore's variables, for a connection that stores nothing.
        self._env_extra: dict[str, str] = {}

    def token_from(self, extra: Mapping[str, Any]) -> str | None:
        """The ``security_token`` extra."""
        return extra_value(extra, self.conn_type, "security_token")

    def identity(self, conn: Any, extra: Mapping[str, Any]) -> Credentials | Identity:
        """The stored AK/SK, an agency assumed with them, the ECS metadata, a federated OIDC token, or (nothing
        stored) huaweicloudsdkcore's environment: its id token and identity provider, else its AK/SK, else the
        ECS metadata."""
        value = self._conn_extra(extra)
        metadata = self._flag(extra, "instance_metadata")
        sources = [
            name
            for name, named in (
                ("agency_name", value("agency_name") or value("agency_domain")),
                ("instance_metadata", metadata),
                ("oidc_token_file", value("oidc_token_file") or value("idp_id")),
            )
            if named
        ]
        if len(sources) > 1:
            raise ConfigurationError(sources[1], f"contradicts {sources[0]}: a connection names one source of keys")
        stored = bool(conn.login or conn.password)
        source = sources[0] if sources else None
        if source != "instance_metadata" and (source is not None or stored) and value("metadata_endpoint"):
            raise ConfigurationError("metadata_endpoint", "is only read with instance_metadata (or nothing stored)")
        if value("duration_seconds") and (source == "instance_metadata" or (source is None and stored)):
            raise ConfigurationError("duration_seconds", "is only read with agency_name or an OIDC token file")
        if source == "agency_name":
            return self._agency(conn, extra)
        if source is not None and stored:
            raise ConfigurationError(source, "contradicts the stored login/password (AK/SK): remove one of them")
        if source is not None and value("security_token"):
            raise ConfigurationError("security_token", f"contradicts {source}: it comes with a stored AK/SK only")
        if source == "instance_metadata":
            endpoint = value("metadata_endpoint")
            policy = self.retry_policy or self._policy_from(extra)
            return Identity(metadata_source(endpoint=endpoint, policy=policy), "ecs metadata", (self.conn_id, endpoint))
        if source == "oidc_token_file":
            return self._oidc(extra, value("idp_id"), value("oidc_token_file"), settings=("idp_id", "oidc_token_file"))
        if stored or value("security_token"):
            return self.stored_credentials(conn, extra)
        return self._from_environment(extra)

    def _conn_extra(self, extra: Mapping[str, Any]) -> Any:
        """A reader of the connection's own extras (identity settings are never task overrides)."""
        return lambda name: extra_value(extra, self.conn_type, name)

    def _flag(self, extra: Mapping[str, Any], name: str) -> bool:
        """A boolean extra: the form stores true/false, a JSON extra may hold a string."""
        raw = extra_value(extra, self.conn_type, name)
        if raw is None or raw.strip().lower() in ("false", "0", "no", "off"):
            return False
        if raw.strip().lower() in ("true", "1", "yes", "on"):
            return True
        raise ConfigurationError(name, f"must be true or false, not {raw[:40]!r}")

    def _duration(self, extra: Mapping[str, Any]) -> int | None:
        raw = extra_value(extra, self.conn_type, "duration_seconds")
        if raw is None:
            return None
        text = raw.strip()
        if not text.isdigit() or not MIN_DURATION <= int(text) <= MAX_DURATION:
            raise ConfigurationError(
                "duration_seconds", f"must be whole seconds from {MIN_DURATION} to {MAX_DURATION}, not {raw[:40]!r}"
            )
        return int(text)

    def _iam_endpoint(self, extra: Mapping[str, Any]) -> str:
        return (
            extra_value(extra, self.conn_type, "iam_endpoint")
            or self._env_extra.get("iam_endpoint")
            or default_iam_endpoint(self.resolved_region(extra))
        )

    def _agency(self, conn: Any, extra: Mapping[str, Any]) -> Identity:
        value = self._conn_extra(extra)
        name, domain = value("agency_name"), value("agency_domain")
        if not name:
            raise ConfigurationError("agency_name", "is required with agency_domain")
        if not domain:
            raise ConfigurationError("agency_domain", "is required with agency_name: the account owning the agency")
        base = self.stored_credentials(conn, extra)
        region, iam, duration = self.resolved_region(extra), self._iam_endpoint(extra), self._duration(extra)
        is_id = _DOMAIN_ID.fullmatch(domain) is not None
        source = agency_source(
            base,
            region=region,
            iam_endpoint=iam,
            agency_name=name,
            domain_id=domain if is_id else None,
            domain_name=None if is_id else domain,
            duration=duration,
            policy=self.retry_policy or self._policy_from(extra),
        )
        stored = (base.key_id, _digest(base.secret, base.token))
        return Identity(
            source, f"agency {domain}/{name}", (self.conn_id, "agency", *stored, iam, region, name, domain, duration)
        )

    def _oidc(
        self, extra: Mapping[str, Any], idp_id: str | None, token_file: str | None, *, settings: tuple[str, str]
    ) -> Identity:
        if not idp_id:
            raise ConfigurationError(settings[0], f"is required with {settings[1]}")
        if not token_file:
            raise ConfigurationError(settings[1], f"is required with {settings[0]}")
        region, iam = self.resolved_region(extra), self._iam_endpoint(extra)
        duration = self._duration(extra) or OIDC_DEFAULT_DURATION
        source = oidc_source(
            region=region,
            iam_endpoint=iam,
            idp_id=idp_id,
            token_file=token_file,
            setting=settings[1],
            duration=duration,
            policy=self.retry_policy or self._policy_from(extra),
        )
        return Identity(source, f"idp {idp_id}", (self.conn_id, "oidc", idp_id, token_file, iam, region, duration))

    def _from_environment(self, extra: Mapping[str, Any]) -> Credentials | Identity:
        """huaweicloudsdkcore's ``EnvCredentialProvider`` (its id token first, then its AK/SK), else the ECS
        metadata, probed briefly. The SDK's profile file is not read: reading it here would be I/O."""
        self._env_extra = {
            name: found
            for name, variable in (("iam_endpoint", ENV_IAM_ENDPOINT), ("project_id", ENV_PROJECT_ID))
            if (found := env_value(variable)) is not None
        }
        idp_id, token_file = env_value(ENV_IDP_ID), env_value(ENV_ID_TOKEN_FILE)
        if idp_id or token_file:
            return self._oidc(extra, idp_id, token_file, settings=(ENV_IDP_ID, ENV_ID_TOKEN_FILE))
        ak, sk = env_value(ENV_AK), env_value(ENV_SK)
        if ak or sk:
            if not ak or not sk:
                raise ConfigurationError(ENV_SK if ak else ENV_AK, f"is required with {ENV_AK if ak else ENV_SK}")
            return Credentials(ak, sk, env_value(ENV_TOKEN))
        endpoint = extra_value(extra, self.conn_type, "metadata_endpoint")
        probe = ProbeSource(
            metadata_source(endpoint=endpoint, policy=PROBE_POLICY),
            PROBE_SECONDS,
            until_proven=False,
            label=f"{METADATA_LABEL}: no key in the connection or in {ENV_AK} / {ENV_IDP_ID}",
        )
        return Identity(probe, "ecs metadata", (self.conn_id, "metadata-probe", endpoint))

    def complete_extra(self, provider: CredentialProvider, extra: Mapping[str, Any]) -> Mapping[str, Any]:
        """The extras with the ``project_id`` IAM names when neither the task nor the connection sets one."""
        extra = self._with_env(extra)
        lookup = self._lookup(provider, extra)
        return extra if lookup is None else {**extra, "project_id": lookup_project_id(**lookup)}

    async def acomplete_extra(self, provider: CredentialProvider, extra: Mapping[str, Any]) -> Mapping[str, Any]:
        """:meth:`complete_extra` with the IAM call made on the event loop."""
        extra = self._with_env(extra)
        lookup = self._lookup(provider, extra)
        return extra if lookup is None else {**extra, "project_id": await alookup_project_id(**lookup)}

    def _with_env(self, extra: Mapping[str, Any]) -> Mapping[str, Any]:
        """The SDK's iam_endpoint / project_id variables under the connection's own extras (nothing stored)."""
        missing = {k: v for k, v in self._env_extra.items() if extra_value(extra, self.conn_type, k) is None}
        return {**missing, **extra} if missing else extra

    def _lookup(self, provider: CredentialProvider, extra: Mapping[str, Any]) -> dict[str, Any] | None:
        """What the IAM lookup needs, or None when the task or the connection names the project."""
        if self.extra(extra, "project_id"):
            return None
        return {
            "credentials": provider,
            "region": self.resolved_region(extra),
            "endpoint": self._iam_endpoint(extra),
            "policy": self.retry_policy or self._policy_from(extra),
        }

    def build_api(self, credentials: CredentialProvider, extra: Mapping[str, Any]) -> HuaweiApi:
        """SDK-HMAC-SHA256 against the regional DWS endpoint (or the connection's)."""
        return HuaweiApi(
            credentials,
            region=self.resolved_region(extra),
            endpoint=extra_value(extra, self.conn_type, "endpoint"),
            project_id=self.extra(extra, "project_id") or "",
        )

    def probe_call(self) -> HuaweiCall:
        """Cluster detail of a cluster id that does not exist: one signed read, no side effect.

        Only one request: APIG locks a key after five bad signatures, so a test must never retry.
        """
        return HuaweiCall("GET", "/v1.0/{project_id}/clusters/{cluster_id}", {"cluster_id": PROBE_CLUSTER})
