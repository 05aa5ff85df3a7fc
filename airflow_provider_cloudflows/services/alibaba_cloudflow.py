"""Alibaba Cloud CloudFlow executions: ``DescribeExecution`` (2019-03-15) with long polling.

A long poll holds one request up to a minute and answers the moment the execution ends, but every poll
takes a token from ``DescribeExecution``'s bucket (50, refilled at 5/s per account): past a few hundred waits
per account the bucket runs dry. So while a process runs ``LIST_FROM`` waits or more of one account and
region, the waits of one flow read ``ListExecutions`` of its running executions instead (10 at 2/s, 100 per
page): one call answers "still running" for up to a hundred of them. Only that answer is taken from the
list; an execution missing from it may have ended, and its own long poll (answered at once) reads its end
and ``Output``.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping, Sequence
from typing import Any

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.services.base import (
    BatchCheck,
    Check,
    CheckContext,
    Listing,
    ServiceSpec,
    Snapshot,
    mapping,
    objects,
    parse_embedded_json,
    text,
    text_field,
)
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import StateTable, Verdict
from airflow_provider_cloudflows.transport.alibaba import VENDOR, AlibabaCall
from airflow_provider_cloudflows.transport.messages import ApiResponse

VERSION = "2019-03-15"
MAX_WAIT_SECONDS = 60
HISTORY_PAGE = 100
# A runaway history (loops with thousands of steps) must not turn one failure into hundreds of calls.
MAX_HISTORY_PAGES = 10
NAME_RULE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
# ListExecutions answers at most 100 executions a page; a flow with more running executions than the pages
# read leaves the rest to their own long polls.
LIST_PAGE = 100
MAX_LIST_PAGES = 5
# Waits per account and region in one process from which flows are listed: long polls up to this many stay
# within DescribeExecution's refill (5/s x 60 s = 300 polls a minute) with room for the ends' own reads.
LIST_FROM = 200
RUNNING = "Running"


def check_name(ids: Mapping[str, Any], name: str) -> str:
    """The CloudFlow name ``ids[name]``, or a ValueError naming the parameter and the documented rule."""
    value = ids.get(name)
    if not isinstance(value, str) or not NAME_RULE.fullmatch(value):
        raise ValueError(
            f"{name} {value!r} is not a valid CloudFlow name: 1-128 characters, letters, digits, '_' and '-', "
            "starting with a letter or '_'"
        )
    return value


def _is_failure_event(event: Mapping[str, Any]) -> bool:
    kind = text(event.get("Type")) or ""
    return kind.endswith(("Failed", "TimedOut")) and kind != "ExecutionFailed"


def listed_executions(body: Mapping[str, Any], flow_name: str) -> list[Mapping[str, Any]]:
    """The object items of one ListExecutions page that name ``flow_name`` as their flow (others prove nothing)."""
    return [item for item in objects(body.get("Executions")) if item.get("FlowName") == flow_name]


def history_events(names: Mapping[str, str]) -> Generator[Any, ApiResponse, list[Mapping[str, Any]]]:
    """GetExecutionHistory of one execution (``FlowName``, ``ExecutionName``), up to ``MAX_HISTORY_PAGES``
    pages: its events; a vendor error propagates."""
    events: list[Mapping[str, Any]] = []
    token = ""
    for _ in range(MAX_HISTORY_PAGES):
        params = {**names, "Limit": str(HISTORY_PAGE)}
        if token:
            params["NextToken"] = token
        page = yield AlibabaCall("GetExecutionHistory", VERSION, params)
        events.extend(objects(mapping(page.body).get("Events")))
        token = text(page.body.get("NextToken"), 1000) or ""
        if not token:
            break
    return events


def failure_reason(events: list[Mapping[str, Any]]) -> str | None:
    """The failing step and its cause, from the last failure event of an execution's history."""
    failures = [e for e in events if _is_failure_event(e)] or [
        e for e in events if (text(e.get("Type")) or "").endswith(("Failed", "TimedOut", "Stopped"))
    ]
    if not failures:
        return None
    last = failures[-1]
    detail_text = last.get("EventDetail") or ""
    parsed, is_json = parse_embedded_json(detail_text)
    detail = parsed if is_json and isinstance(parsed, Mapping) else {"cause": detail_text}
    error = text_field(detail.get("error") or detail.get("Error") or None, 300)
    cause = text_field(detail.get("cause") or detail.get("Cause") or None, 300)
    step = text(last.get("StepName"), 200) or "(execution)"
    line = f"step {step!r} {text(last.get('Type'), 100)}"
    if error:
        line += f": {error}"
    if cause:
        line += f": {cause}"
    return line


class AlibabaCloudFlowExecution(ServiceSpec):
    """A CloudFlow (Serverless Workflow) execution, observed with long polling."""

    name = "alibaba_cloudflow_execution"
    vendor = VENDOR
    title = "Alibaba CloudFlow execution"
    identifiers = ("flow_name", "execution_name")
    supports_long_polling = True
    batch_size = LIST_PAGE * MAX_LIST_PAGES
    batch_account_crowd = LIST_FROM
    batch_lists_group = True
    table = StateTable(
        "Status",
        {
            "Starting": S.PENDING,
            "Running": S.RUNNING,
            "Succeeded": S.SUCCEEDED,
            "Failed": S.FAILED,
            "Stopped": S.CANCELLED,
            "TimedOut": S.TIMED_OUT,
        },
    )

    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """Names are checked against the documented rules before any call."""
        return {"flow_name": check_name(ids, "flow_name"), "execution_name": check_name(ids, "execution_name")}

    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """DescribeExecution (long-polled); on failure, GetExecutionHistory for the failing step."""
        wait = max(0, min(MAX_WAIT_SECONDS, int(ctx.wait_seconds)))
        names = {"FlowName": ids["flow_name"], "ExecutionName": ids["execution_name"]}
        # The answer names its flow and execution: an answer about another one is a protocol error.
        echo = {"FlowName": ids["flow_name"], "Name": ids["execution_name"]}
        response = yield AlibabaCall("DescribeExecution", VERSION, {**names, "WaitTimeSeconds": str(wait)}, wait, echo)
        body = response.body
        status = body.get("Status")
        reason = None
        if ctx.verdict(status) is Verdict.FAILURE:
            reason = yield from self._history_reason(names)
        details: dict[str, Any] = {
            "FlowName": body.get("FlowName"),
            "Name": body.get("Name"),
            "StartedTime": body.get("StartedTime"),
            "StoppedTime": body.get("StoppedTime"),
        }
        output = body.get("Output")
        if output not in (None, ""):
            # Output is documented as a JSON string; anything else (or JSON refused as unsafe) is kept as is.
            parsed, is_json = parse_embedded_json(output)
            details["Output"], details["OutputIsJson"] = (parsed, True) if is_json else (output, False)
        return Snapshot(
            vendor_status=status,
            status=self.table.status_of(status),
            request_id=response.request_id,
            reason=reason,
            details=details,
        )

    def batch_group(self, ids: Mapping[str, Any]) -> str:
        """The flow: one ListExecutions lists its running executions."""
        return str(ids["flow_name"])

    def batch_item(self, ids: Mapping[str, Any]) -> str:
        """The execution name, as ``Executions[].Name`` names it."""
        return str(ids["execution_name"])

    def read_many(self, group: str, items: Sequence[str]) -> BatchCheck:
        """ListExecutions of the flow's running executions (metadata only), up to ``MAX_LIST_PAGES`` pages; a
        snapshot per execution listed exactly once as running (asked or not)."""
        listing = Listing(None, "Name")
        request_id = None
        token = ""
        for _ in range(MAX_LIST_PAGES):
            params = {"FlowName": group, "Status": RUNNING, "MetadataOnly": "true", "Limit": str(LIST_PAGE)}
            if token:
                params["NextToken"] = token
            page = yield AlibabaCall("ListExecutions", VERSION, params)
            request_id = page.request_id
            listing.add(listed_executions(page.body, group))
            token = text(page.body.get("NextToken"), 1000) or ""
            if not token or listing.complete():
                break
        return {
            name: Snapshot(
                vendor_status=RUNNING,
                status=self.table.status_of(RUNNING),
                request_id=request_id,
                details={"FlowName": group, "Name": name, "StartedTime": item.get("StartedTime")},
            )
            for name, item in listing.once().items()
            # Only "still running" is read from the list: an end is read with its Output by the wait.
            if item.get("Status") == RUNNING
        }

    def _history_reason(self, names: Mapping[str, str]) -> Any:
        try:
            events = yield from history_events(names)
        except CloudApiError as exc:
            # The execution has failed either way; an unreadable history must not hide that.
            return f"(GetExecutionHistory failed: {exc})"
        return failure_reason(events)

    def warnings(self, snapshot: Snapshot) -> list[str]:
        """A non-JSON Output is returned as text, with a warning."""
        if snapshot.details.get("OutputIsJson") is False:
            return ["Output is not valid JSON; it is returned as text"]
        return []
