"""Huawei Cloud connections (``huaweicloud``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.compat import legacy_connection_form
from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.hooks.base import CloudHook, extra_value
from airflow_provider_cloudflows.transport.huawei import HuaweiApi, HuaweiCall

PROBE_CLUSTER = "00000000-0000-0000-0000-000000000000"


@legacy_connection_form
class HuaweiCloudHook(CloudHook):
    """Huawei Cloud access: login = AK, password = SK.

    Extras: ``region``, ``project_id``, ``security_token`` (temporary AK/SK) and ``endpoint`` (may contain
    ``{region}``; default ``https://dws.{region}.myhuaweicloud.com``, ``.eu`` / ``.cn`` where documented).
    Tasks may override ``region`` and ``project_id``.
    """

    conn_name_attr = "huaweicloud_conn_id"
    default_conn_name = "huaweicloud_default"
    conn_type = "huaweicloud"
    hook_name = "Huawei Cloud"
    vendor_label = "Huawei Cloud"
    override_fields = ("project_id",)

    def token_from(self, extra: Mapping[str, Any]) -> str | None:
        """The ``security_token`` extra."""
        return extra_value(extra, self.conn_type, "security_token")

    def build_api(self, credentials: Credentials, extra: Mapping[str, Any]) -> HuaweiApi:
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
