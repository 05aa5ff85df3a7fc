"""Payload builders: realistic, self-consistent payloads built on the documented examples."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from cloudflows_emulator import (
    BatchPhase,
    EmrPhase,
    cloudflow_execution,
    cynosdb_flow,
    emr_flow,
    load_example,
)
from cloudflows_emulator.examples import EXAMPLES


def _payloads(execution: Any) -> list[dict[str, Any]]:
    return [payload for _, payload in execution.timeline]


def test_examples_are_the_documented_responses() -> None:
    assert set(EXAMPLES) == {
        "emr_describe_cluster_flow_status_detail",
        "cynosdb_describe_flow",
        "batch_describe_task",
        "fnf_describe_execution",
        "dws_list_cluster_actions",
    }
    emr = load_example("emr_describe_cluster_flow_status_detail")["Response"]
    assert (emr["FlowTotalStatus"], emr["FlowTotalProgress"], emr["RequestId"]) == (
        1,
        0.38,
        "d9ad966c-9db0-409f-a2da-4c23350772d3",
    )
    assert load_example("cynosdb_describe_flow") == {"Response": {"Status": 0, "RequestId": "186253"}}
    batch = load_example("batch_describe_task")["Response"]
    assert batch["TaskInstanceTotalCount"] == 2
    assert batch["TaskInstanceSet"][0]["RedirectInfo"]["StdoutRedirectFileName"] == "stdout.job-97zcl3wt.A.1.log"
    fnf = load_example("fnf_describe_execution")
    assert fnf["Output"] == '{"key":"value"}'
    # Callers get copies.
    fnf["Status"] = "x"
    assert load_example("fnf_describe_execution")["Status"] == "Succeeded"


def test_emr_stages_follow_the_phases() -> None:
    flow = emr_flow(
        "emr-1",
        flow_id=7,
        trace_id="t-1",
        phases=[(0, 0), (1, 1, "applyCvm"), (2, 1, 5), EmrPhase(3, -1, failed_reason="disk full")],
    )
    assert flow.keys == (("emr-1", "FlowId", "7"), ("emr-1", "TraceId", "t-1"))
    init, applying, prepare, failed = _payloads(flow)
    assert {s["Status"] for s in init["StageDetails"]} == {4}
    assert [s["Status"] for s in applying["StageDetails"]] == [2, 1, 4, 4, 4, 4, 4, 4]
    assert applying["FlowTotalProgress"] == round(1 / 8, 2)
    assert [s["Status"] for s in prepare["StageDetails"]] == [2, 2, 2, 2, 2, 1, 4, 4]
    # The failure keeps the previous phase's stage.
    assert [s["Status"] for s in failed["StageDetails"]] == [2, 2, 2, 2, 2, -1, 4, 4]
    stage = failed["StageDetails"][5]
    assert (stage["FailedReason"], stage["Desc"]) == ("disk full", "Failed")
    assert stage["Starttime"] != "0000-00-00 00:00:00"
    assert stage["Endtime"] != "0000-00-00 00:00:00"
    assert failed["StageDetails"][6]["Starttime"] == "0000-00-00 00:00:00"
    # Fields of the documented example are all there.
    example = load_example("emr_describe_cluster_flow_status_detail")["Response"]
    assert set(failed) | {"RequestId"} == set(example)
    assert set(failed["StageDetails"][0]) == set(example["StageDetails"][0])


def test_emr_completed_and_custom_stages() -> None:
    flow = emr_flow("emr-1", trace_id="t", stages=["Create cluster", "Install"], phases=[(0, 1), (1, 2)])
    running, done = _payloads(flow)
    assert [s["Stage"] for s in running["StageDetails"]] == ["createCluster", "install"]
    assert (done["FlowTotalStatus"], done["FlowTotalProgress"]) == (2, 1.0)
    assert all(s["Status"] == 2 for s in done["StageDetails"])
    assert done["StageDetails"][1]["TimeConsuming"] == "takes 0s"


def test_emr_validation() -> None:
    with pytest.raises(ValueError, match="flow_id"):
        emr_flow("emr-1")
    with pytest.raises(ValueError, match="stage"):
        emr_flow("emr-1", flow_id=1, phases=[(0, 1, "nope")])
    with pytest.raises(ValueError, match="FlowTotalStatus"):
        emr_flow("emr-1", flow_id=1, phases=[(0, 7)])


def test_batch_instances_metrics_and_times_agree() -> None:
    from cloudflows_emulator import batch_task

    task = batch_task(
        "job-abcdefgh",
        "A",
        [(0, "SUBMITTED"), (1, "RUNNING"), BatchPhase(2, "FAILED", failed_instances=[2], exit_code=3)],
        instance_count=3,
    )
    for payload in _payloads(task):
        states = Counter(i["TaskInstanceState"] for i in payload["TaskInstanceSet"])
        metrics = payload["TaskInstanceMetrics"]
        assert sum(metrics.values()) == payload["TaskInstanceTotalCount"] == 3
        for state, count in states.items():
            key = {"SUCCEED": "SucceedCount", "FAILED": "FailedCount"}.get(state, f"{state.title()}Count")
            assert metrics[key] == count
    submitted, running, failed = _payloads(task)
    assert submitted["TaskInstanceSet"][0]["LaunchTime"] is None
    assert running["TaskInstanceSet"][0]["RunningTime"] is not None
    assert running["EndTime"] is None
    assert running["TaskInstanceSet"][0]["ExitCode"] is None
    bad = failed["TaskInstanceSet"][2]
    assert (bad["TaskInstanceState"], bad["ExitCode"], bad["StateReason"]) == (
        "FAILED",
        3,
        "Process exited with a non-zero exit code.",
    )
    good = failed["TaskInstanceSet"][0]
    assert (good["TaskInstanceState"], good["ExitCode"], good["StateReason"]) == ("SUCCEED", 0, "")
    assert failed["EndTime"] is not None
    assert good["RedirectInfo"]["StdoutRedirectFileName"] == "stdout.job-abcdefgh.A.0.log"


def test_batch_validation() -> None:
    from cloudflows_emulator import batch_task

    with pytest.raises(ValueError, match="JobId"):
        batch_task("job-1", "A")
    with pytest.raises(ValueError, match="TaskState"):
        batch_task("job-abcdefgh", "A", [(0, "DONE")])


def test_cynosdb_statuses() -> None:
    flow = cynosdb_flow(9, [(0, 2), (1, 1)])
    assert _payloads(flow) == [{"Status": 2}, {"Status": 1}]
    with pytest.raises(ValueError, match="Status"):
        cynosdb_flow(9, [(0, 5)])
    with pytest.raises(ValueError, match="integer"):
        cynosdb_flow("9", [(0, 2)])  # type: ignore[arg-type]


def test_cloudflow_payloads() -> None:
    execution = cloudflow_execution(
        "etl", "run1", [(0, "Starting"), (1, "Running"), (2, "Succeeded")], output={"rows": 1}, execution_input={"d": 1}
    )
    starting, running, done = _payloads(execution)
    assert (starting["Output"], running["StoppedTime"]) == ("", "")
    assert json.loads(done["Output"]) == {"rows": 1}
    assert json.loads(done["Input"]) == {"d": 1}
    assert done["StoppedTime"].endswith("Z")
    assert done["StartedTime"] == starting["StartedTime"]
    assert set(done) | {"RequestId"} == set(load_example("fnf_describe_execution"))
    assert execution.events[0][0] == 1.0  # started when running begins


@pytest.mark.parametrize(
    ("status", "last_types"),
    [
        ("Failed", ["StepEntered", "StepFailed", "ExecutionFailed"]),
        ("Stopped", ["StepEntered", "ExecutionStopped"]),
        ("TimedOut", ["StepEntered", "ExecutionTimedOut"]),
    ],
)
def test_cloudflow_history_endings(status: str, last_types: list[str]) -> None:
    execution = cloudflow_execution(
        "etl", "run1", [(0, "Running"), (3, status)], steps=["a", "b", "c"], failed_step="b"
    )
    types = [event["Type"] for _, event in execution.events]
    assert types[-len(last_types) :] == last_types
    if status == "Failed":
        assert [e["StepName"] for _, e in execution.events if e["Type"] == "StepFailed"] == ["b"]


def test_cloudflow_explicit_history() -> None:
    execution = cloudflow_execution(
        "etl", "run1", history=[(0.5, {"Type": "ExecutionStarted"}), (0, {"Type": "Custom", "EventId": 42})]
    )
    assert [(at, e["Type"], e["EventId"]) for at, e in execution.events] == [
        (0.0, "Custom", 42),
        (0.5, "ExecutionStarted", 2),
    ]
    with pytest.raises(ValueError, match="name"):
        cloudflow_execution("1bad", "run1")
