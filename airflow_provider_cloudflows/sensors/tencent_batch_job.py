"""Sensor for a whole Tencent Batch job (``DescribeJob``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cloudflows.operators.links import TencentBatchJobLink
from airflow_provider_cloudflows.sensors.tencent import _TencentSensor


class TencentBatchJobSensor(_TencentSensor):
    """Wait for every task of a Tencent Batch job (``DescribeJob``).

    Returns (XCom) the final state: ``service``, ``identifiers``, ``status``, ``vendor_status``
    (``JobState``), ``progress``, ``reason``, ``request_id``, plus ``TaskSet``, ``TaskMetrics`` and
    ``TaskInstanceMetrics``. On failure the message names each failed task's failed instances, exit codes and
    reasons (read with ``DescribeTask``).

    Timeout: the sensor's ``timeout`` (seconds) ends the wait with ``AirflowSensorTimeout`` in poke,
    reschedule and deferrable modes, naming the last state seen; with ``soft_fail=True`` the task is skipped
    instead. A failed execution raises ``CloudExecutionFailed`` naming the vendor status, the reason and the
    RequestId.

    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param job_id: the job id (``job-...``).
    :param region: overrides the connection's region.
    :param success_states: ``JobState`` values that succeed (default SUCCEED).
    :param failure_states: ``JobState`` values that fail (default FAILED, FAILED_INTERRUPTED).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); otherwise
        ``mode`` (``poke`` or ``reschedule``) and ``poke_interval`` apply as for any Airflow sensor.
    :param start_from_trigger: on Airflow 3.3+ the task starts in the triggerer and no worker runs the
        wait (Airflow still starts a mapped task on a worker); implies ``deferrable=True``.
    """

    service = "tencent_batch_job"
    identifier_fields = ("job_id",)
    template_fields: Sequence[str] = ("job_id", "region", "tencentcloud_conn_id")
    operator_extra_links = (TencentBatchJobLink(),)

    def __init__(self, *, job_id: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"job_id": job_id}, **kwargs)
