"""The CloudFlow rule as tables, fed in memory: which DescribeExecution answers end a wait and how, when the
history is read for a failure's step and cause, and which listed executions the list proves running."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_cloudflows.errors import ServerError
from airflow_provider_cloudflows.services.alibaba_cloudflow import (
    MAX_HISTORY_PAGES,
    MAX_WAIT_SECONDS,
    AlibabaCloudFlowExecution,
)
from airflow_provider_cloudflows.services.base import CheckContext
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import Verdict as V
from airflow_provider_cloudflows.transport.alibaba import VENDOR
from tests.unit.services.canned import Answer, ok, replay

SPEC = AlibabaCloudFlowExecution()
IDS = {"flow_name": "etl_flow", "execution_name": "run_1"}
FAILED_STEP = {
    "Type": "TaskFailed",
    "StepName": "load",
    "EventDetail": json.dumps({"error": "FC.Timeout", "cause": "function timed out"}),
}


def described(status: Any, **fields: Any) -> Answer:
    return ok({"FlowName": "etl_flow", "Name": "run_1", "Status": status, **fields})


def history(*events: dict[str, Any], next_token: str = "") -> Answer:
    return ok({"Events": list(events), "NextToken": next_token})


def check(answers: list[Answer], *, wait_seconds: float = 0.0) -> Any:
    ctx = CheckContext(verdict=SPEC.table.verdict, wait_seconds=wait_seconds)
    return replay(SPEC.check(IDS, ctx), answers)


@dataclass(frozen=True)
class Case:
    answers: list[Answer]
    status: S
    verdict: V
    calls: list[str]
    reason: str | None = None


CASES = {
    "a starting execution waits": Case([described("Starting")], S.PENDING, V.WAITING, ["DescribeExecution"]),
    "a running execution waits": Case([described("Running")], S.RUNNING, V.WAITING, ["DescribeExecution"]),
    "a succeeded execution succeeds without reading its history": Case(
        [described("Succeeded")], S.SUCCEEDED, V.SUCCESS, ["DescribeExecution"]
    ),
    "a failed execution fails with the failing step from its history": Case(
        [described("Failed"), history({"Type": "StepStarted", "StepName": "load"}, FAILED_STEP)],
        S.FAILED,
        V.FAILURE,
        ["DescribeExecution", "GetExecutionHistory"],
        "step 'load' TaskFailed: FC.Timeout: function timed out",
    ),
    "a stopped execution fails as cancelled": Case(
        [described("Stopped"), history()], S.CANCELLED, V.FAILURE, ["DescribeExecution", "GetExecutionHistory"]
    ),
    "a timed-out execution fails": Case(
        [described("TimedOut"), history()], S.TIMED_OUT, V.FAILURE, ["DescribeExecution", "GetExecutionHistory"]
    ),
    "the history is read page by page": Case(
        [described("Failed"), history(next_token="p2"), history(FAILED_STEP)],
        S.FAILED,
        V.FAILURE,
        ["DescribeExecution", "GetExecutionHistory", "GetExecutionHistory"],
        "step 'load' TaskFailed: FC.Timeout: function timed out",
    ),
    "an unreadable history still fails the execution, saying why the step is missing": Case(
        [described("Failed"), ServerError("busy", vendor=VENDOR, code="InternalError", http_status=500)],
        S.FAILED,
        V.FAILURE,
        ["DescribeExecution", "GetExecutionHistory"],
        "(GetExecutionHistory failed: ",
    ),
    "an undocumented status is unknown and waits": Case(
        [described("Paused")], S.UNKNOWN, V.WAITING, ["DescribeExecution"]
    ),
    "a status of another type is unknown and waits": Case([described(3)], S.UNKNOWN, V.WAITING, ["DescribeExecution"]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_answers_decide_the_outcome(case: Case) -> None:
    run = check(case.answers)
    assert [call.action for call in run.calls] == case.calls
    assert run.result.status is case.status, run.result
    assert SPEC.table.verdict(run.result.vendor_status) is case.verdict
    if case.reason is None:
        assert run.result.reason is None
    else:
        assert run.result.reason is not None and run.result.reason.startswith(case.reason), run.result.reason


def test_a_runaway_history_is_read_for_a_bounded_number_of_pages() -> None:
    pages = [history(next_token=f"p{i}") for i in range(MAX_HISTORY_PAGES)]
    run = check([described("Failed"), *pages])
    assert len(run.calls) == 1 + MAX_HISTORY_PAGES
    assert run.result.status is S.FAILED


@pytest.mark.parametrize(("asked", "sent"), [(0, "0"), (25.7, "25"), (600, str(MAX_WAIT_SECONDS)), (-5, "0")])
def test_the_long_poll_asks_for_the_wait_capped_at_the_documented_minute(asked: float, sent: str) -> None:
    run = check([described("Running")], wait_seconds=asked)
    assert run.calls[0].params["WaitTimeSeconds"] == sent


@pytest.mark.parametrize(
    ("output", "details"),
    [
        ('{"rows": 7}', {"Output": {"rows": 7}, "OutputIsJson": True}),
        ("not json", {"Output": "not json", "OutputIsJson": False}),
    ],
)
def test_output_is_returned_parsed_when_it_is_json_and_as_text_with_a_warning_otherwise(
    output: str, details: dict[str, Any]
) -> None:
    snapshot = check([described("Succeeded", Output=output)]).result
    assert {key: snapshot.details[key] for key in details} == details
    assert bool(SPEC.warnings(snapshot)) is (details["OutputIsJson"] is False)


def test_the_list_proves_running_only_the_executions_listed_once_as_running() -> None:
    page = ok(
        {
            "Executions": [
                {"FlowName": "etl_flow", "Name": "run_1", "Status": "Running"},
                {"FlowName": "etl_flow", "Name": "twice", "Status": "Running"},
                {"FlowName": "etl_flow", "Name": "twice", "Status": "Running"},
                {"FlowName": "etl_flow", "Name": "ended", "Status": "Succeeded"},
                {"FlowName": "other_flow", "Name": "elsewhere", "Status": "Running"},
            ]
        }
    )
    run = replay(SPEC.read_many("etl_flow", ["run_1", "twice", "ended", "elsewhere"]), [page])
    assert [call.action for call in run.calls] == ["ListExecutions"]
    assert run.calls[0].params["FlowName"] == "etl_flow" and run.calls[0].params["Status"] == "Running"
    assert {name: snapshot.status for name, snapshot in run.result.items()} == {"run_1": S.RUNNING}
