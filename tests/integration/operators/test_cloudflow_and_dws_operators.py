"""The Alibaba CloudFlow and Huawei DWS start operators end to end against the emulator: both wait modes
through ``dag.test()``, reattach by execution name, ``ExecutionAlreadyExists``, StopExecution on kill (worker
and trigger) and on timeout, never on trigger cleanup, the DWS memory hand-back, the DWS job wait and its
sensor, console links, the example DAGs."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from typing import Any

import httpx
import pytest
from airflow.utils.state import TaskInstanceState

from airflow_provider_cloudflows.operators import (
    AlibabaCloudFlowStartExecutionOperator,
    HuaweiDwsCreateSnapshotOperator,
    HuaweiDwsResizeClusterOperator,
)
from airflow_provider_cloudflows.operators.alibaba import default_execution_name
from airflow_provider_cloudflows.operators.links import AlibabaCloudFlowExecutionLink, HuaweiDwsClusterLink
from airflow_provider_cloudflows.triggers.run import CloudRunTrigger
from cloudflows_emulator import CloudEmulator, dws_cluster
from cloudflows_emulator.alibaba import plan_cloudflow_execution
from cloudflows_emulator.huawei import dws_job, plan_dws_action
from tests.dags import operator_dags_alibaba_huawei as dags
from tests.helpers import FakeStore, FakeTI, TaskDeferred, airflow_reports, dag_test, run_trigger

DEFER_LINE = "running trigger in line"


CLUSTER = dags.CLUSTER
RUNNING_LONG = [(0, "Running"), (60, "Succeeded")]


@pytest.fixture(autouse=True)
def _cluster(emulator_connections: None, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_cluster(CLUSTER))
    # A DWS action's end counts only if a check saw it running: it runs long enough for the operator's first
    # check after the start (records written in between) even on a starved CI worker.
    for action in ("SNAPSHOTTING", "GROWING", "RESTORING"):
        plan_dws_action(cloud_emulator, action, [(0, "RUNNING", 30), (2.0, "RUNNING", 70)], end_at=4.0)


class Output:
    """Everything a run logged (Airflow's task logs go to stdout, the rest to logging)."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.caplog, self.capsys = caplog, capsys
        caplog.set_level(logging.INFO)

    def run(self, dag_id: str, **kwargs: Any) -> tuple[Any, str]:
        run = dag_test(getattr(dags, dag_id), **kwargs)
        captured = self.capsys.readouterr()
        return run.get_task_instance("run"), self.caplog.text + captured.out + captured.err


@pytest.fixture
def out(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Output:
    return Output(caplog, capsys)


def _flow_operator(**kwargs: Any) -> AlibabaCloudFlowStartExecutionOperator:
    return AlibabaCloudFlowStartExecutionOperator(
        task_id="run", flow_name="etl_flow", **{"input": '{"a": 1}', "poll_interval": 0.6, **kwargs}
    )


def _execute(operator: Any, ti: FakeTI, store: FakeStore | None = None) -> Any:
    return operator.execute({"ti": ti, "task_state_store": store})


def _deferred(operator: Any, ti: FakeTI, store: FakeStore | None = None) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        _execute(operator, ti, store)
    return deferred.value


def _executions(emulator: CloudEmulator) -> list[Any]:
    return [e for e in emulator.executions if e.service == "fnf"]


def _status(emulator: CloudEmulator, execution: Any) -> str:
    view = emulator.observe("fnf", execution.key)
    assert view is not None
    return str(view.payload["Status"])


def _snapshot(emulator: CloudEmulator) -> str:
    emulator.scratch("dws_actions").setdefault("snapshots", {})["snap-1"] = {"cluster_id": CLUSTER, "name": "s"}
    return "snap-1"


# --- both wait modes, every operator ----------------------------------------------------------------------

STARTS = {"fnf": "StartExecution", "dws_snapshot": "CreateSnapshot", "dws_resize": "ResizeCluster"}
STARTS["dws_restore"] = "RestoreCluster"


@pytest.mark.parametrize("mode", ["deferrable", "sync"])
@pytest.mark.parametrize("kind", sorted(STARTS))
def test_operator_starts_waits_and_returns_the_state(
    cloud_emulator: CloudEmulator, out: Output, kind: str, mode: str
) -> None:
    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (1.0, "Succeeded")], output={"rows": 7})
    conf = {"snapshot_id": _snapshot(cloud_emulator)} if kind == "dws_restore" else None
    ti, text = out.run(f"op_{kind}_{mode}", run_conf=conf)
    assert ti.state == TaskInstanceState.SUCCESS, text
    state = ti.xcom_pull(task_ids="run")
    assert state["status"] == "SUCCEEDED"
    assert cloud_emulator.count(action=STARTS[kind], ok=True) == 1
    assert (DEFER_LINE in text) is (mode == "deferrable")
    if kind == "fnf":
        assert state["Output"] == {"rows": 7} and state["vendor_status"] == "Succeeded"
        assert state["ExecutionName"] == state["identifiers"]["execution_name"]
    if kind == "dws_snapshot":
        assert state["snapshot_id"] and state["identifiers"]["action_name"] == "SNAPSHOTTING"
    if kind == "dws_resize":
        assert state["identifiers"] == {"cluster_id": CLUSTER, "action_name": "GROWING"}
    if kind == "dws_restore":
        # The reply's job_id decides the wait: the job API, returning the new cluster's id too.
        assert state["service"] == "huawei_dws_job" and state["vendor_status"] == "SUCCESS"
        assert state["cluster_id"] != CLUSTER and state["job_id"] == state["identifiers"]["job_id"]


def test_restore_without_job_id_waits_on_restoring(cloud_emulator: CloudEmulator, out: Output) -> None:
    plan_dws_action(cloud_emulator, "RESTORING", [(0, "RUNNING", 30)], end_at=4.0, job=False)
    ti, text = out.run("op_dws_restore_sync", run_conf={"snapshot_id": _snapshot(cloud_emulator)})
    assert ti.state == TaskInstanceState.SUCCESS, text
    state = ti.xcom_pull(task_ids="run")
    assert state["service"] == "huawei_dws_cluster_task" and state["identifiers"]["action_name"] == "RESTORING"
    assert state["job_id"] is None


def test_dws_failure_names_the_job_error(cloud_emulator: CloudEmulator, out: Output) -> None:
    plan_dws_action(
        cloud_emulator,
        "RESTORING",
        [(0, "RUNNING", 10)],
        end="failed",
        end_at=4.0,
        failed_code="DWS.6001",
        failed_detail="not enough quota",
    )
    ti, text = out.run("op_dws_restore_sync", run_conf={"snapshot_id": _snapshot(cloud_emulator)})
    assert ti.state == TaskInstanceState.FAILED
    assert "DWS.6001: not enough quota" in text


def test_dws_write_is_not_repeated_after_a_5xx(cloud_emulator: CloudEmulator, out: Output) -> None:
    cloud_emulator.inject("server_error", service="dws", action="CreateSnapshot", count=1)
    ti, text = out.run("op_dws_snapshot_sync")
    assert ti.state == TaskInstanceState.FAILED
    assert "was not sent again" in text
    assert cloud_emulator.count(action="CreateSnapshot") == 1


def test_dws_write_is_retried_when_throttled(cloud_emulator: CloudEmulator, out: Output) -> None:
    cloud_emulator.inject("throttle", service="dws", action="ResizeCluster", count=1)
    ti, text = out.run("op_dws_resize_sync")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert cloud_emulator.count(action="ResizeCluster") == 2
    assert cloud_emulator.count(action="ResizeCluster", ok=True) == 1


def test_start_execution_is_retried_safely_after_a_5xx(cloud_emulator: CloudEmulator, out: Output) -> None:
    # Idempotent by ExecutionName: the repeat gets the same running execution back.
    cloud_emulator.inject("server_error", service="fnf", action="StartExecution", count=1)
    ti, text = out.run("op_fnf_sync")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert cloud_emulator.count(action="StartExecution") == 2
    assert len(_executions(cloud_emulator)) == 1


# --- reattach by name, ExecutionAlreadyExists ---------------------------------------------------------------


def test_retry_reattaches_to_the_running_execution(cloud_emulator: CloudEmulator, out: Output) -> None:
    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (2.5, "Succeeded")])
    ti, text = out.run("op_fnf_retry")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert ti.try_number == 2
    assert len(_executions(cloud_emulator)) == 1  # one execution, however the retry found it
    assert cloud_emulator.count(action="StartExecution", ok=True) <= 2


def test_execution_already_exists_succeeded_is_adopted_or_started_anew(cloud_emulator: CloudEmulator) -> None:
    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (0.3, "Succeeded")], output={"n": 1})
    _deferred(_flow_operator(deferrable=True), FakeTI(1))
    time.sleep(0.8)
    # Try 2, no task_state_store (Airflow < 3.3): the same name answers ExecutionAlreadyExists; it succeeded.
    state = _execute(_flow_operator(deferrable=True), FakeTI(2))
    assert state["status"] == "SUCCEEDED" and state["Output"] == {"n": 1}
    assert cloud_emulator.count(action="StartExecution", error="ExecutionAlreadyExists") == 1
    assert len(_executions(cloud_emulator)) == 1
    # start_new: a new execution under this try's name.
    plan_cloudflow_execution(cloud_emulator, RUNNING_LONG)
    ti = FakeTI(3)
    _deferred(_flow_operator(deferrable=True, on_retry="start_new"), ti)
    name = ti.xcoms["cloudflows_execution"]["identifiers"]["execution_name"]
    assert name == default_execution_name("d", "run", "manual__1", -1) + "-try3"
    assert len(_executions(cloud_emulator)) == 2


def test_execution_already_exists_failed_starts_a_new_one(cloud_emulator: CloudEmulator) -> None:
    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (0.2, "Failed")])
    _deferred(_flow_operator(deferrable=True), FakeTI(1))
    time.sleep(0.6)
    plan_cloudflow_execution(cloud_emulator, RUNNING_LONG)
    ti = FakeTI(2)
    _deferred(_flow_operator(deferrable=True), ti, FakeStore())
    assert ti.xcoms["cloudflows_execution"]["identifiers"]["execution_name"].endswith("-try2")
    assert len(_executions(cloud_emulator)) == 2


def test_running_execution_is_reattached_through_the_store(cloud_emulator: CloudEmulator) -> None:
    plan_cloudflow_execution(cloud_emulator, RUNNING_LONG)
    store = FakeStore()
    _deferred(_flow_operator(deferrable=True), FakeTI(1), store)
    _deferred(_flow_operator(deferrable=True), FakeTI(2), store)
    assert cloud_emulator.count(action="StartExecution") == 1  # the store's record, no second start call
    assert len(_executions(cloud_emulator)) == 1


# --- cancel: worker kill, trigger kill, never on cleanup, on timeout ----------------------------------------


def test_worker_on_kill_stops_the_execution(cloud_emulator: CloudEmulator) -> None:
    plan_cloudflow_execution(cloud_emulator, RUNNING_LONG)
    operator = _flow_operator(deferrable=True)
    _deferred(operator, FakeTI())
    operator.on_kill()
    (execution,) = _executions(cloud_emulator)
    assert cloud_emulator.count(action="StopExecution", ok=True) == 1
    assert execution.stopped_at is not None and _status(cloud_emulator, execution) == "Stopped"


def _rebuilt(trigger: Any) -> CloudRunTrigger:
    path, kwargs = trigger.serialize()
    stored = json.dumps(kwargs)
    assert "emulator-alibaba-secret" not in stored
    module, _, name = path.rpartition(".")
    rebuilt: CloudRunTrigger = getattr(importlib.import_module(module), name)(**json.loads(stored))
    return rebuilt


def test_trigger_on_kill_stops_from_serialized_kwargs(
    cloud_emulator: CloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_cloudflow_execution(cloud_emulator, RUNNING_LONG)
    ti = FakeTI()
    trigger = _rebuilt(_deferred(_flow_operator(deferrable=True), ti).trigger)
    trigger.task_instance = ti  # type: ignore[assignment]
    airflow_reports(monkeypatch, "success")  # a user marked the deferred task successful
    assert trigger.cancel == {"action": "alibaba_cloudflow_stop_execution", "identifiers": trigger.identifiers}
    asyncio.run(trigger.on_kill())
    (execution,) = _executions(cloud_emulator)
    assert execution.stopped_at is not None and _status(cloud_emulator, execution) == "Stopped"
    # Stopping again (a second kill) is harmless: refused, read back as already ended.
    asyncio.run(trigger.on_kill())
    assert cloud_emulator.count(action="StopExecution", error="InvalidArgument") == 1


def test_trigger_cleanup_never_stops(cloud_emulator: CloudEmulator) -> None:
    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (1.0, "Succeeded")])
    trigger = _rebuilt(_deferred(_flow_operator(deferrable=True), FakeTI()).trigger)

    async def run_then_cleanup() -> list[Any]:
        events = [event.payload async for event in trigger.run()]
        await trigger.cleanup()
        return events

    assert [e["outcome"] for e in asyncio.run(run_then_cleanup())] == ["success"]
    assert cloud_emulator.count(action="StopExecution") == 0
    assert _executions(cloud_emulator)[0].stopped_at is None


@pytest.mark.parametrize("mode", ["deferrable", "sync"])
def test_timeout_stops_then_fails(cloud_emulator: CloudEmulator, out: Output, mode: str) -> None:
    plan_cloudflow_execution(cloud_emulator, RUNNING_LONG)
    ti, text = out.run(f"op_fnf_timeout_{mode}")
    assert ti.state == TaskInstanceState.FAILED
    assert "CloudExecutionTimeout" in text
    (execution,) = _executions(cloud_emulator)
    assert cloud_emulator.count(action="StopExecution", ok=True) == 1
    assert _status(cloud_emulator, execution) == "Stopped"


def test_dws_operators_cannot_cancel() -> None:
    with pytest.raises(ValueError, match="no cancel API"):
        HuaweiDwsResizeClusterOperator(task_id="t", cluster_id=CLUSTER, node_count=1, cancel_on_kill=True)
    assert (
        HuaweiDwsCreateSnapshotOperator(task_id="t", cluster_id=CLUSTER, snapshot_name="snap").cancel_on_kill is False
    )
    assert _flow_operator().cancel_on_kill is True
    with pytest.raises(ValueError, match="JSON"):
        _flow_operator(input="{not json")


# --- the DWS memory hand-back, generic in the operator -------------------------------------------------------


def test_operator_defers_again_with_the_waits_memory(cloud_emulator: CloudEmulator) -> None:
    plan_dws_action(cloud_emulator, "SNAPSHOTTING", [(0, "RUNNING", 10)], end_at=60)
    operator = HuaweiDwsCreateSnapshotOperator(
        task_id="run", cluster_id=CLUSTER, snapshot_name="snap", deferrable=True, poll_interval=0.6
    )
    ti = FakeTI()
    first = _deferred(operator, ti)
    options = first.trigger.serialize()[1]["options"]
    # Seeded before the write, and the task was seen running by the first check.
    assert options["memory"]["started"] <= options["memory"]["seen_at"]
    deadline = first.trigger.deadline
    memory = {**options["memory"], "task_id": "t-1"}
    event = {"outcome": "memory", "memory": memory, "deadline": deadline, "timeout": 30}
    with pytest.raises(TaskDeferred) as again:
        operator.execute_complete({"ti": ti}, event)  # type: ignore[arg-type]
    kwargs = again.value.trigger.serialize()[1]
    assert kwargs["options"]["memory"] == memory and kwargs["deadline"] == deadline


# --- the DWS job wait and its sensor ---------------------------------------------------------------------------


def test_job_wait_succeeds_and_fails_with_the_code_and_detail(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_job("job-ok", [(0, "INIT", 0), (0.3, "RUNNING", 50)], end_at=0.8))
    cloud_emulator.add_execution(
        dws_job(
            "job-bad",
            [(0, "RUNNING", 40)],
            end="failed",
            end_at=0.5,
            failed_code="DWS.0025",
            failed_detail="cluster is busy",
        )
    )
    ok = asyncio.run(run_trigger("huawei_dws_job", {"job_id": "job-ok"}, poll_interval=0.3))
    assert ok["outcome"] == "success" and ok["state"]["progress"] == 1.0
    bad = asyncio.run(run_trigger("huawei_dws_job", {"job_id": "job-bad"}, poll_interval=0.3))
    assert bad["outcome"] == "failure"
    assert "DWS.0025: cluster is busy" in bad["message"]
    assert bad["state"]["failed_code"] == "DWS.0025"


def test_job_sensor_pokes_to_the_end(cloud_emulator: CloudEmulator) -> None:
    from airflow_provider_cloudflows.sensors import HuaweiDwsJobSensor

    cloud_emulator.add_execution(
        dws_job("job-s", [(0, "RUNNING", 10)], end="stopped", end_at=0.2, start_immediately=True)
    )
    sensor = HuaweiDwsJobSensor(task_id="s", job_id="job-s", cluster_id=CLUSTER, poke_interval=0.3, timeout=20)
    assert [type(link).__name__ for link in sensor.operator_extra_links] == ["HuaweiDwsClusterLink"]
    time.sleep(0.4)
    from airflow_provider_cloudflows.errors import CloudExecutionFailed

    with pytest.raises(CloudExecutionFailed, match="STOP"):
        sensor.poke({})  # type: ignore[arg-type]


# --- links ------------------------------------------------------------------------------------------------------


def test_links_pick_the_region_and_the_site() -> None:
    ids = {"flow_name": "etl", "execution_name": "run-1"}
    assert AlibabaCloudFlowExecutionLink().url(ids, "cn-hangzhou", None) == (
        "https://fnf.console.aliyun.com/fnf/cn-hangzhou/flows/etl/executions/run-1"
    )
    assert (
        AlibabaCloudFlowExecutionLink()
        .url(ids, "ap-southeast-1", None)
        .startswith("https://fnf.console.alibabacloud.com/fnf/ap-southeast-1/")
    )
    assert (
        AlibabaCloudFlowExecutionLink()
        .url({**ids, "console": "intl"}, "cn-shanghai", None)
        .startswith("https://fnf.console.alibabacloud.com/")
    )
    assert HuaweiDwsClusterLink().url({"cluster_id": "c-1"}, "cn-north-4", None) == (
        "https://console.huaweicloud.com/dws/?region=cn-north-4#/cluster/detail?clusterId=c-1"
    )
    assert (
        HuaweiDwsClusterLink()
        .url({"cluster_id": "c-1"}, "ap-southeast-1", None)
        .startswith("https://console-intl.huaweicloud.com/dws/?region=ap-southeast-1")
    )


@pytest.mark.parametrize(
    ("dag_id", "link", "expected"),
    [
        (
            "op_fnf_deferrable",
            "AlibabaCloudFlowExecutionLink",
            "https://fnf.console.aliyun.com/fnf/cn-hangzhou/flows/etl_flow/",
        ),
        (
            "op_dws_snapshot_sync",
            "HuaweiDwsClusterLink",
            f"https://console.huaweicloud.com/dws/?region=cn-north-4#/cluster/detail?clusterId={CLUSTER}",
        ),
    ],
)
def test_links_are_stored_for_the_ui(
    cloud_emulator: CloudEmulator, out: Output, dag_id: str, link: str, expected: str
) -> None:
    ti, _ = out.run(dag_id)
    assert ti.xcom_pull(task_ids="run", key=f"_link_{link}").startswith(expected)


def test_sensors_carry_the_links() -> None:
    from airflow_provider_cloudflows.sensors import AlibabaCloudFlowExecutionSensor, HuaweiDwsClusterTaskSensor

    fnf = AlibabaCloudFlowExecutionSensor(task_id="a", flow_name="f", execution_name="e")
    dws = HuaweiDwsClusterTaskSensor(task_id="h", cluster_id=CLUSTER, action_name="GROWING")
    assert [type(x).__name__ for x in fnf.operator_extra_links] == ["AlibabaCloudFlowExecutionLink"]
    assert [type(x).__name__ for x in dws.operator_extra_links] == ["HuaweiDwsClusterLink"]


# --- transport: an empty DWS write answer ----------------------------------------------------------------------


def test_empty_dws_write_answer_reads_as_an_empty_object() -> None:
    from airflow_provider_cloudflows.credentials import Credentials
    from airflow_provider_cloudflows.transport.huawei import HuaweiApi, HuaweiCall

    api = HuaweiApi(Credentials("ak", "sk"), region="cn-north-4", endpoint=None, project_id="p")
    call = HuaweiCall("POST", "/v1.0/{project_id}/clusters/{cluster_id}/resize", {"cluster_id": "c"}, body={"a": 1})
    response = api.parse(call, 200, httpx.Headers({"X-Request-Id": "r"}), b"")
    assert dict(response.body) == {} and response.request_id == "r"
    request = api.prepare(call, time.time())
    assert request.method == "POST" and request.content == b'{"a": 1}'


# --- the example DAGs on the demo scenario ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dag_id", "starts"),
    [
        ("example_alibaba_cloudflow_operator", {"StartExecution": 1}),
        ("example_huawei_dws_operator", {"CreateSnapshot": 1, "ResizeCluster": 1, "RestoreCluster": 1}),
    ],
)
def test_example_operator_dags_run_on_the_demo_scenario(
    cloud_emulator: CloudEmulator, dag_id: str, starts: dict[str, int]
) -> None:
    from pathlib import Path

    from cloudflows_emulator import load_demo
    from tests.helpers import dagbag_class

    cloud_emulator.reset()
    load_demo(cloud_emulator)
    bag = dagbag_class()(str(Path(__file__).resolve().parents[3] / "example_dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    run = dag_test(bag.dags[dag_id])
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert set(states.values()) == {TaskInstanceState.SUCCESS}, states
    for action, count in starts.items():
        assert cloud_emulator.count(action=action, ok=True) == count, action
