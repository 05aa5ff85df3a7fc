"""Sensor for a whole Tencent Batch job (``DescribeJob``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cloudflows.operators.links import TencentBatchJobLink
from airflow_provider_cloudflows.sensors.tencent import _TencentSensor


class TencentBatchJobSensor(_TencentSensor):
    """Wait for every task of a Tencent Batch job (``DescribeJob``).

    On failure the message names each failed task's failed instances, exit codes and reasons (read with
    ``DescribeTask``). The state returned has ``TaskSet``, ``TaskMetrics``, ``TaskInstanceMetrics``.

    :param job_id: the job id (``job-...``).
    :param region: overrides the connection's region.
    :param success_states: ``JobState`` values that succeed (default SUCCEED).
    :param failure_states: ``JobState`` values that fail (default FAILED, FAILED_INTERRUPTED).
    """

    service = "tencent_batch_job"
    identifier_fields = ("job_id",)
    template_fields: Sequence[str] = ("job_id", "region", "tencentcloud_conn_id")
    operator_extra_links = (TencentBatchJobLink(),)

    def __init__(self, *, job_id: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"job_id": job_id}, **kwargs)
