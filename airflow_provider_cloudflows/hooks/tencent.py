"""Tencent Cloud connections (``tencentcloud``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.compat import legacy_connection_form
from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials, Identity
from airflow_provider_cloudflows.hooks.base import CloudHook, extra_value
from airflow_provider_cloudflows.transport.tencent import TencentApi, TencentCall, endpoint_template
from airflow_provider_cloudflows.transport.tencent_sources import identity_from


@legacy_connection_form
class TencentCloudHook(CloudHook):
    """Tencent Cloud API 3.0 access: login = SecretId, password = SecretKey.

    Extras: ``region`` (default region), ``token`` (temporary credentials), ``site`` (``china``, the default,
    or ``intl``: the international site's API, STS and console), ``endpoint`` (base URL with optional
    ``{service}`` / ``{region}``, overriding ``site``; default ``https://{service}.tencentcloudapi.com``, and
    ``https://{service}.{region}.tencentcloudapi.com`` in the financial regions ``*-fsi``); the identity
    extras ``role_arn``, ``role_session_name``, ``duration_seconds``, ``instance_role``, ``oidc_token_file``,
    ``oidc_provider_id``, ``sts_endpoint`` and ``metadata_endpoint`` (see docs/connections/tencent.md).
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
        """TC3 signing against the connection's endpoint, or the default of its region and site."""
        region = self.resolved_region(extra)
        endpoint = endpoint_template(
            region,
            site=extra_value(extra, self.conn_type, "site"),
            endpoint=extra_value(extra, self.conn_type, "endpoint"),
        )
        return TencentApi(credentials, region=region, endpoint=endpoint)

    def probe_call(self) -> TencentCall:
        """DescribeFlow of task flow 0, which does not exist: a signed read with no side effect."""
        return TencentCall("cynosdb", "DescribeFlow", "2019-01-07", {"FlowId": 0})

    def identity(self, conn: Any, extra: Mapping[str, Any]) -> Credentials | Identity:
        """The stored key, a role it assumes, the CVM role, TKE OIDC, or the SDK's default chain."""
        return identity_from(self.identity_settings(conn, extra))
