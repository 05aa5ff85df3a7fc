"""Tencent Cloud operators: Batch ``SubmitJob``, EMR ``ScaleOutCluster`` / ``TerminateClusterNodes``, and
CynosDB actions returning a ``FlowId`` (``PauseServerless``, ``ResumeServerless``, ``CreateBackup``...)."""

from __future__ import annotations

import ast
import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cloudflows.actions.task_requests import TaskKey, batch_request
from airflow_provider_cloudflows.actions.tencent import CYNOSDB_FLOW_ACTIONS
from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.operators.base import CloudExecutionOperator
from airflow_provider_cloudflows.operators.links import (
    TencentBatchJobLink,
    TencentCynosdbClusterLink,
    TencentEmrClusterLink,
)
from airflow_provider_cloudflows.transport.tencent import TencentCall

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_cloudflows.transport.client import CloudClient

# DescribeTaskLogs returns at most 10 instances per call (documented maximum of Limit).
LOG_INSTANCES_PER_CALL = 10
# Failed tasks whose instance logs are fetched into the task log on failure.
MAX_LOGGED_TASKS = 5


class _TencentOperator(CloudExecutionOperator):
    conn_id_param = "tencentcloud_conn_id"

    def __init__(self, *, tencentcloud_conn_id: str = TencentCloudHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=tencentcloud_conn_id, **kwargs)


class TencentBatchSubmitJobOperator(_TencentOperator):
    """Submit a Tencent Batch job (``SubmitJob``) and wait for the whole job (``DescribeJob``).

    The ``ClientToken`` is derived from the task instance and try number, so a repeated call of one try
    returns the same job. ``TerminateJob`` cancels it on kill and on timeout (Batch refuses while the job
    is SUBMITTED: the cancel is asked again until accepted or the job ends). On failure the failed
    instances' stdout/stderr (``DescribeTaskLogs``) are copied into the task log.

    :param placement: the ``Placement`` structure (e.g. ``{"Zone": "ap-guangzhou-3"}``), templated.
    :param job: the ``Job`` structure (``JobName``, ``Tasks``...), templated.
    :param fetch_logs_on_failure: copy the failed instances' logs into the task log (default on).
    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param poll_interval: seconds between status checks (default 30; the sensors take ``poke_interval``).
    :param timeout: start and wait must end within it (default 24 h), else the execution is cancelled
        (where possible) and the task fails with ``CloudExecutionTimeout``.

    ``region``, ``deferrable``, ``cancel_on_kill``, ``on_retry`` and ``start_from_trigger`` (start and wait
    in the triggerer, Airflow >= 3.3) are described on
    :class:`~airflow_provider_cloudflows.operators.base.CloudExecutionOperator`.
    """

    start_action = "tencent_batch_submit_job"
    template_fields: Sequence[str] = ("placement", "job", "region", "tencentcloud_conn_id")
    template_fields_renderers = {"placement": "json", "job": "json"}
    operator_extra_links = (TencentBatchJobLink(),)

    def __init__(
        self,
        *,
        placement: Mapping[str, Any],
        job: Mapping[str, Any],
        fetch_logs_on_failure: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.placement = placement
        self.job = job
        self.fetch_logs_on_failure = fetch_logs_on_failure

    def start_params(self, context: Context) -> dict[str, Any]:
        """``Placement`` and ``Job`` as rendered (the request a trigger builds the same way)."""
        return batch_request({"placement": self.placement, "job": self.job}, TaskKey.of(context["ti"]), self.on_retry)

    def failure_needs_worker(self) -> bool:
        """The failed instances' logs are copied by the worker: a failed job started from the trigger resumes
        it (one worker process per failure; a success still needs none)."""
        return bool(getattr(self, "fetch_logs_on_failure", True))  # read before __init__ ends too

    def on_execution_failed(self, state: Mapping[str, Any], client: CloudClient[Any]) -> None:
        """Copy the failed instances' stdout/stderr into the task log."""
        if not self.fetch_logs_on_failure:
            return
        job_id = state.get("JobId") or (state.get("identifiers") or {}).get("job_id")
        for task in (state.get("FailedTasks") or [])[:MAX_LOGGED_TASKS]:
            indexes = [i.get("TaskInstanceIndex") for i in task.get("FailedInstances") or []]
            indexes = [i for i in indexes if isinstance(i, int)][:LOG_INSTANCES_PER_CALL]
            if not indexes:
                continue
            params = {"JobId": job_id, "TaskName": task["TaskName"], "TaskInstanceIndexes": indexes}
            response = client.call(TencentCall("batch", "DescribeTaskLogs", "2017-03-12", params))
            for entry in response.body.get("TaskInstanceLogSet") or []:
                for stream in ("StdoutLog", "StderrLog"):
                    text = _decode_log(entry.get(stream))
                    if text:
                        self.log.error(
                            "job %s task %s instance %s %s:\n%s",
                            job_id,
                            task["TaskName"],
                            entry.get("TaskInstanceIndex"),
                            stream.removesuffix("Log").lower(),
                            text,
                        )


def _decode_log(value: Any) -> str:
    # Documented as Base64, at most 2048 bytes once decoded; show undecodable text as it came.
    if not isinstance(value, str) or not value:
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace").rstrip()
    except (binascii.Error, ValueError):
        return value


class TencentEmrScaleOutClusterOperator(_TencentOperator):
    """Scale an EMR cluster out (``ScaleOutCluster``) and wait for the flow (``DescribeClusterFlowStatusDetail``).

    Idempotent through ``ClientToken`` (EMR keeps it 5 minutes). EMR has no API to cancel a scale-out
    flow, so nothing is cancelled on kill or timeout. Returns the flow's final state plus ``FlowId``,
    ``TraceId`` and ``DealNames`` of the start reply.

    :param instance_id: the cluster (``emr-...``).
    :param node_count: how many nodes to add.
    :param node_flag: ``TASK`` (default), ``CORE``, ``ROUTER``...
    :param instance_charge_type: ``POSTPAID_BY_HOUR`` (default), ``PREPAID`` or ``SPOTPAID``.
    :param request: further ``ScaleOutCluster`` fields (``Tags``, ``ResourceSpec``...), merged last.
    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param poll_interval: seconds between status checks (default 30; the sensors take ``poke_interval``).
    :param timeout: start and wait must end within it (default 24 h), else the execution is cancelled
        (where possible) and the task fails with ``CloudExecutionTimeout``.

    ``region``, ``deferrable``, ``cancel_on_kill`` and ``on_retry`` are described on
    :class:`~airflow_provider_cloudflows.operators.base.CloudExecutionOperator`.
    """

    start_action = "tencent_emr_scale_out_cluster"
    template_fields: Sequence[str] = (
        "instance_id",
        "node_count",
        "node_flag",
        "request",
        "region",
        "tencentcloud_conn_id",
    )
    template_fields_renderers = {"request": "json"}
    operator_extra_links = (TencentEmrClusterLink(),)

    def __init__(
        self,
        *,
        instance_id: str,
        node_count: int | str,
        node_flag: str = "TASK",
        instance_charge_type: str = "POSTPAID_BY_HOUR",
        request: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.node_count = node_count
        self.node_flag = node_flag
        self.instance_charge_type = instance_charge_type
        self.request = request or {}

    def start_params(self, context: Context) -> dict[str, Any]:
        """InstanceId, InstanceChargeType and ScaleOutNodeConfig, then ``request``."""
        return {
            "InstanceId": self.instance_id,
            "InstanceChargeType": self.instance_charge_type,
            "ScaleOutNodeConfig": {"NodeFlag": self.node_flag, "NodeCount": int(self.node_count)},
            **dict(self.request),
        }


class TencentEmrTerminateClusterNodesOperator(_TencentOperator):
    """Scale an EMR cluster in (``TerminateClusterNodes``) and wait for the flow.

    The API takes no ClientToken: after an ambiguous failure (5xx, timeout) the call is not repeated and the
    task fails asking to check the console. Nothing to cancel.

    :param instance_id: the cluster (``emr-...``).
    :param cvm_instance_ids: the nodes to release (templated list).
    :param node_flag: ``TASK`` (default), ``CORE``, ``ROUTER``, ``MASTER``.
    :param request: further fields (``GraceDownFlag``, ``GraceDownTime``), merged last.
    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param poll_interval: seconds between status checks (default 30; the sensors take ``poke_interval``).
    :param timeout: start and wait must end within it (default 24 h), else the execution is cancelled
        (where possible) and the task fails with ``CloudExecutionTimeout``.

    ``region``, ``deferrable``, ``cancel_on_kill`` and ``on_retry`` are described on
    :class:`~airflow_provider_cloudflows.operators.base.CloudExecutionOperator`.
    """

    start_action = "tencent_emr_terminate_cluster_nodes"
    template_fields: Sequence[str] = (
        "instance_id",
        "cvm_instance_ids",
        "node_flag",
        "request",
        "region",
        "tencentcloud_conn_id",
    )
    operator_extra_links = (TencentEmrClusterLink(),)

    def __init__(
        self,
        *,
        instance_id: str,
        cvm_instance_ids: Sequence[str],
        node_flag: str = "TASK",
        request: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.cvm_instance_ids = cvm_instance_ids
        self.node_flag = node_flag
        self.request = request or {}

    def start_params(self, context: Context) -> dict[str, Any]:
        """InstanceId, CvmInstanceIds and NodeFlag, then ``request``."""
        return {
            "InstanceId": self.instance_id,
            "CvmInstanceIds": _id_list(self.cvm_instance_ids),
            "NodeFlag": self.node_flag,
            **dict(self.request),
        }


def _id_list(value: Sequence[str] | str) -> list[str]:
    # A Jinja template renders a list param as its Python repr unless the DAG renders native objects.
    if isinstance(value, str):
        text = value.strip()
        parsed = ast.literal_eval(text) if text.startswith("[") else text.split(",")
        return [str(item).strip() for item in parsed if str(item).strip()]
    return [str(item) for item in value]


class TencentCynosdbFlowActionOperator(_TencentOperator):
    """Run a CynosDB (TDSQL-C) action that returns a ``FlowId`` and wait for the flow (``DescribeFlow``).

    For the actions users run around ETL windows: ``PauseServerless``, ``ResumeServerless``, ``CreateBackup``
    (also ``RollBackCluster``, ``RestartInstance``, ``UpgradeClusterVersion``, ``SwitchClusterZone``). None
    takes a ClientToken, so an ambiguous failure is not repeated; none can be cancelled.

    :param action: the action name.
    :param cluster_id: the cluster (``cynosdbmysql-...``), sent as ``ClusterId``.
    :param request: further fields of the action (``BackupType``, ``ForcePause``...), merged last.
    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param poll_interval: seconds between status checks (default 30; the sensors take ``poke_interval``).
    :param timeout: start and wait must end within it (default 24 h), else the execution is cancelled
        (where possible) and the task fails with ``CloudExecutionTimeout``.

    ``region``, ``deferrable``, ``cancel_on_kill`` and ``on_retry`` are described on
    :class:`~airflow_provider_cloudflows.operators.base.CloudExecutionOperator`.
    """

    start_action = "tencent_cynosdb_flow_action"
    template_fields: Sequence[str] = ("cluster_id", "request", "region", "tencentcloud_conn_id")
    template_fields_renderers = {"request": "json"}
    operator_extra_links = (TencentCynosdbClusterLink(),)

    def __init__(
        self, *, action: str, cluster_id: str, request: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if action not in CYNOSDB_FLOW_ACTIONS:
            raise ValueError(f"action must be one returning a FlowId: {sorted(CYNOSDB_FLOW_ACTIONS)}; got {action!r}")
        super().__init__(**kwargs)
        self.action = action
        self.cluster_id = cluster_id
        self.request = request or {}

    def start_params(self, context: Context) -> dict[str, Any]:
        """The action and its request (``ClusterId`` first, then ``request``)."""
        return {"action": self.action, "request": {"ClusterId": self.cluster_id, **dict(self.request)}}

    def link_params(self) -> dict[str, Any]:
        """The cluster id, for the console link."""
        return {"cluster_id": self.cluster_id}
