"""Tencent Cloud start and cancel specs: Batch ``SubmitJob`` / ``TerminateJob``, EMR ``ScaleOutCluster`` /
``TerminateClusterNodes``, CynosDB FlowId-returning actions.

Field names are those of the official SDK models (tencentcloud-sdk-python-batch 2017-03-12, -emr
2019-01-03, -cynosdb 2019-01-07). Which calls take a ``ClientToken`` is read from the same models:
``SubmitJob`` and ``ScaleOutCluster`` do (EMR's token is valid 5 minutes); ``TerminateClusterNodes`` and the
CynosDB actions do not, so those are never repeated after an ambiguous failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions.base import Action, Cancelled, CancelSpec, Started, StartSpec, Write
from airflow_provider_cloudflows.errors import CloudApiError, InvalidRequestError, MalformedResponseError, NotFoundError
from airflow_provider_cloudflows.transport.tencent import VENDOR, TencentCall

BATCH_VERSION = "2017-03-12"
EMR_VERSION = "2019-01-03"
CYNOSDB_VERSION = "2019-01-07"
# Batch job states after which there is nothing left to terminate.
BATCH_FINAL_STATES = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
# How long to wait before asking again to terminate a job that Batch refused to terminate (SUBMITTED).
TERMINATE_RETRY_SECONDS = 2.0

# CynosDB actions documented to return a FlowId that DescribeFlow tracks (2019-01-07 models). Others are
# refused at construction: an action without a FlowId would fail only after it had been applied.
CYNOSDB_FLOW_ACTIONS = frozenset(
    {
        "PauseServerless",
        "ResumeServerless",
        "CreateBackup",
        "RollBackCluster",
        "RestartInstance",
        "UpgradeClusterVersion",
        "SwitchClusterZone",
    }
)


def _require(body: Mapping[str, Any], name: str, what: str) -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise MalformedResponseError(f"{what} answered without {name}", vendor=VENDOR)
    return value


class BatchSubmitJob(StartSpec):
    """``SubmitJob``: a job definition (``Placement`` + ``Job``); idempotent through ``ClientToken``."""

    name = "tencent_batch_submit_job"
    vendor = VENDOR
    service = "tencent_batch_job"
    cancel = "tencent_batch_terminate_job"
    takes_client_token = True

    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """One SubmitJob; the reply's JobId is what the job wait (``DescribeJob``) needs."""
        request = {"Placement": params["Placement"], "Job": params["Job"]}
        if client_token:
            request["ClientToken"] = client_token
        response = yield Write(TencentCall("batch", "SubmitJob", BATCH_VERSION, request), idempotent=bool(client_token))
        job_id = _require(response.body, "JobId", "batch:SubmitJob")
        return Started({"job_id": job_id}, response.request_id, {"JobId": job_id})


class BatchTerminateJob(CancelSpec):
    """``TerminateJob``: asynchronous; refused while the job is SUBMITTED, a no-op once it succeeded.

    Terminating twice is harmless, so the call is retried like a read. A refusal is read back with
    ``DescribeJob``: a job that has ended needs nothing more; one that has not is retried later.
    """

    name = "tencent_batch_terminate_job"
    vendor = VENDOR

    def cancel(self, identifiers: Mapping[str, Any]) -> Action:
        """TerminateJob, then (only when refused) DescribeJob to decide between done and try again."""
        job_id = identifiers["job_id"]
        try:
            response = yield Write(TencentCall("batch", "TerminateJob", BATCH_VERSION, {"JobId": job_id}), True)
        except NotFoundError as exc:
            return Cancelled(True, f"job {job_id} does not exist: nothing to terminate ({exc})", exc.request_id)
        except InvalidRequestError as exc:
            refusal: CloudApiError = exc
        else:
            return Cancelled(True, None, response.request_id)
        state = yield TencentCall("batch", "DescribeJob", BATCH_VERSION, {"JobId": job_id})
        job_state = state.body.get("JobState")
        if job_state in BATCH_FINAL_STATES:
            return Cancelled(True, f"job {job_id} already ended ({job_state})", state.request_id)
        return Cancelled(
            False,
            f"TerminateJob refused while the job is {job_state}: {refusal}",
            refusal.request_id,
            retry_after=TERMINATE_RETRY_SECONDS,
        )


class EmrScaleOutCluster(StartSpec):
    """``ScaleOutCluster``: idempotent through ``ClientToken`` (valid 5 minutes); waits on the FlowId."""

    name = "tencent_emr_scale_out_cluster"
    vendor = VENDOR
    service = "tencent_emr_flow"
    takes_client_token = True

    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """One ScaleOutCluster; FlowId (or TraceId when no FlowId is given) identifies the flow."""
        request = dict(params)
        if client_token:
            request["ClientToken"] = client_token
        response = yield Write(
            TencentCall("emr", "ScaleOutCluster", EMR_VERSION, request), idempotent=bool(client_token)
        )
        return _emr_started(response.body, response.request_id, str(params["InstanceId"]), "emr:ScaleOutCluster")


class EmrTerminateClusterNodes(StartSpec):
    """``TerminateClusterNodes`` (scale-in): no ClientToken, so never repeated after an ambiguous failure."""

    name = "tencent_emr_terminate_cluster_nodes"
    vendor = VENDOR
    service = "tencent_emr_flow"

    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """One TerminateClusterNodes; its FlowId identifies the scale-in flow."""
        response = yield Write(TencentCall("emr", "TerminateClusterNodes", EMR_VERSION, dict(params)), False)
        return _emr_started(response.body, response.request_id, str(params["InstanceId"]), "emr:TerminateClusterNodes")


def _emr_started(body: Mapping[str, Any], request_id: str | None, instance_id: str, what: str) -> Started:
    flow_id, trace_id = body.get("FlowId"), body.get("TraceId")
    if flow_id in (None, 0, "") and not trace_id:
        raise MalformedResponseError(f"{what} answered without FlowId or TraceId", vendor=VENDOR)
    # FlowId is an integer on the wire; the wait's FlowParam.FValue is a string.
    ids = (
        {"instance_id": instance_id, "flow_id": str(flow_id), "trace_id": None}
        if flow_id not in (None, 0, "")
        else {"instance_id": instance_id, "flow_id": None, "trace_id": str(trace_id)}
    )
    output = {k: body.get(k) for k in ("InstanceId", "FlowId", "TraceId", "DealNames", "BillId") if k in body}
    return Started(ids, request_id, output)


class CynosdbFlowAction(StartSpec):
    """A CynosDB action returning a ``FlowId`` (``PauseServerless``, ``ResumeServerless``, ``CreateBackup``...).

    ``params``: ``{"action": <name>, "request": {<the action's parameters>}}``. None takes a ClientToken.
    """

    name = "tencent_cynosdb_flow_action"
    vendor = VENDOR
    service = "tencent_cynosdb_flow"

    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """One action call; FlowId identifies the task flow."""
        action = params["action"]
        if action not in CYNOSDB_FLOW_ACTIONS:
            raise ValueError(f"CynosDB action {action!r} is not one returning a FlowId: {sorted(CYNOSDB_FLOW_ACTIONS)}")
        response = yield Write(TencentCall("cynosdb", action, CYNOSDB_VERSION, dict(params["request"])), False)
        flow_id = _require(response.body, "FlowId", f"cynosdb:{action}")
        return Started({"flow_id": flow_id}, response.request_id, {"FlowId": flow_id})
