"""Tencent Cloud start and cancel specs: Batch ``SubmitJob`` / ``TerminateJob``, EMR ``ScaleOutCluster`` /
``TerminateClusterNodes``, CynosDB FlowId-returning actions.

Field names are those of the official SDK models (tencentcloud-sdk-python-batch 2017-03-12, -emr
2019-01-03, -cynosdb 2019-01-07). Which calls take a ``ClientToken`` is read from the same models:
``SubmitJob`` and ``ScaleOutCluster`` do (EMR's token is valid 5 minutes); ``TerminateClusterNodes`` and the
CynosDB actions do not, so those are never repeated after an ambiguous failure.

An answer's ids count only as exactly the documented type and shape (``JobId`` a ``job-xxxxxxxx`` string,
``FlowId`` an integer > 0, ``TraceId`` a non-empty string): the wait trusts them as the execution this
task started, so anything else is :class:`WriteOutcomeUnknown` (the write may have been applied) rather than
a guess stored for the wait, and the same goes for the states a cancel reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions.base import (
    Action,
    Cancelled,
    CancelSpec,
    Started,
    StartSpec,
    Write,
    outcome_unknown,
)
from airflow_provider_cloudflows.errors import CloudApiError, InvalidRequestError, NotFoundError
from airflow_provider_cloudflows.transport.decoding import text_field
from airflow_provider_cloudflows.transport.tencent import VENDOR, TencentCall

BATCH_VERSION = "2017-03-12"
EMR_VERSION = "2019-01-03"
CYNOSDB_VERSION = "2019-01-07"
# Batch job states after which there is nothing left to terminate.
BATCH_FINAL_STATES = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
# Batch job ids: InvalidParameter.JobIdMalformed answers any other shape.
BATCH_JOB_ID = re.compile(r"job-[a-z0-9]{8}")
# Flow ids are int64 on the wire.
FLOW_ID_MAX = 2**63 - 1
# A TraceId longer than this is not an id (real ones are UUIDs).
TRACE_ID_MAX = 128
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


def _job_id(value: Any) -> str | None:
    return value if isinstance(value, str) and BATCH_JOB_ID.fullmatch(value) else None


def _flow_id(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= FLOW_ID_MAX
    return value if ok else None


def _trace_id(value: Any) -> str | None:
    ok = isinstance(value, str) and value == value.strip() and 0 < len(value) <= TRACE_ID_MAX and value.isprintable()
    return value if ok else None


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
        job_id = _job_id(response.body.get("JobId"))
        if job_id is None:
            raise outcome_unknown(
                "batch:SubmitJob",
                "JobId",
                response.body.get("JobId"),
                response.request_id,
                vendor=VENDOR,
                expected="a job id (job-xxxxxxxx)",
                check="look for the job in the Batch console's job list"
                + (f" (ClientToken {client_token})" if client_token else ""),
            )
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
        # The answer must be about this job (check_echo); only a documented final state means "already ended".
        state = yield TencentCall("batch", "DescribeJob", BATCH_VERSION, {"JobId": job_id}, {"JobId": job_id})
        job_state = state.body.get("JobState")
        if isinstance(job_state, str) and job_state in BATCH_FINAL_STATES:
            return Cancelled(True, f"job {job_id} already ended ({job_state})", state.request_id)
        return Cancelled(
            False,
            f"TerminateJob refused while the job is {text_field(job_state, 80)}: {refusal}",
            refusal.request_id,
            retry_after=TERMINATE_RETRY_SECONDS,
        )


class EmrScaleOutCluster(StartSpec):
    """``ScaleOutCluster``: idempotent through ``ClientToken`` (valid 5 minutes); waits on the FlowId."""

    name = "tencent_emr_scale_out_cluster"
    vendor = VENDOR
    service = "tencent_emr_flow"
    takes_client_token = True
    # Tencent documents EMR's ClientToken as valid 5 minutes.
    client_token_ttl = 300.0

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
    """FlowId when it is an id; else TraceId (a FlowId of 0, like a missing one, means "no flow id given")."""
    raw_flow, raw_trace = body.get("FlowId"), body.get("TraceId")
    flow_absent = raw_flow is None or (type(raw_flow) is int and raw_flow == 0)
    trace_absent = raw_trace is None or raw_trace == ""
    flow_id, trace_id = _flow_id(raw_flow), _trace_id(raw_trace)
    check = f"look at the cluster's operation log in the EMR console ({instance_id})"
    if (flow_id is None and not flow_absent) or (flow_absent and trace_absent):
        expected = "an integer flow id > 0" if not flow_absent else "an integer flow id > 0 or a TraceId"
        raise outcome_unknown(what, "FlowId", raw_flow, request_id, vendor=VENDOR, expected=expected, check=check)
    if trace_id is None and not trace_absent:
        expected = "a non-empty trace id string"
        raise outcome_unknown(what, "TraceId", raw_trace, request_id, vendor=VENDOR, expected=expected, check=check)
    # The wait's FlowParam.FValue is a string, even for a flow id.
    ids = (
        {"instance_id": instance_id, "flow_id": str(flow_id), "trace_id": None}
        if flow_id is not None
        else {"instance_id": instance_id, "flow_id": None, "trace_id": trace_id}
    )
    output: dict[str, Any] = {"FlowId": flow_id, "TraceId": trace_id}
    # The other fields go to the XCom only as their documented types.
    for name in ("InstanceId", "BillId"):
        if isinstance(body.get(name), str):
            output[name] = body[name]
    deals = body.get("DealNames")
    if isinstance(deals, list) and all(isinstance(deal, str) for deal in deals):
        output["DealNames"] = deals
    return Started(ids, request_id, {k: v for k, v in output.items() if v is not None})


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
        flow_id = _flow_id(response.body.get("FlowId"))
        if flow_id is None:
            raise outcome_unknown(
                f"cynosdb:{action}",
                "FlowId",
                response.body.get("FlowId"),
                response.request_id,
                vendor=VENDOR,
                expected="an integer flow id > 0",
                check="look at the cluster's task list in the CynosDB console",
            )
        return Started({"flow_id": flow_id}, response.request_id, {"FlowId": flow_id})
