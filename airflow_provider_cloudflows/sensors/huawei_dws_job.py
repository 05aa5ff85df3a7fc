"""Sensor for a Huawei Cloud DWS job (``GET /v1.0/{project_id}/job/{job_id}``)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.operators.links import HuaweiDwsClusterLink
from airflow_provider_cloudflows.sensors.base import CloudExecutionSensor


class HuaweiDwsJobSensor(CloudExecutionSensor):
    """Wait for a DWS job (ListJobDetails): the ``job_id`` that restore, shrink, start/stop and other DWS calls
    answer.

    ``status`` INIT, WAITING, DELAY_SCHEDULED (pending) and RUNNING wait on; SUCCESS succeeds; FAIL fails with
    ``failed_code: failed_detail``; STOP (the job was stopped) fails as cancelled. The returned state carries
    ``job_name``, ``begin_time``, ``end_time`` and ``progress``.

    :param job_id: the job id.
    :param cluster_id: optional, only for the console link (the job API does not name its cluster).
    :param region: overrides the connection's region.
    :param project_id: overrides the connection's project id.
    :param success_states: ``status`` values that succeed (default SUCCESS).
    :param failure_states: ``status`` values that fail (default FAIL, STOP).
    """

    service = "huawei_dws_job"
    conn_id_param = "huaweicloud_conn_id"
    identifier_fields = ("job_id",)
    hook_override_fields = ("region", "project_id")
    template_fields: Sequence[str] = ("job_id", "cluster_id", "region", "project_id", "huaweicloud_conn_id")
    operator_extra_links = (HuaweiDwsClusterLink(),)

    def __init__(
        self,
        *,
        job_id: str,
        cluster_id: str | None = None,
        project_id: str | None = None,
        huaweicloud_conn_id: str = HuaweiCloudHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        # The base takes the identifiers as a keyword in the sensor refactor under way; support both bases.
        if "identifiers" in inspect.signature(CloudExecutionSensor.__init__).parameters:
            kwargs["identifiers"] = {"job_id": job_id}
        super().__init__(conn_id=huaweicloud_conn_id, **kwargs)
        self.job_id = job_id
        self.cluster_id = cluster_id
        self.project_id = project_id
