"""Sensor for Huawei Cloud DWS cluster tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.operators.links import HuaweiDwsClusterLink
from airflow_provider_cloudflows.sensors.base import CloudExecutionSensor
from airflow_provider_cloudflows.services.huawei_dws import FAILURE_VIEWS


class HuaweiDwsClusterTaskSensor(CloudExecutionSensor):
    """Wait for an ongoing Huawei Cloud DWS cluster task (scale-out, restore, snapshot, fine-grained restore).

    The API only shows ongoing tasks; once the task is gone the sensor reads the paired failure view and the
    cluster's detail, and succeeds only on evidence (see docs/design/dws-task-end.md).
    ``mode="reschedule"`` is refused: the end is confirmed from what earlier checks of one process saw.

    Returns (XCom) the final state: ``service``, ``identifiers``, ``status``, ``vendor_status`` (the task's
    ``status``), ``progress``, ``reason``, ``request_id``, plus ``action_name`` and ``evidence`` (what the
    outcome was decided on) and the failure record's fields when one was read.

    Timeout: the sensor's ``timeout`` (seconds) ends the wait with ``AirflowSensorTimeout`` in poke,
    reschedule and deferrable modes, naming the last state seen; with ``soft_fail=True`` the task is skipped
    instead. A failed execution raises ``CloudExecutionFailed`` naming the vendor status, the reason and the
    RequestId.

    :param huaweicloud_conn_id: the Huawei Cloud connection (default ``huaweicloud_default``).
    :param cluster_id: the DWS cluster id.
    :param action_name: GROWING, RESTORING, SNAPSHOTTING or FINE_GRAINED_RESTORING.
    :param project_id: overrides the connection's project id.
    :param region: overrides the connection's region.
    :param success_states: task ``status`` values that succeed (default SUCCESS).
    :param failure_states: task ``status`` values that fail (default FAILED, ROLLBACK_FAIL, ROLLBACK_SUCCESS).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); otherwise
        ``mode`` (``poke`` or ``reschedule``) and ``poke_interval`` apply as for any Airflow sensor.
    :param start_from_trigger: on Airflow 3.3+ the task starts in the triggerer and no worker runs the
        wait (Airflow still starts a mapped task on a worker); implies ``deferrable=True``.
    """

    service = "huawei_dws_cluster_task"
    conn_id_param = "huaweicloud_conn_id"
    identifier_fields = ("cluster_id", "action_name")
    operator_extra_links = (HuaweiDwsClusterLink(),)
    hook_override_fields = ("region", "project_id")
    template_fields: Sequence[str] = ("cluster_id", "action_name", "region", "project_id", "huaweicloud_conn_id")

    def __init__(
        self,
        *,
        cluster_id: str,
        action_name: str,
        project_id: str | None = None,
        huaweicloud_conn_id: str = HuaweiCloudHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        if "{{" not in action_name and action_name not in FAILURE_VIEWS:
            raise ValueError(
                f"action_name must be one of {sorted(FAILURE_VIEWS)} (an ongoing action; the failure views "
                f"are read automatically), got {action_name!r}"
            )
        if kwargs.get("mode") == "reschedule" and not kwargs.get("deferrable"):
            # Each reschedule is a fresh process: the rule's "seen running" memory would be lost between pokes,
            # and a finished task could then never be confirmed.
            raise ValueError(
                "HuaweiDwsClusterTaskSensor does not support mode='reschedule' (a DWS task's end is confirmed "
                "from what earlier checks saw); use deferrable=True or mode='poke'"
            )
        super().__init__(
            conn_id=huaweicloud_conn_id,
            identifiers={"cluster_id": cluster_id, "action_name": action_name},
            fields={"project_id": project_id},
            **kwargs,
        )
