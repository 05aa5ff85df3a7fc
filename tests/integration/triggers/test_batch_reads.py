"""Waits on many Batch jobs of one account read them with DescribeJobs, over HTTP against the emulator."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.services import get_service
from airflow_provider_cloudflows.services.alibaba_cloudflow import AlibabaCloudFlowExecution
from airflow_provider_cloudflows.transport.tencent import TencentCall
from airflow_provider_cloudflows.triggers.batching import BATCHER
from cloudflows_emulator import CloudEmulator, batch_task, cloudflow_execution, dws_task
from cloudflows_emulator.tencent import plan_batch_job
from tests.helpers import run_trigger
from tests.integration.services.test_dws_decision_rule import run_wait


@pytest.fixture(autouse=True)
def _unlimited_submits(connected_emulator: None, cloud_emulator: CloudEmulator) -> None:
    # Submitting is not what is measured here.
    cloud_emulator.set_rate_limit("batch", "SubmitJob", None)


def _submit(tasks: dict[str, Any], emulator: CloudEmulator, name: str) -> str:
    plan_batch_job(emulator, tasks, job_name=name)
    submit = {
        "Placement": {"Zone": "z"},
        "Job": {"JobName": name, "Tasks": [{"TaskName": task} for task in tasks]},
    }
    client = TencentCloudHook().get_conn()
    job_id: str = client.call(TencentCall("batch", "SubmitJob", "2017-03-12", submit)).body["JobId"]
    return job_id


async def test_a_crowd_of_job_waits_reads_its_jobs_in_a_few_list_calls(cloud_emulator: CloudEmulator) -> None:
    jobs = [_submit({"A": [(0, "RUNNING"), (1.5 + i * 0.1, "SUCCEED")]}, cloud_emulator, f"ok-{i}") for i in range(12)]
    calls = BATCHER.calls
    events = await asyncio.gather(*(run_trigger("tencent_batch_job", {"job_id": j}, poll_interval=0.5) for j in jobs))
    assert [e["outcome"] for e in events] == ["success"] * 12
    # Each success was read from the list: the JobView fields, the very job asked for.
    assert [e["state"]["JobId"] for e in events] == jobs
    assert all(e["state"]["TaskMetrics"]["SucceedCount"] == 1 for e in events)
    lists = cloud_emulator.count("batch", "DescribeJobs")
    singles = cloud_emulator.count("batch", "DescribeJob")
    # 12 waits x ~4 polls each would be ~48 DescribeJob calls at 2/s: a list call covers many waits.
    assert BATCHER.calls - calls == lists
    assert lists <= 16 and singles <= 2, (lists, singles)
    assert BATCHER.items >= 3 * lists  # calls were shared, not one per wait


async def test_a_failed_job_in_a_crowd_is_read_again_by_its_own_check_for_its_reasons(
    cloud_emulator: CloudEmulator,
) -> None:
    ok = [_submit({"A": [(0, "RUNNING"), (1.0, "SUCCEED")]}, cloud_emulator, f"ok-{i}") for i in range(3)]
    bad = _submit({"A": [(0, "RUNNING"), (1.0, "FAILED")]}, cloud_emulator, "bad")
    events = await asyncio.gather(
        *(run_trigger("tencent_batch_job", {"job_id": j}, poll_interval=0.5) for j in [*ok, bad])
    )
    assert [e["outcome"] for e in events] == ["success"] * 3 + ["failure"]
    assert "task A: instance 0 FAILED" in events[3]["message"]
    assert events[3]["state"]["FailedTasks"][0]["TaskName"] == "A"
    assert cloud_emulator.count("batch", "DescribeJobs") >= 1
    assert cloud_emulator.count("batch", "DescribeTask") >= 1


async def test_a_lone_job_wait_asks_with_its_own_check(cloud_emulator: CloudEmulator) -> None:
    job = _submit({"A": [(0, "RUNNING"), (0.8, "SUCCEED")]}, cloud_emulator, "alone")
    event = await run_trigger("tencent_batch_job", {"job_id": job}, poll_interval=0.4)
    assert event["outcome"] == "success"
    assert event["state"]["TaskSet"][0]["TaskName"] == "A"  # DescribeJob's richer details
    assert cloud_emulator.count("batch", "DescribeJobs") == 0


async def test_a_refused_list_call_fails_no_wait_each_asks_with_its_own_check(cloud_emulator: CloudEmulator) -> None:
    jobs = [_submit({"A": [(0, "RUNNING"), (1.0, "SUCCEED")]}, cloud_emulator, f"ok-{i}") for i in range(3)]
    # Every list call is refused as invalid (as one malformed id would make it): no wait fails for it.
    cloud_emulator.inject("invalid", service="batch", action="DescribeJobs", count=None)
    events = await asyncio.gather(*(run_trigger("tencent_batch_job", {"job_id": j}, poll_interval=0.4) for j in jobs))
    assert [e["outcome"] for e in events] == ["success"] * 3
    assert all(e["state"]["TaskSet"] for e in events)  # read by DescribeJob
    assert cloud_emulator.count("batch", "DescribeJobs", ok=False) >= 1


def _answer(job_set: Any) -> Any:
    from airflow_provider_cloudflows.transport.messages import ApiResponse

    return ApiResponse(body={"JobSet": job_set, "TotalCount": 0}, request_id="req-1")


def _read(job_set: Any, asked: list[str]) -> dict[str, Any]:
    spec = get_service("tencent_batch_job")
    gen = spec.read_many("", asked)
    call = next(gen)
    assert (call.action, call.params["JobIds"], call.params["Limit"]) == ("DescribeJobs", asked, len(asked))
    try:
        gen.send(_answer(job_set))
    except StopIteration as stop:
        return dict(stop.value)
    raise AssertionError("read_many asked a second call")


def test_a_list_answer_proves_only_items_naming_an_asked_job_exactly_once() -> None:
    view = {"JobState": "RUNNING", "TaskMetrics": {"RunningCount": 1, "SucceedCount": 1}}
    asked = ["job-aaaaaaaa", "job-bbbbbbbb", "job-cccccccc", "job-dddddddd"]
    snapshots = _read(
        [
            {**view, "JobId": "job-aaaaaaaa"},
            {**view, "JobId": "job-bbbbbbbb"},
            {**view, "JobId": "job-bbbbbbbb", "JobState": "SUCCEED"},  # named twice
            {**view, "JobId": "job-zzzzzzzz"},  # not asked
            {**view, "JobId": ["job-cccccccc"]},  # not a string
            "job-dddddddd",  # not an object
        ],
        asked,
    )
    assert list(snapshots) == ["job-aaaaaaaa"]
    assert snapshots["job-aaaaaaaa"].vendor_status == "RUNNING"
    assert snapshots["job-aaaaaaaa"].progress == 0.5
    assert snapshots["job-aaaaaaaa"].request_id == "req-1"


@pytest.mark.parametrize("job_set", [None, {}, "JobSet", 7, [None, 1, []]])
def test_a_list_answer_of_the_wrong_shape_proves_nothing(job_set: Any) -> None:
    assert _read(job_set, ["job-aaaaaaaa"]) == {}


def test_an_item_with_an_undocumented_state_is_unknown_and_not_taken_as_a_poll() -> None:
    from airflow_provider_cloudflows.status import ExecutionStatus
    from airflow_provider_cloudflows.triggers.execution import _listed
    from airflow_provider_cloudflows.waiting import Wait

    wait = Wait("tencent_batch_job", {"job_id": "job-aaaaaaaa"})
    for state, taken in (("RUNNING", True), ("SUCCEED", True), ("FAILED", False), ("succeed", False), (1, False)):
        snapshot = _read([{"JobId": "job-aaaaaaaa", "JobState": state}], ["job-aaaaaaaa"])["job-aaaaaaaa"]
        assert (_listed(wait, snapshot) is not None) is taken, state
        if state in ("succeed", 1):
            assert snapshot.status is ExecutionStatus.UNKNOWN


async def test_task_waits_of_one_job_share_one_describe_job_per_poll(cloud_emulator: CloudEmulator) -> None:
    tasks = {name: [(0, "RUNNING"), (1.2 + i * 0.2, "SUCCEED")] for i, name in enumerate("ABCD")}
    job = _submit(tasks, cloud_emulator, "four")
    events = await asyncio.gather(
        *(run_trigger("tencent_batch_task", {"job_id": job, "task_name": t}, poll_interval=0.5) for t in tasks)
    )
    assert [e["outcome"] for e in events] == ["success"] * 4
    assert [e["state"]["TaskName"] for e in events] == list(tasks)
    # The polls were shared DescribeJob calls (4 waits x ~4 polls would be ~16 DescribeTask calls); a wait
    # that polls before the others joined asks alone.
    assert cloud_emulator.count("batch", "DescribeTask") <= 2
    assert 1 <= cloud_emulator.count("batch", "DescribeJob") <= 8


async def test_a_failed_task_among_waits_of_one_job_gets_its_instance_reasons(cloud_emulator: CloudEmulator) -> None:
    job = _submit(
        {"A": [(0, "RUNNING"), (0.8, "SUCCEED")], "B": [(0, "RUNNING"), (0.8, "FAILED")]}, cloud_emulator, "ab"
    )
    events = await asyncio.gather(
        *(run_trigger("tencent_batch_task", {"job_id": job, "task_name": t}, poll_interval=0.4) for t in "AB")
    )
    assert [e["outcome"] for e in events] == ["success", "failure"]
    assert "instance 0 FAILED (ExitCode 1)" in events[1]["message"]
    assert cloud_emulator.count("batch", "DescribeTask") >= 1


# --- CloudFlow: ListExecutions per flow past the long polls' share of the quota ------------------------------


def _flows(emulator: CloudEmulator, flows: dict[str, int]) -> list[dict[str, str]]:
    ids = []
    for flow, count in flows.items():
        for i in range(count):
            name = f"run_{i}"
            phases = [(0, "Running"), (1.0 + 0.1 * i, "Succeeded")]
            emulator.add_execution(cloudflow_execution(flow, name, phases, output={"n": i}, start_immediately=True))
            ids.append({"flow_name": flow, "execution_name": name})
    return ids


async def test_a_crowd_of_cloudflow_waits_lists_each_flow_and_reads_each_end_with_its_output(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator: CloudEmulator
) -> None:
    monkeypatch.setattr(AlibabaCloudFlowExecution, "batch_account_crowd", 4)
    waits = _flows(cloud_emulator, {"etl": 5, "report": 3})
    events = await asyncio.gather(
        *(run_trigger("alibaba_cloudflow_execution", ids, poll_interval=0.5) for ids in waits)
    )
    assert [e["outcome"] for e in events] == ["success"] * 8
    # Each end is read by the wait's own DescribeExecution, with its Output.
    assert [e["state"]["Output"] for e in events] == [{"n": i} for i in (0, 1, 2, 3, 4, 0, 1, 2)]
    assert cloud_emulator.count("fnf", "ListExecutions") >= 2
    # Still-running polls were list calls: 8 waits polling every 0.5 s for ~1.5 s would be ~24 reads.
    assert cloud_emulator.count("fnf", "DescribeExecution") <= 8 + 4


async def test_cloudflow_waits_below_the_account_crowd_keep_their_long_polls(cloud_emulator: CloudEmulator) -> None:
    waits = _flows(cloud_emulator, {"etl": 3})
    events = await asyncio.gather(
        *(run_trigger("alibaba_cloudflow_execution", ids, poll_interval=0.5) for ids in waits)
    )
    assert [e["outcome"] for e in events] == ["success"] * 3
    assert cloud_emulator.count("fnf", "ListExecutions") == 0


def test_a_flow_list_proves_only_running_executions_of_that_flow_named_once() -> None:
    spec = get_service("alibaba_cloudflow_execution")
    gen = spec.read_many("etl", ["a", "b", "c", "d", "e"])
    call = next(gen)
    assert call.params["Status"] == "Running" and call.params["MetadataOnly"] == "true"
    answer = {
        "Executions": [
            {"Name": "a", "FlowName": "etl", "Status": "Running"},
            {"Name": "b", "FlowName": "etl", "Status": "Succeeded"},  # the filter not applied: no proof
            {"Name": "c", "FlowName": "other", "Status": "Running"},  # another flow
            {"Name": "d", "FlowName": "etl", "Status": "Running"},
            {"Name": "d", "FlowName": "etl", "Status": "Running"},  # named twice
            {"Name": ["e"], "FlowName": "etl", "Status": "Running"},
        ]
    }
    from airflow_provider_cloudflows.transport.messages import ApiResponse

    with pytest.raises(StopIteration) as stop:
        gen.send(ApiResponse(body=answer, request_id="r"))
    assert list(stop.value.value) == ["a"]


# --- Huawei DWS: the project's cluster list once each task was seen ------------------------------------------


async def test_dws_waits_of_one_project_follow_their_seen_tasks_on_the_cluster_list(
    cloud_emulator: CloudEmulator,
) -> None:
    clusters = [str(uuid.UUID(int=i + 1)) for i in range(6)]
    for i, cluster in enumerate(clusters):
        cloud_emulator.add_execution(
            dws_task(cluster, phases=[(0, "RUNNING", 20)], end_at=1.5 + 0.1 * i, start_immediately=True)
        )
    started = time.monotonic()
    results = await asyncio.gather(
        *(run_wait({"cluster_id": c, "action_name": "SNAPSHOTTING"}, poll_interval=0.3) for c in clusters)
    )
    intervals = (time.monotonic() - started) / 0.3
    assert [event["outcome"] for event, _ in results] == ["success"] * 6
    lists = cloud_emulator.count("dws", "ListClusters")
    # One answer serves every wait polling within half an interval after it: about two calls an interval
    # for the project, whatever the number of waits (DWS is not spaced by the client: nothing else merges).
    assert lists <= 2 * intervals + 2, (lists, intervals)
    views = cloud_emulator.count("dws", "ListClusterActions")
    assert lists >= 2
    # Without the list, 6 waits polling every 0.3 s for ~1.5 s would read ~30 action views; with it, each wait
    # reads its view to see its task, and again (with the failure view) to decide its end.
    assert views <= 6 * 4, (lists, views)


def test_a_cluster_list_shows_running_the_clusters_listed_once_with_an_ongoing_action() -> None:
    spec = get_service("huawei_dws_cluster_task")
    assert spec.batch_ready({"started": 1.0}) is False
    assert spec.batch_ready({"started": 1.0, "seen_at": 2.0}) is True
    asked = ["a/SNAPSHOTTING", "b/SNAPSHOTTING", "c/GROWING", "d/SNAPSHOTTING", "e/SNAPSHOTTING"]
    gen = spec.read_many("", asked)
    next(gen)
    answer = {
        "clusters": [
            {"id": "a", "task_status": "SNAPSHOTTING", "action_progress": {"SNAPSHOTTING": "40%"}},
            {"id": "b", "task_status": "", "action_progress": {}},  # idle: the wait decides its end itself
            {"id": "c", "task_status": "SNAPSHOTTING", "action_progress": {}},  # another action
            {"id": "d", "task_status": "SNAPSHOTTING"},
            {"id": "d", "task_status": "SNAPSHOTTING"},  # listed twice
            {"id": ["e"], "task_status": "SNAPSHOTTING"},
            {"id": "z", "task_status": "SNAPSHOTTING"},  # not asked
        ]
    }
    from airflow_provider_cloudflows.transport.messages import ApiResponse

    with pytest.raises(StopIteration) as stop:
        gen.send(ApiResponse(body=answer, request_id="r"))
    snapshots = stop.value.value
    # The list answers every cluster it names once with an ongoing action, asked or not.
    assert sorted(snapshots) == ["a/SNAPSHOTTING", "c/SNAPSHOTTING", "z/SNAPSHOTTING"]
    assert snapshots["a/SNAPSHOTTING"].progress == 0.4


@pytest.mark.parametrize(("shown", "progress"), [("40%", 0.4), (40, 0.4), ("150%", None), ("²%", None), ("", None)])
def test_a_listed_dws_progress_outside_0_to_100_percent_is_no_progress_not_an_error(
    shown: Any, progress: float | None
) -> None:
    spec = get_service("huawei_dws_cluster_task")
    gen = spec.read_many("", ["a/GROWING"])
    next(gen)
    from airflow_provider_cloudflows.transport.messages import ApiResponse

    answer = {"clusters": [{"id": "a", "task_status": "GROWING", "action_progress": {"GROWING": shown}}]}
    with pytest.raises(StopIteration) as stop:
        gen.send(ApiResponse(body=answer, request_id="r"))
    assert stop.value.value["a/GROWING"].progress == progress


async def test_task_waits_on_scripted_tasks_read_their_job_as_tencent_shows_it(cloud_emulator: CloudEmulator) -> None:
    # Tasks scripted without a submitted job still belong to one: DescribeJob lists them.
    for task in "AB":
        cloud_emulator.add_execution(batch_task("job-scripted", task, [(0, "RUNNING"), (1.5, "SUCCEED")]))
    events = await asyncio.gather(
        *(
            run_trigger("tencent_batch_task", {"job_id": "job-scripted", "task_name": t}, poll_interval=0.4)
            for t in "AB"
        )
    )
    assert [e["outcome"] for e in events] == ["success", "success"]
    assert cloud_emulator.count("batch", "DescribeJob", ok=False) == 0
    assert cloud_emulator.count("batch", "DescribeJob", ok=True) >= 1
    assert cloud_emulator.count("batch", "DescribeTask") <= 2
