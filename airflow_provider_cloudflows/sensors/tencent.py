"""Sensors for Tencent Cloud EMR flows, CynosDB task flows and Batch tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.operators.links import TencentBatchJobLink, TencentEmrClusterLink
from airflow_provider_cloudflows.sensors.base import CloudExecutionSensor


class _TencentSensor(CloudExecutionSensor):
    conn_id_param = "tencentcloud_conn_id"

    def __init__(self, *, tencentcloud_conn_id: str = TencentCloudHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=tencentcloud_conn_id, **kwargs)


class TencentEmrFlowSensor(_TencentSensor):
    """Wait for a Tencent Cloud EMR flow (``DescribeClusterFlowStatusDetail``).

    Returns (XCom) the final state: ``service``, ``identifiers``, ``status``, ``vendor_status``
    (``FlowTotalStatus``), ``progress``, ``reason``, ``request_id``, plus ``FlowName``, ``FlowInfo``,
    ``FlowTotalProgress`` and ``StageDetails``.

    Timeout: the sensor's ``timeout`` (seconds) ends the wait with ``AirflowSensorTimeout`` in poke,
    reschedule and deferrable modes, naming the last state seen; with ``soft_fail=True`` the task is skipped
    instead. A failed execution raises ``CloudExecutionFailed`` naming the vendor status, the reason and the
    RequestId.

    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param instance_id: the EMR cluster id (``emr-...``).
    :param flow_id: the flow id, e.g. from the operation that started it; exactly one of flow_id / trace_id.
    :param trace_id: the flow's trace id.
    :param region: overrides the connection's region.
    :param success_states: ``FlowTotalStatus`` values that succeed (default 2 and 3).
    :param failure_states: ``FlowTotalStatus`` values that fail (default -1 and -3).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); otherwise
        ``mode`` (``poke`` or ``reschedule``) and ``poke_interval`` apply as for any Airflow sensor.
    :param start_from_trigger: on Airflow 3.3+ the task starts in the triggerer and no worker runs the
        wait (Airflow still starts a mapped task on a worker); implies ``deferrable=True``.
    """

    service = "tencent_emr_flow"
    operator_extra_links = (TencentEmrClusterLink(),)
    identifier_fields = ("instance_id", "flow_id", "trace_id")
    template_fields: Sequence[str] = ("instance_id", "flow_id", "trace_id", "region", "tencentcloud_conn_id")

    def __init__(
        self,
        *,
        instance_id: str,
        flow_id: str | int | None = None,
        trace_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if (flow_id is None) == (trace_id is None):
            raise ValueError("TencentEmrFlowSensor takes exactly one of flow_id or trace_id")
        super().__init__(identifiers={"instance_id": instance_id, "flow_id": flow_id, "trace_id": trace_id}, **kwargs)


class TencentCynosdbFlowSensor(_TencentSensor):
    """Wait for a Tencent CynosDB (TDSQL-C) task flow (``DescribeFlow``).

    Returns (XCom) the final state: ``service``, ``identifiers``, ``status``, ``vendor_status`` (``Status``),
    ``progress``, ``reason`` and ``request_id``.

    Timeout: the sensor's ``timeout`` (seconds) ends the wait with ``AirflowSensorTimeout`` in poke,
    reschedule and deferrable modes, naming the last state seen; with ``soft_fail=True`` the task is skipped
    instead. A failed execution raises ``CloudExecutionFailed`` naming the vendor status, the reason and the
    RequestId.

    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param flow_id: the integer task flow id (a templated string is converted).
    :param region: overrides the connection's region.
    :param success_states: ``Status`` values that succeed (default 0).
    :param failure_states: ``Status`` values that fail (default 1).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); otherwise
        ``mode`` (``poke`` or ``reschedule``) and ``poke_interval`` apply as for any Airflow sensor.
    :param start_from_trigger: on Airflow 3.3+ the task starts in the triggerer and no worker runs the
        wait (Airflow still starts a mapped task on a worker); implies ``deferrable=True``.
    """

    service = "tencent_cynosdb_flow"
    identifier_fields = ("flow_id",)
    template_fields: Sequence[str] = ("flow_id", "region", "tencentcloud_conn_id")

    def __init__(self, *, flow_id: int | str, **kwargs: Any) -> None:
        super().__init__(identifiers={"flow_id": flow_id}, **kwargs)


class TencentBatchTaskSensor(_TencentSensor):
    """Wait for a task of a Tencent Batch job (``DescribeTask``).

    Returns (XCom) the final state: ``service``, ``identifiers``, ``status``, ``vendor_status``
    (``TaskState``), ``progress``, ``reason``, ``request_id``, plus the task's ``JobId``, ``TaskName``,
    ``CreateTime``, ``EndTime`` and instance counts; a failure names the failed instances and exit codes.

    Timeout: the sensor's ``timeout`` (seconds) ends the wait with ``AirflowSensorTimeout`` in poke,
    reschedule and deferrable modes, naming the last state seen; with ``soft_fail=True`` the task is skipped
    instead. A failed execution raises ``CloudExecutionFailed`` naming the vendor status, the reason and the
    RequestId.

    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param job_id: the job id (``job-...``).
    :param task_name: the task's name within the job.
    :param region: overrides the connection's region.
    :param success_states: ``TaskState`` values that succeed (default SUCCEED).
    :param failure_states: ``TaskState`` values that fail (default FAILED, FAILED_INTERRUPTED).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); otherwise
        ``mode`` (``poke`` or ``reschedule``) and ``poke_interval`` apply as for any Airflow sensor.
    :param start_from_trigger: on Airflow 3.3+ the task starts in the triggerer and no worker runs the
        wait (Airflow still starts a mapped task on a worker); implies ``deferrable=True``.
    """

    service = "tencent_batch_task"
    operator_extra_links = (TencentBatchJobLink(),)
    identifier_fields = ("job_id", "task_name")
    template_fields: Sequence[str] = ("job_id", "task_name", "region", "tencentcloud_conn_id")

    def __init__(self, *, job_id: str, task_name: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"job_id": job_id, "task_name": task_name}, **kwargs)
