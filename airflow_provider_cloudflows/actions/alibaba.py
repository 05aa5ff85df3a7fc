"""Alibaba Cloud CloudFlow (``fnf`` 2019-03-15) start and cancel specs: ``StartExecution`` / ``StopExecution``.

Both are RPC POSTs with a form body (``alibabacloud_fnf20190315``: ``req_body_type='formData'``).

``StartExecution`` is idempotent by ``ExecutionName``: for a name that is running, CloudFlow answers with
that running execution; for a name whose execution has ended it answers ``ExecutionAlreadyExists``. So the
call may be repeated safely after an ambiguous failure, and a retried task that sends the same name
reattaches to a running execution by itself. A finished one is handled per the operator's ``on_retry``:
``reattach`` adopts a *succeeded* execution (its result is the task's), anything else (a failed, stopped or
timed-out execution, or ``start_new``) starts again under the name suffixed with the try number.

``StopExecution`` only stops an execution in progress; a refusal is read back with ``DescribeExecution``:
an execution that has ended needs nothing more.

Every answer read here must name the very execution asked for (``FlowName`` and ``Name``, checked by the
transport's ``check_echo``), and a ``Status`` counts only as exactly a documented value: the names the wait
stores come from an answer about them, and an undocumented status is never taken for "ended".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions.base import Action, Cancelled, CancelSpec, Started, StartSpec, Write
from airflow_provider_cloudflows.errors import CloudApiError, InvalidRequestError, MalformedResponseError, NotFoundError
from airflow_provider_cloudflows.transport.alibaba import VENDOR, AlibabaCall
from airflow_provider_cloudflows.transport.decoding import text_field

VERSION = "2019-03-15"
ALREADY_EXISTS = "ExecutionAlreadyExists"
FINAL_STATUSES = ("Succeeded", "Failed", "Stopped", "TimedOut")
STATUSES = ("Starting", "Running", *FINAL_STATUSES)
# How long to wait before asking again to stop an execution that CloudFlow refused to stop (Starting).
STOP_RETRY_SECONDS = 2.0
STOP_ERROR = "Airflow.TaskStopped"
STOP_CAUSE = "Stopped by Airflow: the task was killed or timed out (cancel_on_kill)"


def _start_call(flow_name: str, execution_name: str, params: Mapping[str, Any]) -> Write:
    form = {"FlowName": flow_name, "ExecutionName": execution_name}
    if params.get("Input") is not None:
        form["Input"] = str(params["Input"])
    if params.get("Qualifier"):
        form["Qualifier"] = str(params["Qualifier"])
    # Idempotent by ExecutionName: a repeat returns the same (running) execution or ExecutionAlreadyExists.
    return Write(AlibabaCall("StartExecution", VERSION, {}, echo=_echo(flow_name, execution_name), form=form), True)


def _echo(flow_name: str, execution_name: str) -> dict[str, str]:
    # The fields of StartExecution / StopExecution / DescribeExecution answers naming the execution.
    return {"FlowName": flow_name, "Name": execution_name}


def _status(response: Any, what: str) -> str:
    """The answer's Status, exactly a documented value; anything else is a typed error naming it."""
    status = response.body.get("Status")
    if not isinstance(status, str) or status not in STATUSES:
        raise MalformedResponseError(
            f"{what} answered Status={text_field(status, 80)}, not one of {list(STATUSES)}",
            vendor=VENDOR,
            code="UndocumentedStatus",
            request_id=response.request_id,
        )
    return status


def _started(flow_name: str, execution_name: str, request_id: str | None, how: str) -> Started:
    return Started(
        {"flow_name": flow_name, "execution_name": execution_name},
        request_id,
        {"FlowName": flow_name, "ExecutionName": execution_name, "StartedBy": how},
    )


class CloudFlowStartExecution(StartSpec):
    """``StartExecution``; ``params``: ``FlowName``, ``ExecutionName``, ``Input`` (JSON text), ``Qualifier``,
    ``on_exists`` (``reattach`` / ``start_new``) and ``retry_name`` (the name to start under when the first
    one's execution has ended and is not adopted; None: adopt it whatever its end)."""

    name = "alibaba_cloudflow_start_execution"
    vendor = VENDOR
    service = "alibaba_cloudflow_execution"
    cancel = "alibaba_cloudflow_stop_execution"
    idempotent_by_name = True

    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """StartExecution; on ExecutionAlreadyExists, DescribeExecution decides: adopt, or start again."""
        flow, name = str(params["FlowName"]), str(params["ExecutionName"])
        try:
            response = yield _start_call(flow, name, params)
        except CloudApiError as exc:
            if exc.code != ALREADY_EXISTS:
                raise
        else:
            return _started(flow, name, response.request_id, "StartExecution")
        existing = yield AlibabaCall(
            "DescribeExecution", VERSION, {"FlowName": flow, "ExecutionName": name}, echo=_echo(flow, name)
        )
        status = _status(existing, "DescribeExecution")
        retry_name = params.get("retry_name")
        adopt = (status == "Succeeded" and params.get("on_exists", "reattach") == "reattach") or not retry_name
        if adopt or retry_name == name:
            return _started(flow, name, existing.request_id, f"{ALREADY_EXISTS} ({status}): adopted")
        try:
            response = yield _start_call(flow, str(retry_name), params)
        except CloudApiError as exc:
            if exc.code != ALREADY_EXISTS:
                raise
            # This try's own execution, started before (a worker restarted mid-try): wait on it.
            return _started(flow, str(retry_name), exc.request_id, f"{ALREADY_EXISTS}: this try's own")
        return _started(flow, str(retry_name), response.request_id, f"StartExecution (after {name} ended {status})")


class CloudFlowStopExecution(CancelSpec):
    """``StopExecution`` (only while in progress); stopping twice is harmless, so it is retried like a read."""

    name = "alibaba_cloudflow_stop_execution"
    vendor = VENDOR

    def cancel(self, identifiers: Mapping[str, Any]) -> Action:
        """StopExecution, then (only when refused) DescribeExecution to decide between done and try again."""
        names = {"FlowName": str(identifiers["flow_name"]), "ExecutionName": str(identifiers["execution_name"])}
        form = {**names, "Error": STOP_ERROR, "Cause": STOP_CAUSE}
        echo = _echo(names["FlowName"], names["ExecutionName"])
        try:
            response = yield Write(AlibabaCall("StopExecution", VERSION, {}, echo=echo, form=form), idempotent=True)
        except NotFoundError as exc:
            return Cancelled(True, f"execution does not exist: nothing to stop ({exc})", exc.request_id)
        except InvalidRequestError as exc:
            refusal: CloudApiError = exc
        else:
            return Cancelled(True, None, response.request_id)
        state = yield AlibabaCall("DescribeExecution", VERSION, names, echo=echo)
        status = state.body.get("Status")
        if isinstance(status, str) and status in FINAL_STATUSES:
            return Cancelled(True, f"execution already ended ({status})", state.request_id)
        return Cancelled(
            False,
            f"StopExecution refused while the execution is {text_field(status, 80)}: {refusal}",
            refusal.request_id,
            retry_after=STOP_RETRY_SECONDS,
        )
