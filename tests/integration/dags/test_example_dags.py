"""The example DAGs end to end: ``dag.test()`` against the cloud emulator, with the sensors really deferring.

Each DAG runs unchanged (its default params are the emulator demo scenario's ids). The tests script short
executions at those ids (non-terminal when first read, terminal ``SUCCESS_AT`` seconds later) so that the
whole file stays fast, and a separate check pins the DAG defaults to what ``load_demo`` preloads (the demo
itself, with the scenario's longer timelines, is ``scripts/demo.sh``).

Deferral is proven from two independent sides:

* Airflow: the sensor's task instance carries a ``trigger_id`` whose Trigger row is our
  ``CloudExecutionTrigger`` with the DAG's identifiers (the row only exists if ``defer()`` reached the
  execution API), and
* the emulator: the execution was read more than once; the first read (the sensor's own check, which saw
  the non-terminal phase 0 because the scripted clock starts at that read) happened before the Trigger row
  was created, the last one after it and after the scripted success step. The request count is also bounded,
  so a trigger that ignored ``poke_interval`` would fail the test.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from cloudflows_emulator import (
    CloudEmulator,
    EmrPhase,
    Execution,
    RequestRecord,
    batch_task,
    cloudflow_execution,
    cynosdb_flow,
    dws_task,
    emr_flow,
    load_demo,
)
from tests.helpers import dag_test, dagbag_class

AIRFLOW_3_2_PLUS = Version(importlib.metadata.version("apache-airflow")) >= Version("3.2")

ROOT = Path(__file__).resolve().parents[3]
DAGS_FOLDER = ROOT / "example_dags"
TRIGGER_CLASSPATH = "airflow_provider_cloudflows.triggers.execution.CloudExecutionTrigger"
# Scripted executions turn terminal this long after their first read: long enough for the sensor's own check
# to see them running (and defer), short enough for one trigger poll at the DAGs' 2 s interval to end them.
SUCCESS_AT = 1.0
# A bound for the runs here (the DAGs' own timeouts are sized for real clouds): a broken run fails in time.
TEST_SENSOR_TIMEOUT = 60.0
REQUEST_ID = re.compile(r"RequestId:? [0-9A-Za-z-]{8,}")


@dataclass(frozen=True)
class Case:
    """One example DAG: what to script at its default ids and what its run must produce."""

    dag_id: str
    sensor_task_id: str
    downstream_task_id: str
    # The default params -> the execution to script.
    build: Callable[[dict[str, Any]], Execution]
    vendor_status: Any
    # Param names whose values must all appear in the emulator key of the execution the DAG waits on.
    key_params: tuple[str, ...]
    # The vendor whose emulated services the DAG calls (requests and executions are matched within it).
    vendor: str
    expected_downstream: Any = None
    # Upper bound on requests for the execution (sensor check + trigger polls); None: no bound.
    max_requests: int | None = 4
    # XCom fields checked for equality, beyond status / vendor_status / identifiers.
    expected_fields: dict[str, Any] = field(default_factory=dict)
    # Whether every request must succeed (DWS legitimately gets "not found" for a view once a task is gone).
    all_requests_ok: bool = True


CASES = [
    Case(
        dag_id="example_tencent_emr",
        sensor_task_id="wait_for_emr_flow",
        downstream_task_id="summarize_flow",
        build=lambda p: emr_flow(
            p["instance_id"], flow_id=p["flow_id"], phases=[EmrPhase(0, 1, 0), EmrPhase(SUCCESS_AT, 2)]
        ),
        vendor_status=2,
        key_params=("instance_id", "flow_id"),
        vendor="tencent",
        expected_downstream={"flow_name": "Scale Out Core", "stages": 8},
        expected_fields={"FlowName": "Scale Out Core", "FlowTotalProgress": 1.0},
    ),
    Case(
        dag_id="example_tencent_cynosdb",
        sensor_task_id="wait_for_cynosdb_flow",
        downstream_task_id="announce",
        build=lambda p: cynosdb_flow(int(p["flow_id"]), [(0, 2), (SUCCESS_AT, 0)]),
        vendor_status=0,
        key_params=("flow_id",),
        vendor="tencent",
    ),
    Case(
        dag_id="example_tencent_batch",
        sensor_task_id="wait_for_batch_task",
        downstream_task_id="count_instances",
        build=lambda p: batch_task(
            p["job_id"], p["task_name"], [(0, "RUNNING"), (SUCCESS_AT, "SUCCEED")], instance_count=3
        ),
        vendor_status="SUCCEED",
        key_params=("job_id", "task_name"),
        vendor="tencent",
        expected_fields={"TaskInstanceTotalCount": 3},
    ),
    Case(
        dag_id="example_alibaba_cloudflow",
        sensor_task_id="wait_for_cloudflow_execution",
        downstream_task_id="use_output",
        build=lambda p: cloudflow_execution(
            p["flow_name"], p["execution_name"], [(0, "Running"), (SUCCESS_AT, "Succeeded")], output={"rows": 42}
        ),
        vendor_status="Succeeded",
        key_params=("flow_name", "execution_name"),
        vendor="alibaba",
        expected_downstream=42,
        # Long polling: the sensor's check, then one long poll answered when the execution ends.
        max_requests=3,
        expected_fields={"Output": {"rows": 42}},
    ),
    Case(
        dag_id="example_huawei_dws",
        sensor_task_id="wait_for_dws_task",
        downstream_task_id="report",
        build=lambda p: dws_task(p["cluster_id"], p["action_name"], [(0, "RUNNING", 40)], end_at=SUCCESS_AT),
        vendor_status="SUCCESS",
        key_params=("cluster_id",),
        vendor="huawei",
        # Once the task is gone one check reads three things: the action view and the failure view (both
        # answer "no ongoing task") and the cluster detail. Sensor check + running poll + that final check.
        max_requests=5,
        all_requests_ok=False,
        expected_fields={"action_name": "SNAPSHOTTING", "cluster_status": "AVAILABLE"},
    ),
]
CASE_IDS = [case.dag_id for case in CASES]


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def migrated_db(airflow_db: None) -> None:
    """The tests' metadata DB, migrated once per session (the emulator plugin's ``airflow_db``)."""


@pytest.fixture(scope="module")
def dagbag() -> Any:
    """The example DAGs, parsed once; sensor timeouts capped for this test run."""
    from airflow_provider_cloudflows.sensors import CloudExecutionSensor

    bag = dagbag_class()(str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    for dag in bag.dags.values():
        for task in dag.tasks:
            if isinstance(task, CloudExecutionSensor):
                task.timeout = min(task.timeout, TEST_SENSOR_TIMEOUT)
    return bag


@pytest.fixture
def emulator(
    migrated_db: None, cloud_emulator: CloudEmulator, cloud_emulator_connections: dict[str, str]
) -> CloudEmulator:
    """The session emulator, reset, with the default connections pointing at it."""
    return cloud_emulator


@pytest.fixture
def failure_exceptions(dagbag: Any) -> Iterator[list[BaseException]]:
    """Exceptions the sensors failed with, captured by an ``on_failure_callback`` set for the test."""
    from airflow_provider_cloudflows.sensors import CloudExecutionSensor

    captured: list[BaseException] = []

    def record(context: Any) -> None:
        exc = context.get("exception")
        if exc is not None:
            captured.append(exc)

    sensors = [t for d in dagbag.dags.values() for t in d.tasks if isinstance(t, CloudExecutionSensor)]
    saved = [(task, task.on_failure_callback) for task in sensors]
    for task in sensors:
        task.on_failure_callback = [record]
    listener = None
    if not AIRFLOW_3_2_PLUS:
        # Airflow 3.1's dag.test() leaves "exception" out of the failure callback's context (only its worker
        # entry point sets it); its task-failed listener hook does receive the error.
        from airflow.listeners import hookimpl
        from airflow.listeners.listener import get_listener_manager

        class FailedListener:
            @hookimpl
            def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
                if isinstance(error, BaseException) and task_instance.task_id.startswith("wait"):
                    captured.append(error)

        listener = FailedListener()
        get_listener_manager().add_listener(listener)
    yield captured
    if listener is not None:
        get_listener_manager().pm.unregister(listener)
    for task, callback in saved:
        task.on_failure_callback = callback


# --- helpers ----------------------------------------------------------------------------------------------


def default_params(dag: Any) -> dict[str, Any]:
    params: dict[str, Any] = dag.params.dump()
    return params


def vendor_services(emulator: CloudEmulator, vendor: str) -> set[str]:
    return {op.service for handler in emulator.handlers if handler.vendor == vendor for op in handler.operations}


def key_matches(key: tuple[str, ...] | None, values: list[str]) -> bool:
    return key is not None and all(value in key for value in values)


def execution_requests(emulator: CloudEmulator, case: Case, params: dict[str, Any]) -> list[RequestRecord]:
    values = [str(params[name]) for name in case.key_params]
    return [r for r in emulator.requests if r.vendor == case.vendor and key_matches(r.key, values)]


def task_instances(dag_run: Any) -> dict[str, Any]:
    return {ti.task_id: ti for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value")
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def trigger_of(ti: Any) -> tuple[str, dict[str, Any], datetime]:
    """Classpath, kwargs and creation time of the Trigger row the task instance deferred to."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    assert ti.trigger_id is not None, f"{ti.task_id} never deferred: its task instance has no trigger_id"
    with create_session() as session:
        trigger = session.get(Trigger, ti.trigger_id)
        assert trigger is not None, f"{ti.task_id}: Trigger row {ti.trigger_id} is missing"
        return trigger.classpath, dict(trigger.kwargs), trigger.created_date


def assert_deferred_and_polled(
    ti: Any, requests: list[RequestRecord], params: dict[str, Any], case: Case, *, extra_requests: int = 0
) -> None:
    classpath, kwargs, created = trigger_of(ti)
    assert classpath == TRIGGER_CLASSPATH
    for name in case.key_params:
        assert str(kwargs["identifiers"][name]) == str(params[name]), kwargs
    assert kwargs["poll_interval"] == pytest.approx(2.0), "the DAG's poke_interval is the trigger's poll interval"
    assert len(requests) > 1, f"expected the sensor's check plus trigger polls, got {len(requests)} request(s)"
    if case.max_requests is not None:
        bound = case.max_requests + extra_requests
        assert len(requests) <= bound, f"{len(requests)} requests: polling faster than poke_interval?"
    first, last = requests[0].time, requests[-1].time
    created_at = created.timestamp()
    assert first < created_at, "the first status read must be the sensor's own check, before it deferred"
    assert last > created_at, "the final status must have been read by the trigger, after the deferral"


# --- tests ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dag_defaults_match_the_demo_scenario(dagbag: Any, case: Case) -> None:
    dag = dagbag.dags[case.dag_id]
    assert type(dag.timetable).__name__ == "NullTimetable", "schedule=None: runs only when triggered"
    assert dag.catchup is False
    sensor = dag.get_task(case.sensor_task_id)
    assert sensor.deferrable is True
    assert sensor.poke_interval == 2.0
    assert case.downstream_task_id in sensor.downstream_task_ids

    emulator = CloudEmulator()
    load_demo(emulator)
    params = default_params(dag)
    values = [str(params[name]) for name in case.key_params]
    services = vendor_services(emulator, case.vendor)
    matches = [e for e in emulator.executions if e.service in services and any(key_matches(k, values) for k in e.keys)]
    assert matches, f"load_demo() has no {case.vendor} execution at {case.dag_id}'s default params {params}"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_example_dag_defers_and_succeeds(dagbag: Any, emulator: CloudEmulator, case: Case) -> None:
    dag = dagbag.dags[case.dag_id]
    params = default_params(dag)
    execution = emulator.add_execution(case.build(params))
    assert execution.started_at is None, "the scripted clock must start at the sensor's first read"

    dag_run = dag_test(dag)

    tis = task_instances(dag_run)
    assert {tid: str(ti.state) for tid, ti in tis.items()} == dict.fromkeys(dag.task_ids, "success")
    assert str(dag_run.state) == "success"

    state = xcom(dag_run, case.sensor_task_id)
    assert isinstance(state, dict), state
    assert state["status"] == "SUCCEEDED"
    assert state["vendor_status"] == case.vendor_status
    assert state["request_id"]
    for name in case.key_params:
        assert str(state["identifiers"][name]) == str(params[name])
    for name, value in case.expected_fields.items():
        assert state.get(name) == value, (name, state)
    if case.expected_downstream is not None:
        assert xcom(dag_run, case.downstream_task_id) == case.expected_downstream

    requests = execution_requests(emulator, case, params)
    if case.all_requests_ok:
        assert all(r.error is None and r.status < 400 for r in requests), requests
    assert_deferred_and_polled(tis[case.sensor_task_id], requests, params, case)
    # The clock started at the first read, so the terminal answer came at least SUCCESS_AT later (a small
    # allowance: a long poll answers within milliseconds of the step, and log times are taken after replying).
    assert requests[-1].time - requests[0].time >= SUCCESS_AT - 0.1, "success was read before it was scripted"


FAILURE_CASES = [
    pytest.param(
        "example_tencent_emr",
        {"instance_id": "emr-fail0001", "flow_id": "9009"},
        lambda p: emr_flow(
            p["instance_id"],
            flow_id=p["flow_id"],
            phases=[
                EmrPhase(0, 1, 0),
                EmrPhase(SUCCESS_AT, -1, "Apply For Resource", failed_reason="CVM quota exceeded in ap-guangzhou-3"),
            ],
        ),
        ["FlowTotalStatus=-1", "Apply For Resource", "CVM quota exceeded in ap-guangzhou-3"],
        id="emr-stage-fails",
    ),
    pytest.param(
        "example_alibaba_cloudflow",
        {"flow_name": "nightly_etl", "execution_name": "bad_run"},
        lambda p: cloudflow_execution(
            p["flow_name"],
            p["execution_name"],
            [(0, "Running"), (SUCCESS_AT, "Failed")],
            failed_step="transform",
            error="RowCountMismatch",
            cause="expected 42 rows, got 0",
        ),
        ["Status='Failed'", "transform", "RowCountMismatch", "expected 42 rows, got 0"],
        id="cloudflow-step-fails",
    ),
    pytest.param(
        "example_huawei_dws",
        {"cluster_id": "0b3f6c1e-5d2a-4c8e-9f71-2a6d4e8b1c35"},
        lambda p: dws_task(
            p["cluster_id"],
            p["action_name"],
            [(0, "RUNNING", 30)],
            end="failed",
            end_at=SUCCESS_AT,
            error_msg="OBS bucket dws-backup is not writable",
        ),
        ["status='FAILED'", "OBS bucket dws-backup is not writable"],
        id="dws-snapshot-fails",
    ),
]


@pytest.mark.parametrize(("dag_id", "run_conf", "build", "expected_text"), FAILURE_CASES)
def test_example_dag_fails_with_the_vendor_reason(
    dagbag: Any,
    emulator: CloudEmulator,
    failure_exceptions: list[BaseException],
    dag_id: str,
    run_conf: dict[str, Any],
    build: Callable[[dict[str, Any]], Execution],
    expected_text: list[str],
) -> None:
    from airflow_provider_cloudflows.errors import CloudExecutionFailed

    case = next(c for c in CASES if c.dag_id == dag_id)
    dag = dagbag.dags[dag_id]
    # The ids come from run_conf, overriding the DAG's param defaults: the same DAG waits on anything.
    params = {**default_params(dag), **run_conf}
    emulator.add_execution(build(params))

    dag_run = dag_test(dag, run_conf=run_conf)

    assert str(dag_run.state) == "failed"
    tis = task_instances(dag_run)
    assert str(tis[case.sensor_task_id].state) == "failed"
    assert str(tis[case.downstream_task_id].state) == "upstream_failed"
    assert xcom(dag_run, case.sensor_task_id) is None

    assert len(failure_exceptions) == 1, failure_exceptions
    exc = failure_exceptions[0]
    assert isinstance(exc, CloudExecutionFailed), repr(exc)
    message = str(exc)
    for text in expected_text:
        assert text in message, message
    assert REQUEST_ID.search(message), message
    assert "RequestId: none" not in message, message

    requests = execution_requests(emulator, case, params)
    # A failure may cost one more read (CloudFlow fetches the execution history for the failing step).
    assert_deferred_and_polled(tis[case.sensor_task_id], requests, params, case, extra_requests=1)
