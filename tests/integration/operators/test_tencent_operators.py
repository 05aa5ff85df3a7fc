"""The Tencent start operators end to end against the emulator: both wait modes through ``dag.test()``,
cancel on kill (worker and trigger), no cancel on trigger cleanup, cancel on timeout, reattach on retry,
writes never repeated blindly, console links."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json
import logging
import time
from typing import Any

import pytest
from airflow.utils.state import TaskInstanceState
from packaging.version import Version

from airflow_provider_cloudflows.actions.base import client_token
from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.operators import (
    TencentBatchSubmitJobOperator,
    TencentCynosdbFlowActionOperator,
    TencentEmrScaleOutClusterOperator,
)
from airflow_provider_cloudflows.operators.links import (
    TencentBatchJobLink,
    TencentCynosdbClusterLink,
    TencentEmrClusterLink,
)
from airflow_provider_cloudflows.transport.tencent import TencentCall
from airflow_provider_cloudflows.triggers.run import CloudRunTrigger
from cloudflows_emulator import BatchPhase, CloudEmulator
from cloudflows_emulator.tencent import plan_batch_job, plan_cynosdb_flow
from tests.dags import operator_dags
from tests.helpers import FakeStore, FakeTI, TaskDeferred, airflow_reports, dag_test, run_trigger

DEFER_LINE = "running trigger in line"
AIRFLOW_HAS_TASK_STATE_STORE = Version(importlib.metadata.version("apache-airflow")) >= Version("3.3")

START_ACTIONS = {
    "batch": "SubmitJob",
    "emr_scale_out": "ScaleOutCluster",
    "emr_terminate_nodes": "TerminateClusterNodes",
}
START_ACTIONS["cynosdb"] = "PauseServerless"
RUNNING_LONG = [(0, "RUNNING"), (60, "SUCCEED")]


pytestmark = pytest.mark.usefixtures("emulator_connections")


class Output:
    """Everything a run logged (Airflow's task logs go to stdout, the rest to logging)."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.caplog, self.capsys = caplog, capsys
        caplog.set_level(logging.INFO)

    def text(self) -> str:
        """What was logged so far."""
        captured = self.capsys.readouterr()
        return self.caplog.text + captured.out + captured.err

    def run(self, dag_id: str) -> tuple[Any, str]:
        run = dag_test(getattr(operator_dags, dag_id))
        captured = self.capsys.readouterr()
        return run.get_task_instance("run"), self.caplog.text + captured.out + captured.err


@pytest.fixture
def out(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Output:
    return Output(caplog, capsys)


def _batch_operator(**kwargs: Any) -> TencentBatchSubmitJobOperator:
    job = {"JobName": "unit", "Tasks": [{"TaskName": "A", "Application": {"Command": "true"}}]}
    return TencentBatchSubmitJobOperator(
        task_id="run", placement={"Zone": "ap-guangzhou-3"}, job=job, poll_interval=0.6, **kwargs
    )


def _deferred(operator: TencentBatchSubmitJobOperator, ti: FakeTI, store: FakeStore | None = None) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": ti, "task_state_store": store})  # type: ignore[arg-type]
    return deferred.value


def _job_tasks_stopped(emulator: CloudEmulator, job_id: str) -> bool:
    tasks = [e for e in emulator.executions if e.service == "batch" and e.key[0] == job_id]
    return bool(tasks) and all(e.stopped_at is not None for e in tasks)


# --- both wait modes, every operator ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["deferrable", "sync"])
@pytest.mark.parametrize("kind", sorted(START_ACTIONS))
def test_operator_starts_waits_and_returns_the_state(
    cloud_emulator: CloudEmulator, out: Output, kind: str, mode: str
) -> None:
    ti, text = out.run(f"op_{kind}_{mode}")
    assert ti.state == TaskInstanceState.SUCCESS, text
    state = ti.xcom_pull(task_ids="run")
    assert state["status"] == "SUCCEEDED"
    assert cloud_emulator.count(action=START_ACTIONS[kind], ok=True) == 1
    assert (DEFER_LINE in text) is (mode == "deferrable")
    if kind.startswith("emr"):
        assert state["FlowId"] == int(state["identifiers"]["flow_id"])
    if kind == "emr_scale_out":
        assert state["TraceId"]  # returned from the start reply beside the final state
    if kind == "batch":
        assert state["TaskInstanceMetrics"]["SucceedCount"] == 2


def test_batch_failure_names_reasons_and_copies_instance_logs(cloud_emulator: CloudEmulator, out: Output) -> None:
    plan_batch_job(
        cloud_emulator,
        {"A": [BatchPhase(0, "RUNNING"), BatchPhase(0.5, "FAILED", failed_instances=[1], exit_code=3, reason="OOM")]},
        logs={"A": {1: ("loading 10 GB", "Traceback: MemoryError")}},
    )
    ti, text = out.run("op_batch_sync")
    assert ti.state == TaskInstanceState.FAILED
    assert "CloudExecutionFailed" in text
    assert "task A: instance 1 FAILED (ExitCode 3): OOM" in text
    assert "Traceback: MemoryError" in text and "loading 10 GB" in text
    assert cloud_emulator.count(action="DescribeTaskLogs", ok=True) == 1


# --- cancel: worker kill, trigger kill, never on cleanup, on timeout ----------------------------------------


def test_worker_on_kill_cancels_the_started_job(cloud_emulator: CloudEmulator) -> None:
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    operator, ti = _batch_operator(deferrable=True), FakeTI()
    _deferred(operator, ti)
    job_id = ti.xcoms["cloudflows_execution"]["identifiers"]["job_id"]
    operator.on_kill()
    assert cloud_emulator.count(action="TerminateJob", ok=True) == 1
    assert _job_tasks_stopped(cloud_emulator, job_id)


def test_on_kill_does_nothing_when_cancel_on_kill_is_off(cloud_emulator: CloudEmulator) -> None:
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    operator = _batch_operator(deferrable=True, cancel_on_kill=False)
    deferred = _deferred(operator, FakeTI())
    operator.on_kill()
    assert deferred.trigger.serialize()[1]["cancel"] is None
    assert cloud_emulator.count(action="TerminateJob") == 0


def test_cancel_is_asked_again_while_the_job_is_submitted(cloud_emulator: CloudEmulator) -> None:
    # Batch refuses TerminateJob while SUBMITTED: the cancel is retried until the job moves on.
    plan_batch_job(cloud_emulator, {"A": [(0, "SUBMITTED"), (3.0, "RUNNING"), (60, "SUCCEED")]})
    operator, ti = _batch_operator(deferrable=True), FakeTI()
    _deferred(operator, ti)
    operator.on_kill()
    assert cloud_emulator.count(action="TerminateJob", error="UnsupportedOperation") >= 1
    assert cloud_emulator.count(action="TerminateJob", ok=True) == 1
    assert _job_tasks_stopped(cloud_emulator, ti.xcoms["cloudflows_execution"]["identifiers"]["job_id"])


def _rebuilt(trigger: Any) -> CloudRunTrigger:
    path, kwargs = trigger.serialize()
    # Stored as plain JSON by Airflow: round-trip it, and prove no credential travels in it.
    stored = json.dumps(kwargs)
    assert "emulator-tencent-secret" not in stored
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    rebuilt: CloudRunTrigger = cls(**json.loads(stored))
    return rebuilt


def test_trigger_on_kill_cancels_from_serialized_kwargs(
    cloud_emulator: CloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    ti = FakeTI()
    trigger = _rebuilt(_deferred(_batch_operator(deferrable=True), ti).trigger)
    trigger.task_instance = ti  # type: ignore[assignment]
    assert trigger.cancel == {"action": "tencent_batch_terminate_job", "identifiers": trigger.identifiers}
    supervisor = airflow_reports(monkeypatch, "failed")  # a user marked the deferred task failed
    asyncio.run(trigger.on_kill())
    assert [(m.dag_id, m.task_ids, m.run_ids) for m in supervisor.asked] == [(ti.dag_id, [ti.task_id], [ti.run_id])]
    assert cloud_emulator.count(action="TerminateJob", ok=True) == 1
    assert _job_tasks_stopped(cloud_emulator, ti.xcoms["cloudflows_execution"]["identifiers"]["job_id"])


@pytest.mark.parametrize(
    ("state", "fail", "why"),
    [
        ("deferred", False, "still deferred"),
        (None, False, "could not confirm"),
        (None, True, "could not confirm"),
    ],
)
def test_trigger_on_kill_leaves_a_still_deferred_task_running(
    cloud_emulator: CloudEmulator,
    monkeypatch: pytest.MonkeyPatch,
    out: Output,
    state: str | None,
    fail: bool,
    why: str,
) -> None:
    # A triggerer resuming after a stall has its triggers handed over: Airflow 3.3.0-3.3.2 call on_kill()
    # there too, while the task is still deferred on the other triggerer.
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    ti = FakeTI()
    trigger = _rebuilt(_deferred(_batch_operator(deferrable=True), ti).trigger)
    trigger.task_instance = ti  # type: ignore[assignment]
    airflow_reports(monkeypatch, state, fail=fail)
    asyncio.run(trigger.on_kill())
    assert cloud_emulator.count(action="TerminateJob") == 0
    assert not _job_tasks_stopped(cloud_emulator, ti.xcoms["cloudflows_execution"]["identifiers"]["job_id"])
    text = out.text()
    assert "not cancelled:" in text and why in text


def test_trigger_on_kill_without_its_task_instance_cancels_nothing(cloud_emulator: CloudEmulator) -> None:
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    trigger = _rebuilt(_deferred(_batch_operator(deferrable=True), FakeTI()).trigger)
    asyncio.run(trigger.on_kill())
    assert cloud_emulator.count(action="TerminateJob") == 0


def test_trigger_cleanup_never_cancels(cloud_emulator: CloudEmulator) -> None:
    # A triggerer restart or hand-over ends in cleanup(), and the task is still waiting on the job.
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (1.0, "SUCCEED")]})
    ti = FakeTI()
    trigger = _rebuilt(_deferred(_batch_operator(deferrable=True), ti).trigger)

    async def run_then_cleanup() -> list[Any]:
        events = [event.payload async for event in trigger.run()]
        await trigger.cleanup()
        return events

    events = asyncio.run(run_then_cleanup())
    assert [e["outcome"] for e in events] == ["success"]
    asyncio.run(trigger.cleanup())
    assert cloud_emulator.count(action="TerminateJob") == 0
    assert not _job_tasks_stopped(cloud_emulator, ti.xcoms["cloudflows_execution"]["identifiers"]["job_id"])


@pytest.mark.parametrize("mode", ["deferrable", "sync"])
def test_timeout_cancels_then_fails(cloud_emulator: CloudEmulator, out: Output, mode: str) -> None:
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    ti, text = out.run(f"op_batch_timeout_{mode}")
    assert ti.state == TaskInstanceState.FAILED
    assert "CloudExecutionTimeout" in text
    assert cloud_emulator.count(action="TerminateJob", ok=True) == 1
    job_id = next(e.key[0] for e in cloud_emulator.executions if e.service == "batch")
    assert _job_tasks_stopped(cloud_emulator, job_id)


# --- reattach on retry ---------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not AIRFLOW_HAS_TASK_STATE_STORE,
    reason="a Batch job's id survives a retry in task_state_store, which Airflow has only since 3.3 "
    "(XComs are cleared when a try starts): below 3.3 a try lost after its start is retried into a new job, as "
    "the README says",
)
def test_retry_reattaches_instead_of_submitting_twice(cloud_emulator: CloudEmulator, out: Output) -> None:
    # Running long enough that try 2 finds it still running on a loaded machine (else it adopts the success).
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (4.0, "SUCCEED")]})
    ti, text = out.run("op_batch_retry")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert ti.try_number == 2
    assert "reattaching to Tencent Batch job" in text
    assert cloud_emulator.count(action="SubmitJob") == 1
    assert len({e.key[0] for e in cloud_emulator.executions if e.service == "batch"}) == 1


def test_retry_after_a_succeeded_execution(cloud_emulator: CloudEmulator) -> None:
    # Long enough that the first check sees RUNNING even behind a cold rate limiter (Batch starts at 25% of
    # 3/s in a new process, e.g. a fresh pytest-xdist worker).
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (3.0, "SUCCEED")]})
    store = FakeStore()
    _deferred(_batch_operator(deferrable=True), FakeTI(1), store)

    time.sleep(3.5)
    # reattach (default): the succeeded job's state is the result, nothing is submitted again.
    state = _batch_operator(deferrable=True).execute({"ti": FakeTI(2), "task_state_store": store})  # type: ignore[arg-type]
    assert state["status"] == "SUCCEEDED"
    assert cloud_emulator.count(action="SubmitJob") == 1
    # start_new: a new job, with this try's own ClientToken.
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    with pytest.raises(TaskDeferred):
        _batch_operator(deferrable=True, on_retry="start_new").execute({"ti": FakeTI(3), "task_state_store": store})  # type: ignore[arg-type]
    assert cloud_emulator.count(action="SubmitJob", ok=True) == 2


def test_retry_after_a_failed_execution_starts_a_new_one(cloud_emulator: CloudEmulator) -> None:
    # Long enough that the first check sees RUNNING even behind a cold rate limiter (Batch starts at 25% of
    # 3/s in a new process, e.g. a fresh pytest-xdist worker).
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (3.0, "FAILED")]})
    store = FakeStore()
    _deferred(_batch_operator(deferrable=True), FakeTI(1), store)

    time.sleep(3.5)
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    _deferred(_batch_operator(deferrable=True), FakeTI(2), store)
    assert cloud_emulator.count(action="SubmitJob", ok=True) == 2


# --- writes are never repeated blindly -------------------------------------------------------------------


def test_submit_with_client_token_is_retried_safely_after_a_5xx(cloud_emulator: CloudEmulator, out: Output) -> None:
    cloud_emulator.inject("server_error", service="batch", action="SubmitJob", count=1)
    ti, text = out.run("op_batch_sync")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert cloud_emulator.count(action="SubmitJob") == 2  # the 503, then the retry with the same ClientToken
    assert len(cloud_emulator.scratch("batch")["jobs"]) == 1


def test_client_token_returns_the_same_execution(cloud_emulator: CloudEmulator) -> None:
    client = TencentCloudHook().get_conn()
    token = client_token("d", "t", "r", -1, 1)
    submit = {"Placement": {"Zone": "ap-guangzhou-3"}, "Job": {"Tasks": [{"TaskName": "A"}]}, "ClientToken": token}
    first = client.call(TencentCall("batch", "SubmitJob", "2017-03-12", submit)).body["JobId"]
    assert client.call(TencentCall("batch", "SubmitJob", "2017-03-12", submit)).body["JobId"] == first
    scale = {"InstanceId": "emr-1", "InstanceChargeType": "POSTPAID_BY_HOUR", "ClientToken": token}
    scale["ScaleOutNodeConfig"] = {"NodeFlag": "TASK", "NodeCount": 1}
    one = client.call(TencentCall("emr", "ScaleOutCluster", "2019-01-03", scale)).body
    two = client.call(TencentCall("emr", "ScaleOutCluster", "2019-01-03", scale)).body
    assert (one["FlowId"], one["TraceId"]) == (two["FlowId"], two["TraceId"])
    assert len(token) <= 64 and token != client_token("d", "t", "r", -1, 2)


def test_write_without_token_is_not_repeated_after_a_5xx(cloud_emulator: CloudEmulator, out: Output) -> None:
    cloud_emulator.inject("server_error", service="cynosdb", action="PauseServerless", count=1)
    ti, text = out.run("op_cynosdb_sync")
    assert ti.state == TaskInstanceState.FAILED
    assert "was not sent again" in text
    assert cloud_emulator.count(action="PauseServerless") == 1


def test_write_without_token_is_retried_when_throttled(cloud_emulator: CloudEmulator, out: Output) -> None:
    # A throttled request was refused before processing: sending it again cannot apply it twice.
    cloud_emulator.inject("throttle", service="cynosdb", action="PauseServerless", count=1)
    plan_cynosdb_flow(cloud_emulator, [(0, 2), (0.5, 0)])
    ti, text = out.run("op_cynosdb_sync")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert cloud_emulator.count(action="PauseServerless") == 2
    assert cloud_emulator.count(action="PauseServerless", ok=True) == 1


# --- links ------------------------------------------------------------------------------------------------


def test_links_pick_the_region_and_the_console() -> None:
    china = "https://{service}.tencentcloudapi.com"
    intl = "https://{service}.intl.tencentcloudapi.com"
    assert TencentBatchJobLink().url({"job_id": "job-1"}, "ap-shanghai", china) == (
        "https://console.cloud.tencent.com/batch/job/detail?region=ap-shanghai&jobId=job-1"
    )
    assert TencentBatchJobLink().url({"job_id": "job-1"}, "ap-singapore", intl) == (
        "https://console.tencentcloud.com/batch/job/detail?region=ap-singapore&jobId=job-1"
    )
    assert (
        TencentEmrClusterLink()
        .url({"instance_id": "emr-1"}, "ap-beijing", intl)
        .startswith("https://console.tencentcloud.com/emr/static/hardware?clusterId=emr-1&region=ap-beijing")
    )
    assert "clusterId=cynosdbmysql-1" in TencentCynosdbClusterLink().url({"cluster_id": "cynosdbmysql-1"}, "x", None)


@pytest.mark.parametrize(
    ("dag_id", "link"),
    [("op_batch_deferrable", "TencentBatchJobLink"), ("op_cynosdb_sync", "TencentCynosdbClusterLink")],
)
def test_links_are_stored_for_the_ui(cloud_emulator: CloudEmulator, out: Output, dag_id: str, link: str) -> None:
    ti, _ = out.run(dag_id)
    url = ti.xcom_pull(task_ids="run", key=f"_link_{link}")
    # The emulator's connection: region ap-guangzhou, a loopback endpoint (so the China console).
    assert url.startswith("https://console.cloud.tencent.com/") and "region=ap-guangzhou" in url
    assert ("jobId=job-" in url) if "Batch" in link else ("clusterId=cynosdbmysql-abc" in url)


# --- the job-level wait and its sensor, construction ---------------------------------------------------------


def test_job_wait_reports_each_failed_task(cloud_emulator: CloudEmulator) -> None:
    plan_batch_job(cloud_emulator, {"A": [(0, "SUCCEED")], "B": [(0, "RUNNING"), (0.3, "FAILED")]})
    client = TencentCloudHook().get_conn()
    submit = {"Placement": {"Zone": "z"}, "Job": {"Tasks": [{"TaskName": "A"}, {"TaskName": "B"}]}}
    job_id = client.call(TencentCall("batch", "SubmitJob", "2017-03-12", submit)).body["JobId"]
    event = asyncio.run(run_trigger("tencent_batch_job", {"job_id": job_id}, poll_interval=0.6))
    assert event["outcome"] == "failure"
    assert "task B: instance 0 FAILED (ExitCode 1)" in event["message"]
    assert event["state"]["FailedTasks"][0]["TaskName"] == "B"


def test_batch_job_sensor_is_registered_and_linked() -> None:
    from airflow_provider_cloudflows.sensors.tencent_batch_job import TencentBatchJobSensor

    sensor = TencentBatchJobSensor(task_id="s", job_id="job-12345678")
    assert sensor.service == "tencent_batch_job"
    assert [type(link).__name__ for link in sensor.operator_extra_links] == ["TencentBatchJobLink"]


def test_construction_errors_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="no cancel API"):
        TencentEmrScaleOutClusterOperator(task_id="t", instance_id="emr-1", node_count=1, cancel_on_kill=True)
    with pytest.raises(ValueError, match="returning a FlowId"):
        TencentCynosdbFlowActionOperator(task_id="t", action="DeleteCluster", cluster_id="c")
    with pytest.raises(ValueError, match="on_retry"):
        _batch_operator(on_retry="again")  # type: ignore[arg-type]
    assert _batch_operator().cancel_on_kill is True
    assert TencentEmrScaleOutClusterOperator(task_id="t", instance_id="e", node_count=1).cancel_on_kill is False


def test_deferrable_defaults_to_the_airflow_setting() -> None:
    import inspect

    from airflow_provider_cloudflows.compat import conf
    from airflow_provider_cloudflows.operators.base import CloudExecutionOperator

    default = inspect.signature(CloudExecutionOperator.__init__).parameters["deferrable"].default
    assert default == conf.getboolean("operators", "default_deferrable", fallback=False)


# --- the example DAGs on the demo scenario ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dag_id", "starts"),
    [
        ("example_tencent_batch_operator", {"SubmitJob": 1}),
        ("example_tencent_emr_operator", {"ScaleOutCluster": 1, "TerminateClusterNodes": 1}),
        ("example_tencent_cynosdb_operator", {"ResumeServerless": 1, "CreateBackup": 1, "PauseServerless": 1}),
    ],
)
def test_example_operator_dags_run_on_the_demo_scenario(
    cloud_emulator: CloudEmulator, dag_id: str, starts: dict[str, int]
) -> None:
    from pathlib import Path

    from cloudflows_emulator import load_demo
    from tests.helpers import dagbag_class

    load_demo(cloud_emulator)
    bag = dagbag_class()(str(Path(__file__).resolve().parents[3] / "example_dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    run = dag_test(bag.dags[dag_id])
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert set(states.values()) == {TaskInstanceState.SUCCESS}, states
    for action, count in starts.items():
        assert cloud_emulator.count(action=action, ok=True) == count, action


def test_provider_info_registers_operators_links_and_the_run_trigger() -> None:
    from airflow_provider_cloudflows import get_provider_info

    info = get_provider_info()
    modules = [m for item in info["operators"] + info["sensors"] + info["triggers"] for m in item["python-modules"]]
    for module in modules:
        importlib.import_module(module)
    assert "airflow_provider_cloudflows.sensors.tencent_batch_job" in modules
    assert "airflow_provider_cloudflows.triggers.run" in modules
    for path in info["extra-links"]:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)().name.startswith(("Tencent", "Alibaba", "Huawei"))
