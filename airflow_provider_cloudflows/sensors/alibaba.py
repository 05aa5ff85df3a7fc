"""Sensor for Alibaba Cloud CloudFlow executions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cloudflows.hooks.alibaba import AlibabaCloudHook
from airflow_provider_cloudflows.operators.links import AlibabaCloudFlowExecutionLink
from airflow_provider_cloudflows.sensors.base import CloudExecutionSensor


class AlibabaCloudFlowExecutionSensor(CloudExecutionSensor):
    """Wait for an Alibaba Cloud CloudFlow execution (``DescribeExecution`` with long polling).

    Deferred, the trigger long-polls (``WaitTimeSeconds`` up to 60 s, never past the deadline), so the end is
    seen within about a second at roughly one request a minute; poke mode asks without waiting.

    Returns (XCom) the final state: ``service``, ``identifiers``, ``status``, ``vendor_status`` (``Status``),
    ``progress``, ``reason``, ``request_id``, plus ``Output`` parsed from JSON (text, with a warning, when it
    is not JSON), ``StartedTime`` and ``StoppedTime``; a failure names the failing step and its cause from
    ``GetExecutionHistory``.

    Timeout: the sensor's ``timeout`` (seconds) ends the wait with ``AirflowSensorTimeout`` in poke,
    reschedule and deferrable modes, naming the last state seen; with ``soft_fail=True`` the task is skipped
    instead. A failed execution raises ``CloudExecutionFailed`` naming the vendor status, the reason and the
    RequestId.

    :param alibabacloud_conn_id: the Alibaba Cloud connection (default ``alibabacloud_default``).
    :param flow_name: the flow's name.
    :param execution_name: the execution's name (e.g. ``{{ run_id | replace(':', '_') }}``).
    :param region: overrides the connection's region.
    :param success_states: ``Status`` values that succeed (default Succeeded).
    :param failure_states: ``Status`` values that fail (default Failed, Stopped, TimedOut).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); otherwise
        ``mode`` (``poke`` or ``reschedule``) and ``poke_interval`` apply as for any Airflow sensor.
    :param start_from_trigger: on Airflow 3.3+ the task starts in the triggerer and no worker runs the
        wait (Airflow still starts a mapped task on a worker); implies ``deferrable=True``.
    """

    service = "alibaba_cloudflow_execution"
    conn_id_param = "alibabacloud_conn_id"
    identifier_fields = ("flow_name", "execution_name")
    operator_extra_links = (AlibabaCloudFlowExecutionLink(),)
    template_fields: Sequence[str] = ("flow_name", "execution_name", "region", "alibabacloud_conn_id")

    def __init__(
        self,
        *,
        flow_name: str,
        execution_name: str,
        alibabacloud_conn_id: str = AlibabaCloudHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            conn_id=alibabacloud_conn_id,
            identifiers={"flow_name": flow_name, "execution_name": execution_name},
            **kwargs,
        )
