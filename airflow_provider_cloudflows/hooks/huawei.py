"""Huawei Cloud connections (``huaweicloud``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.compat import legacy_connection_form
from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials, Identity
from airflow_provider_cloudflows.hooks.base import CloudHook, extra_value
from airflow_provider_cloudflows.transport.huawei import HuaweiApi, HuaweiCall
from airflow_provider_cloudflows.transport.huawei_iam import (
    alookup_project_id,
    default_iam_endpoint,
    lookup_project_id,
)
from airflow_provider_cloudflows.transport.huawei_sources import environment_extras, identity_from, names_nothing

PROBE_CLUSTER = "00000000-0000-0000-0000-000000000000"


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
        stored) huaweicloudsdkcore's environment."""
        settings = self.identity_settings(conn, extra)
        resolved = identity_from(settings)
        if names_nothing(settings):
            self._env_extra = environment_extras()
        return resolved

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
        """What the IAM lookup needs, or None when the task or the connection names the project (``extra``
        already holds the SDK's variables, :meth:`_with_env`)."""
        if self.extra(extra, "project_id"):
            return None
        region = self.resolved_region(extra)
        return {
            "credentials": provider,
            "region": region,
            "endpoint": extra_value(extra, self.conn_type, "iam_endpoint") or default_iam_endpoint(region),
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
