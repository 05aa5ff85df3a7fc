"""Alibaba Cloud connections (``alibabacloud``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.compat import legacy_connection_form
from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials, Identity
from airflow_provider_cloudflows.hooks.base import CloudHook, extra_value
from airflow_provider_cloudflows.transport.alibaba import DEFAULT_ENDPOINT, AlibabaApi, AlibabaCall
from airflow_provider_cloudflows.transport.alibaba_sources import identity_from


@legacy_connection_form
class AlibabaCloudHook(CloudHook):
    """Alibaba Cloud access: login = AccessKeyId, password = AccessKeySecret.

    Extras: ``region``, ``security_token`` (STS), ``endpoint`` (may contain ``{region}``; default
    ``https://{region}.fnf.aliyuncs.com``) and ``signature_version`` (``v2``, the default, or ``v3``).

    Temporary identities (see docs/connections/alibaba.md): ``role_arn`` (+ ``role_session_name``,
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
        return identity_from(self.identity_settings(conn, extra))

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
