"""The CloudFlow executions watch fed canned ListExecutions / GetExecutionHistory answers in memory: which
listings a sweep asks for, which items prove an execution ended, and what each finished one carries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_cloudflows.errors import CloudApiError, ThrottledError
from airflow_provider_cloudflows.registry import get_watch
from airflow_provider_cloudflows.services.alibaba_cloudflow_watch import (
    MAX_FAILURE_READS,
    MAX_SWEEP_PAGES,
    AlibabaCloudFlowExecutions,
    rfc3339,
)
from airflow_provider_cloudflows.services.utc_times import epoch_seconds
from airflow_provider_cloudflows.services.watching import Sweep
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.transport.alibaba import VENDOR
from tests.unit.services.canned import Answer, Replay, ok, replay

FLOW = "etl_flow"
PARAMS = {"flow_name": FLOW, "execution_name_prefix": None}
STARTED = "2026-12-06T10:00:00.000Z"
STOPPED = "2026-12-06T10:05:00.250Z"
SINCE = epoch_seconds("2026-12-06T09:50:00Z") or 0.0


def execution(name: str, status: Any, **fields: Any) -> dict[str, Any]:
    item = {"Name": name, "FlowName": FLOW, "Status": status, "StartedTime": STARTED}
    if status in ("Succeeded", "Failed", "Stopped", "TimedOut"):
        item["StoppedTime"] = STOPPED
    return {**item, **fields}


def page(*items: dict[str, Any], next_token: str = "") -> Answer:
    body: dict[str, Any] = {"Executions": list(items)}
    if next_token:
        body["NextToken"] = next_token
    return ok(body)


def history(error: str, cause: str, kind: str = "ExecutionFailed") -> Answer:
    events = [
        {"Type": "StepFailed", "StepName": "load", "EventDetail": json.dumps({"error": "Step", "cause": "step"})},
        {"Type": kind, "StepName": "", "EventDetail": json.dumps({"error": error, "cause": cause})},
    ]
    return ok({"Events": events})


def sweep(answers: list[Answer], *, resume_from: float | None = SINCE, spec: Any = None) -> Replay[Sweep]:
    watch = spec or AlibabaCloudFlowExecutions()
    return replay(watch.sweep(PARAMS, SINCE, resume_from), answers)


def by_id(result: Sweep) -> dict[str, Any]:
    return {item.id: item for item in result.finished}


def test_the_watch_is_registered_under_its_name() -> None:
    assert isinstance(get_watch("alibaba_cloudflow_executions"), AlibabaCloudFlowExecutions)


@pytest.mark.parametrize(
    ("vendor_status", "status"),
    [("Succeeded", S.SUCCEEDED), ("Failed", S.FAILED), ("Stopped", S.CANCELLED), ("TimedOut", S.TIMED_OUT)],
)
def test_each_final_status_of_the_table_is_a_finished_execution(vendor_status: str, status: S) -> None:
    answers = [page(execution("run_1", vendor_status))]
    if vendor_status != "Succeeded":
        answers.append(history("E", "C"))
    item = sweep(answers).result.finished[0]
    assert (item.id, item.status, item.vendor_status) == ("run_1", status, vendor_status)
    assert item.finished_at == epoch_seconds(STOPPED)


def test_a_succeeded_execution_carries_its_parsed_output_and_times_without_a_history_read() -> None:
    run = sweep([page(execution("run_1", "Succeeded", Output='{"rows": 42}'))])
    assert [call.action for call in run.calls] == ["ListExecutions"]
    assert run.result.finished[0].details == {
        "name": "run_1",
        "flow_name": FLOW,
        "started_at": STARTED,
        "stopped_at": STOPPED,
        "output": {"rows": 42},
    }


def test_an_output_that_is_not_json_is_kept_as_text_and_an_empty_one_is_none() -> None:
    run = sweep([page(execution("a", "Succeeded", Output="not {json"), execution("b", "Succeeded", Output=""))])
    assert {k: v.details["output"] for k, v in by_id(run.result).items()} == {"a": "not {json", "b": None}


def test_a_failed_execution_carries_the_error_and_cause_of_its_ending_event() -> None:
    run = sweep([page(execution("run_1", "Failed")), history("FC.Timeout", "function timed out")])
    assert [call.action for call in run.calls] == ["ListExecutions", "GetExecutionHistory"]
    assert run.calls[1].params["ExecutionName"] == "run_1"
    details = run.result.finished[0].details
    assert (details["error"], details["cause"]) == ("FC.Timeout", "function timed out")


def test_a_history_is_read_once_per_spec_instance() -> None:
    spec = AlibabaCloudFlowExecutions()
    sweep([page(execution("run_1", "Failed")), history("E", "C")], spec=spec)
    again = sweep([page(execution("run_1", "Failed"))], spec=spec)
    assert [call.action for call in again.calls] == ["ListExecutions"]
    assert again.result.finished[0].details["error"] == "E"


def test_an_unreadable_history_leaves_the_execution_reported_without_error_and_cause() -> None:
    throttled = ThrottledError("slow down", vendor=VENDOR, code="Throttling")
    item = sweep([page(execution("run_1", "Failed")), throttled]).result.finished[0]
    assert (item.status, item.details["error"], item.details["cause"]) == (S.FAILED, None, None)


def test_histories_read_in_one_sweep_are_bounded_newest_end_first() -> None:
    count = MAX_FAILURE_READS + 3
    items = [execution(f"run_{n:02d}", "Failed", StoppedTime=f"2026-12-06T10:{n:02d}:00.000Z") for n in range(count)]
    answers = [page(*items)] + [history(f"E{n}", "C") for n in range(MAX_FAILURE_READS)]
    run = sweep(answers)
    read = [call.params["ExecutionName"] for call in run.calls[1:]]
    assert read == [f"run_{n:02d}" for n in range(count - 1, 2, -1)]
    unread = by_id(run.result)["run_00"]
    assert (unread.details["error"], unread.details["cause"]) == (None, None)
    assert len(run.result.finished) == count


def test_pages_are_followed_with_next_token_and_limit_100() -> None:
    run = sweep(
        [page(execution("a", "Succeeded"), next_token="b"), page(execution("b", "Succeeded"), next_token="c"), page()]
    )
    assert [call.params.get("NextToken") for call in run.calls] == [None, "b", "c"]
    assert {call.params["Limit"] for call in run.calls} == {"100"}
    assert {call.params["FlowName"] for call in run.calls} == {FLOW}
    assert sorted(by_id(run.result)) == ["a", "b"]


def test_a_listing_that_never_ends_fails_with_a_typed_error() -> None:
    answers = [page(next_token="again")] * MAX_SWEEP_PAGES
    with pytest.raises(CloudApiError) as raised:
        sweep(answers)
    assert raised.value.code == "TooManyPages"


def test_a_known_resume_from_lists_from_the_earlier_of_it_and_since() -> None:
    earlier = SINCE - 3600
    run = sweep([page()], resume_from=earlier)
    assert run.calls[0].params["StartedTimeBegin"] == "2026-12-06T08:50:00.000Z"
    assert "Status" not in run.calls[0].params
    assert sweep([page()], resume_from=SINCE + 60).calls[0].params["StartedTimeBegin"] == "2026-12-06T09:50:00.000Z"


def test_the_listing_start_is_cloudflows_utc_time_rounded_down_to_the_millisecond() -> None:
    assert rfc3339(epoch_seconds("2026-12-06T10:00:00.0009Z") or 0.0) == "2026-12-06T10:00:00.000Z"
    assert rfc3339(epoch_seconds("2026-12-06T18:00:00.5+08:00") or 0.0) == "2026-12-06T10:00:00.500Z"
    assert rfc3339(epoch_seconds("0001-01-01T00:00:00Z") or 0.0) == "0001-01-01T00:00:00.000Z"


def test_a_first_sweep_lists_running_executions_first_and_starts_from_the_oldest() -> None:
    old = execution("old", "Running", StartedTime="2026-12-01T00:00:00.000Z")
    run = sweep([page(old, execution("new", "Running")), page(old)], resume_from=None)
    first, second = (call.params for call in run.calls)
    assert (first["Status"], first["MetadataOnly"]) == ("Running", "true")
    assert "StartedTimeBegin" not in first
    assert second["StartedTimeBegin"] == "2026-12-01T00:00:00.000Z"
    assert run.result.resume_from == epoch_seconds("2026-12-01T00:00:00.000Z")


def test_a_first_sweep_with_nothing_running_lists_from_since() -> None:
    run = sweep([page(), page()], resume_from=None)
    assert run.calls[1].params["StartedTimeBegin"] == "2026-12-06T09:50:00.000Z"
    assert run.result == Sweep()


def test_resume_from_is_the_earliest_start_still_running_or_starting() -> None:
    items = [
        execution("a", "Running", StartedTime="2026-12-06T10:00:00.000Z"),
        execution("b", "Starting", StartedTime="2026-12-06T09:00:00.000Z"),
        execution("c", "Succeeded", StartedTime="2026-12-06T08:00:00.000Z"),
    ]
    result = sweep([page(*items)]).result
    assert result.resume_from == epoch_seconds("2026-12-06T09:00:00.000Z")
    assert [item.id for item in result.finished] == ["c"]


@pytest.mark.parametrize(
    ("case", "item"),
    [
        ("no StoppedTime", execution("x", "Succeeded", StoppedTime=None)),
        ("an empty StoppedTime", execution("x", "Succeeded", StoppedTime="")),
        ("a StoppedTime without a zone", execution("x", "Succeeded", StoppedTime="2026-12-06T10:05:00")),
        ("a numeric StoppedTime", execution("x", "Succeeded", StoppedTime=1765015500)),
        ("a status in another case", execution("x", "succeeded")),
        ("a status with a space", execution("x", "Succeeded ")),
        ("a numeric status", execution("x", 2)),
        ("a name that is not a string", execution(7, "Succeeded")),  # type: ignore[arg-type]
        ("no name", {k: v for k, v in execution("x", "Succeeded").items() if k != "Name"}),
        ("another flow", execution("x", "Succeeded", FlowName="other_flow")),
        ("no flow", {k: v for k, v in execution("x", "Succeeded").items() if k != "FlowName"}),
    ],
)
def test_an_item_that_proves_nothing_is_left_out_without_an_exception(case: str, item: dict[str, Any]) -> None:
    result = sweep([page(item, execution("good", "Succeeded"))]).result
    assert [finished.id for finished in result.finished] == ["good"], case


def test_a_running_item_without_a_readable_start_does_not_set_resume_from() -> None:
    assert sweep([page(execution("x", "Running", StartedTime="yesterday"))]).result.resume_from is None


def test_a_running_execution_listed_twice_still_moves_the_listing_start_earlier() -> None:
    old = execution("old", "Running", StartedTime="2026-12-01T00:00:00.000Z")
    run = sweep([page(old, next_token="n"), page(old), page(old, next_token="m"), page(old)], resume_from=None)
    assert run.calls[2].params["StartedTimeBegin"] == "2026-12-01T00:00:00.000Z"
    assert run.result.resume_from == epoch_seconds("2026-12-01T00:00:00.000Z")


def test_an_execution_listed_twice_proves_nothing() -> None:
    run = sweep([page(execution("dup", "Succeeded"), next_token="n"), page(execution("dup", "Failed"))])
    assert run.result.finished == ()


@pytest.mark.parametrize("executions", [None, "Succeeded", {"Name": "x"}, [None, 3, "x"]])
def test_an_ill_typed_executions_field_lists_nothing(executions: Any) -> None:
    assert sweep([ok({"Executions": executions})]).result == Sweep()


def test_a_prefix_is_sent_and_an_item_outside_it_proves_nothing() -> None:
    spec = AlibabaCloudFlowExecutions()
    params = spec.normalize({"flow_name": FLOW, "execution_name_prefix": "nightly_"})
    items = [execution("nightly_1", "Succeeded"), execution("hourly_1", "Succeeded")]
    run = replay(spec.sweep(params, SINCE, SINCE), [page(*items)])
    assert run.calls[0].params["ExecutionNamePrefix"] == "nightly_"
    assert [item.id for item in run.result.finished] == ["nightly_1"]


def test_a_vendor_error_of_the_list_propagates_typed() -> None:
    with pytest.raises(ThrottledError):
        sweep([ThrottledError("slow down", vendor=VENDOR, code="Throttling")])


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "flow_name"),
        ({"flow_name": ""}, "flow_name"),
        ({"flow_name": "bad name"}, "flow_name"),
        ({"flow_name": 3}, "flow_name"),
        ({"flow_name": FLOW, "execution_name_prefix": "bad/prefix"}, "execution_name_prefix"),
        ({"flow_name": FLOW, "flowname": FLOW}, "flowname"),
    ],
)
def test_bad_params_raise_a_value_error_naming_the_parameter(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AlibabaCloudFlowExecutions().normalize(params)


def test_params_normalize_to_both_names() -> None:
    assert AlibabaCloudFlowExecutions().normalize({"flow_name": FLOW}) == PARAMS
