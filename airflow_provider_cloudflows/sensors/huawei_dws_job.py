"""Sensor for a Huawei Cloud DWS job (``GET /v1.0/{project_id}/job/{job_id}``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.operators.links import HuaweiDwsClusterLink
from airflow_provider_cloudflows.sensors.base import CloudExecutionSensor


class HuaweiDwsJobSensor(CloudExecutionSensor):
    """Wait for a DWS job (ListJobDetails): the ``job_id`` that restore, shrink, start/stop and other DWS calls
    answer.

    ``status`` INIT, WAITING, DELAY_SCHEDULED (pending) and RUNNING wait on; SUCCESS succeeds; FAIL fails with
    ``failed_code: failed_detail``; STOP (the job was stopped) fails as cancelled.

    Returns (XCom) the final state: ``service``, ``identifiers``, ``status``, ``vendor_status`` (``status``),
    ``progress``, ``reason``, ``request_id``, plus ``job_name``, ``begin_time``, ``end_time`` and, on
    failure, ``failed_code`` and ``failed_detail``.

    Timeout: the sensor's ``timeout`` (seconds) ends the wait with ``AirflowSensorTimeout`` in poke,
    reschedule and deferrable modes, naming the last state seen; with ``soft_fail=True`` the task is skipped
    instead. A failed execution raises ``CloudExecutionFailed`` naming the vendor status, the reason and the
    RequestId.

    :param huaweicloud_conn_id: the Huawei Cloud connection (default ``huaweicloud_default``).
    :param job_id: the job id.
    :param cluster_id: optional, only for the console link (the job API does not name its cluster).
    :param project_id: overrides the connection's project id.
    :param region: overrides the connection's region.
    :param success_states: ``status`` values that succeed (default SUCCESS).
    :param failure_states: ``status`` values that fail (default FAIL, STOP).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); otherwise
        ``mode`` (``poke`` or ``reschedule``) and ``poke_interval`` apply as for any Airflow sensor.
    :param start_from_trigger: on Airflow 3.3+ the task starts in the triggerer and no worker runs the
        wait (Airflow still starts a mapped task on a worker); implies ``deferrable=True``.
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
        super().__init__(
            conn_id=huaweicloud_conn_id,
            identifiers={"job_id": job_id},
            fields={"cluster_id": cluster_id, "project_id": project_id},
            **kwargs,
        )
