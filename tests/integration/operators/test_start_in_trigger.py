"""Start operators that start inside the trigger (``start_from_trigger``), against the emulator over HTTP.

The trigger is built as Airflow 3.3's scheduler and triggerer build it: the DAG is serialized, the task's
``start_trigger_args`` go through the trigger row's encrypted kwargs, the triggerer's runtime task instance
is set on the trigger (which picks the operator's template fields it holds), the fields are rendered with
that instance's context, and ``timeout_after`` is the deferral's timeout from now. Nothing else is called
on it but ``run()`` (and a cancellation, for a triggerer that stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent

from airflow_provider_cloudflows.actions.task_requests import STARTED_PHASE, TaskKey, default_execution_name
from airflow_provider_cloudflows.compat import STARTS_FROM_TRIGGER, TASK_END_EVENTS_RETRY
from airflow_provider_cloudflows.errors import CloudExecutionFailed
from airflow_provider_cloudflows.operators import (
    AlibabaCloudFlowStartExecutionOperator,
    CloudExecutionOperator,
    CloudExecutionTimeout,
    HuaweiDwsCreateSnapshotOperator,
    TencentBatchSubmitJobOperator,
    TencentCynosdbFlowActionOperator,
    TencentEmrScaleOutClusterOperator,
    TencentEmrTerminateClusterNodesOperator,
)
from airflow_provider_cloudflows.operators.links import XCOM_EXECUTION
from airflow_provider_cloudflows.operators.records import STATE_KEY, Phase
from airflow_provider_cloudflows.triggers.start_in_trigger import RECORD_KEY, START_TIMEOUT_MARGIN
from cloudflows_emulator import CloudEmulator
from cloudflows_emulator.alibaba import plan_cloudflow_execution
from cloudflows_emulator.tencent import BatchPhase, plan_batch_job
from tests.helpers import FakeStore, FakeTI, dag_test

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
RUN_ID = "manual__2026-01-01"
PLACEMENT = {"Zone": "ap-guangzhou-3"}
TASKS = [{"TaskName": "A", "Application": {"Command": "true"}}]
# Long enough to be cancelled mid-wait, short enough for a test.
RUNNING_3S_CF = [(0, "Running"), (3, "Succeeded")]
RUNNING_3S_BATCH = {"A": [(0, "RUNNING"), (3, "SUCCEED")]}
START_CALL = {"fnf": "StartExecution", "batch": "SubmitJob"}

needs_3_3 = pytest.mark.skipif(not STARTS_FROM_TRIGGER, reason="start_from_trigger needs Airflow >= 3.3")
ends_in_trigger = pytest.mark.skipif(
    not TASK_END_EVENTS_RETRY, reason="a trigger ends its task itself from Airflow 3.3.1"
)


def _flow(**kwargs: Any) -> AlibabaCloudFlowStartExecutionOperator:
    return AlibabaCloudFlowStartExecutionOperator(
        task_id="run",
        flow_name="etl_flow",
        input={"run": "{{ run_id }}"},
        **{"poll_interval": 0.3, "timeout": 60, "deferrable": True, "start_from_trigger": True, **kwargs},
    )


def _batch(**kwargs: Any) -> TencentBatchSubmitJobOperator:
    return TencentBatchSubmitJobOperator(
        task_id="run",
        placement=PLACEMENT,
        **{
            "job": {"JobName": "job-{{ ds_nodash }}", "Tasks": TASKS},
            "poll_interval": 0.3,
            "timeout": 60,
            "deferrable": True,
            "start_from_trigger": True,
            **kwargs,
        },
    )


OPERATORS: dict[str, Callable[..., CloudExecutionOperator]] = {"fnf": _flow, "batch": _batch}


def _dag(service: str, **kwargs: Any) -> DAG:
    with DAG(f"start_in_trigger_{service}", schedule=None, start_date=START) as dag:
        OPERATORS[service](**kwargs)
    return dag


def _as_the_triggerer_builds(dag: DAG, *, try_number: int = 1, timeout_after: datetime | None = None) -> Any:
    """The trigger of ``dag``'s task, built from the serialized DAG as the 3.3 scheduler and triggerer do."""
    from airflow.executors.workloads.task import TaskInstanceDTO
    from airflow.jobs.triggerer_job_runner import TriggerRunner
    from airflow.models.trigger import Trigger
    from airflow.serialization.decoders import smart_decode_trigger_kwargs
    from airflow.serialization.serialized_objects import DagSerialization

    encoded = DagSerialization.to_dict(dag)
    args = DagSerialization.from_dict(encoded).get_task("run").start_trigger_args  # what defer_task reads
    assert args is not None
    row = Trigger(classpath=args.trigger_cls, kwargs=args.trigger_kwargs or {})
    kwargs = {k: smart_decode_trigger_kwargs(v) for k, v in row.kwargs.items()}
    module, name = row.classpath.rsplit(".", 1)
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    ti = TaskInstanceDTO(
        id=uuid.uuid4(),
        task_id="run",
        dag_id=dag.dag_id,
        run_id=RUN_ID,
        try_number=try_number,
        dag_version_id=uuid.uuid4(),
        pool_slots=1,
        priority_weight=1,
    )
    dag_run = {
        "dag_id": dag.dag_id,
        "run_id": RUN_ID,
        "logical_date": START,
        "data_interval_start": START,
        "data_interval_end": START,
        "run_after": START,
        "start_date": START,
        "end_date": None,
        "run_type": "manual",
        "state": "running",
        "consumed_asset_events": [],
        "partition_key": None,
    }
    runtime_ti = TriggerRunner.create_runtime_ti(ti, encoded, dag_run)
    trigger.task_instance = runtime_ti
    trigger.trigger_id = 1
    trigger.timeout_after = timeout_after or datetime.now(timezone.utc) + args.timeout
    trigger.render_template_fields(context=runtime_ti.get_template_context())
    return trigger


async def _events(trigger: Any) -> list[Any]:
    return [event async for event in trigger.run()]


async def _stopped_mid_wait(trigger: Any, emulator: CloudEmulator, service: str) -> None:
    """Run ``trigger`` until its start was answered and it polled, then cancel it as a stopping triggerer does
    (a cancellation, no ``on_kill``)."""
    running = asyncio.ensure_future(_events(trigger))
    while emulator.count(service, START_CALL[service], ok=True) < 1:
        assert not running.done(), running.result()
        await asyncio.sleep(0.05)
    # The wait's first poll is then on its way: CloudFlow's is a long poll, which the emulator logs only when
    # it answers (up to a minute later), so the trigger is given a moment rather than awaited.
    await asyncio.sleep(0.5)
    assert not running.done(), running.result()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


def _start_keys(emulator: CloudEmulator, service: str) -> list[Any]:
    return [r.key for r in emulator.requests if r.action == START_CALL[service]]


def _only(events: list[Any]) -> Any:
    assert len(events) == 1, events
    return events[0]


pytestmark = pytest.mark.usefixtures("emulator_connections")


@pytest.mark.parametrize(
    "operator",
    [
        lambda: TencentEmrScaleOutClusterOperator(
            task_id="run", instance_id="emr-abc123", node_count=1, deferrable=True, start_from_trigger=True
        ),
        lambda: TencentEmrTerminateClusterNodesOperator(
            task_id="run",
            instance_id="emr-abc123",
            cvm_instance_ids=["ins-1"],
            deferrable=True,
            start_from_trigger=True,
        ),
        lambda: TencentCynosdbFlowActionOperator(
            task_id="run", action="PauseServerless", cluster_id="c", deferrable=True, start_from_trigger=True
        ),
        lambda: HuaweiDwsCreateSnapshotOperator(
            task_id="run", cluster_id="c", snapshot_name="snap", deferrable=True, start_from_trigger=True
        ),
    ],
    ids=["emr_scale_out", "emr_terminate_nodes", "cynosdb", "dws_snapshot"],
)
def test_a_start_without_a_lasting_idempotency_key_refuses_start_from_trigger(operator: Any) -> None:
    with pytest.raises(ValueError, match="start_from_trigger=True is not possible") as refused:
        operator()
    assert "seconds only" in str(refused.value) or "takes no idempotency key" in str(refused.value)


def test_the_emr_scale_out_refusal_names_its_five_minute_token() -> None:
    with pytest.raises(ValueError, match="honoured for 300 seconds only"):
        TencentEmrScaleOutClusterOperator(
            task_id="run", instance_id="emr-abc123", node_count=1, deferrable=True, start_from_trigger=True
        )


@pytest.mark.parametrize("service", sorted(OPERATORS))
def test_start_from_trigger_makes_the_wait_deferrable_whatever_the_default(service: str) -> None:
    assert OPERATORS[service](deferrable=False).deferrable is True


@needs_3_3
@ends_in_trigger
@pytest.mark.parametrize("service", sorted(OPERATORS))
def test_the_triggerer_built_trigger_starts_one_execution_and_ends_the_task_with_its_return_value(
    service: str, cloud_emulator: CloudEmulator
) -> None:
    trigger = _as_the_triggerer_builds(_dag(service))
    ended = _only(asyncio.run(asyncio.wait_for(_events(trigger), 30)))

    assert isinstance(ended, TaskSuccessEvent)
    result, record = ended.xcoms["return_value"], ended.xcoms[XCOM_EXECUTION]
    assert cloud_emulator.count(service, START_CALL[service]) == 1
    assert record["phase"] == STARTED_PHASE == Phase.STARTED.value
    if service == "fnf":
        name = default_execution_name(trigger.task_instance.dag_id, "run", RUN_ID, -1)
        assert (result["ExecutionName"], result["vendor_status"]) == (name, "Succeeded")
        view = cloud_emulator.observe("fnf", ("etl_flow", name))
        assert view is not None and json.loads(view.payload["Input"]) == {"run": RUN_ID}  # rendered on the trigger
        assert record["identifiers"] == {"flow_name": "etl_flow", "execution_name": name}
    else:
        jobs = cloud_emulator.scratch("batch")["jobs"]
        assert list(jobs) == [result["JobId"]] == [record["identifiers"]["job_id"]]
        assert jobs[result["JobId"]]["JobName"] == "job-20260101"  # rendered by the triggerer
        assert result["vendor_status"] == "SUCCEED"
        assert record["client_token"] == cloud_emulator.scratch("batch")["tokens"].popitem()[0]


@needs_3_3
@ends_in_trigger
@pytest.mark.parametrize("service", sorted(OPERATORS))
def test_a_restarted_triggerer_reattaches_to_the_execution_it_started(
    service: str, cloud_emulator: CloudEmulator
) -> None:
    plan_cloudflow_execution(cloud_emulator, RUNNING_3S_CF)
    plan_batch_job(cloud_emulator, RUNNING_3S_BATCH)
    dag = _dag(service)
    timeout_after = datetime.now(timezone.utc) + timedelta(seconds=60 + START_TIMEOUT_MARGIN)

    async def scenario() -> list[Any]:
        await _stopped_mid_wait(_as_the_triggerer_builds(dag, timeout_after=timeout_after), cloud_emulator, service)
        restarted = _as_the_triggerer_builds(dag, timeout_after=timeout_after)  # same kwargs, same try
        return await asyncio.wait_for(_events(restarted), 30)

    ended = _only(asyncio.run(scenario()))
    assert isinstance(ended, TaskSuccessEvent)
    keys = _start_keys(cloud_emulator, service)
    assert len(keys) == 2 and len(set(keys)) == 1  # sent twice, for one and the same execution
    assert _executions(cloud_emulator, service) == 1
    if service == "batch":
        assert len(cloud_emulator.scratch("batch")["tokens"]) == 1


@needs_3_3
@ends_in_trigger
def test_a_new_batch_try_submits_a_second_job_under_a_new_client_token(cloud_emulator: CloudEmulator) -> None:
    dag = _dag("batch")

    async def scenario() -> list[Any]:
        first = await asyncio.wait_for(_events(_as_the_triggerer_builds(dag, try_number=1)), 30)
        second = await asyncio.wait_for(_events(_as_the_triggerer_builds(dag, try_number=2)), 30)
        return [_only(first), _only(second)]

    first, second = asyncio.run(scenario())
    assert isinstance(first, TaskSuccessEvent) and isinstance(second, TaskSuccessEvent)
    assert first.xcoms["return_value"]["JobId"] != second.xcoms["return_value"]["JobId"]
    assert len(cloud_emulator.scratch("batch")["jobs"]) == 2
    tokens = [first.xcoms[XCOM_EXECUTION]["client_token"], second.xcoms[XCOM_EXECUTION]["client_token"]]
    assert tokens[0].endswith("-try1") and tokens[1].endswith("-try2")


@needs_3_3
@ends_in_trigger
def test_a_new_cloudflow_try_after_a_failed_execution_starts_a_second_one(cloud_emulator: CloudEmulator) -> None:
    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (0.5, "Failed")], failed_step="load")
    dag = _dag("fnf")

    async def scenario() -> list[Any]:
        first = await asyncio.wait_for(_events(_as_the_triggerer_builds(dag, try_number=1)), 30)
        second = await asyncio.wait_for(_events(_as_the_triggerer_builds(dag, try_number=2)), 30)
        return [_only(first), _only(second)]

    first, second = asyncio.run(scenario())
    assert isinstance(first, TaskFailedEvent) and isinstance(second, TaskFailedEvent)
    name = default_execution_name(dag.dag_id, "run", RUN_ID, -1)
    started = {key[1] for key in _start_keys(cloud_emulator, "fnf")}
    assert started == {name, f"{name}-try2"}
    assert first.xcoms[XCOM_EXECUTION]["identifiers"]["execution_name"] == name
    assert second.xcoms[XCOM_EXECUTION]["identifiers"]["execution_name"] == f"{name}-try2"


@needs_3_3
@ends_in_trigger
def test_a_start_refused_by_the_vendor_fails_the_task_with_its_code_and_request_id(
    cloud_emulator: CloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    trigger = _as_the_triggerer_builds(_dag("batch", job={"JobName": "empty", "Tasks": []}))
    ended = _only(asyncio.run(asyncio.wait_for(_events(trigger), 30)))

    assert isinstance(ended, TaskFailedEvent)
    assert cloud_emulator.count("batch", "SubmitJob", error="MissingParameter") == 1
    assert cloud_emulator.count("batch", "SubmitJob") == 1  # refused: not sent again
    assert not cloud_emulator.scratch("batch").get("jobs")
    # The triggerer's log lines go to the task's log: the one error names the vendor's code and RequestId.
    failure = [line for line in capsys.readouterr().out.splitlines() if "[error" in line]
    assert len(failure) == 1 and "starting failed: tencentcloud MissingParameter" in failure[0]
    assert "[RequestId: none]" not in failure[0] and "[RequestId: " in failure[0]


@needs_3_3
@ends_in_trigger
@pytest.mark.parametrize("service", sorted(OPERATORS))
def test_a_start_whose_answers_are_lost_is_sent_again_under_its_key_and_starts_one_execution(
    service: str, cloud_emulator: CloudEmulator
) -> None:
    # More answers cut off (after the cloud applied the start) than the client's own attempts (5): the
    # trigger sends it again itself.
    cloud_emulator.inject("reset", service=service, action=START_CALL[service], count=6)
    trigger = _as_the_triggerer_builds(_dag(service))
    ended = _only(asyncio.run(asyncio.wait_for(_events(trigger), 30)))

    assert isinstance(ended, TaskSuccessEvent)
    keys = _start_keys(cloud_emulator, service)
    assert len(keys) == 7 and len(set(keys)) == 1
    assert cloud_emulator.count(service, START_CALL[service], ok=True) == 1
    assert _executions(cloud_emulator, service) == 1


def _plan_failed_batch_job(emulator: CloudEmulator) -> None:
    plan_batch_job(
        emulator,
        {"A": [BatchPhase(0, "RUNNING"), BatchPhase(0.5, "FAILED", failed_instances=[0], exit_code=3, reason="OOM")]},
        logs={"A": {0: ("loading 10 GB", "Traceback: MemoryError")}},
    )


@needs_3_3
def test_a_failed_batch_job_resumes_the_worker_which_copies_its_instance_logs(
    cloud_emulator: CloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    _plan_failed_batch_job(cloud_emulator)
    dag = _dag("batch")
    ended = _only(asyncio.run(asyncio.wait_for(_events(_as_the_triggerer_builds(dag)), 30)))

    assert not isinstance(ended, (TaskSuccessEvent, TaskFailedEvent))  # the worker resumes
    assert ended.payload["outcome"] == "failure"
    assert cloud_emulator.count(action="DescribeTaskLogs") == 0  # not fetched by the trigger
    ti, store = FakeTI(1), FakeStore()
    with pytest.raises(CloudExecutionFailed, match="OOM"):
        dag.get_task("run").execute_complete({"ti": ti, "task_state_store": store}, ended.payload)
    logged = capsys.readouterr().out  # the task's log lines
    assert "Traceback: MemoryError" in logged and "loading 10 GB" in logged
    assert cloud_emulator.count(action="DescribeTaskLogs", ok=True) == 1
    assert ti.xcoms[XCOM_EXECUTION] == ended.payload[RECORD_KEY]  # the start kept as a worker start keeps it


@needs_3_3
@ends_in_trigger
def test_a_failed_batch_job_without_log_copying_fails_the_task_in_the_triggerer(
    cloud_emulator: CloudEmulator,
) -> None:
    _plan_failed_batch_job(cloud_emulator)
    trigger = _as_the_triggerer_builds(_dag("batch", fetch_logs_on_failure=False))
    ended = _only(asyncio.run(asyncio.wait_for(_events(trigger), 30)))

    assert isinstance(ended, TaskFailedEvent)
    assert ended.xcoms is not None and ended.xcoms[XCOM_EXECUTION]["identifiers"]["job_id"]
    assert cloud_emulator.count(action="DescribeTaskLogs") == 0


def _executions(emulator: CloudEmulator, service: str) -> int:
    """How many executions the cloud holds: Batch jobs (one per ClientToken), CloudFlow executions."""
    if service == "batch":
        return len(emulator.scratch("batch").get("jobs", {}))
    return sum(e.service == service for e in emulator.executions)


@needs_3_3
def test_a_timeout_in_the_trigger_resumes_the_worker_which_stops_the_execution_it_started(
    cloud_emulator: CloudEmulator,
) -> None:
    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (120, "Succeeded")])
    dag = _dag("fnf")
    # The deferral's timeout is near: the wait's own deadline (a margin before it) comes in a second.
    soon = datetime.now(timezone.utc) + timedelta(seconds=START_TIMEOUT_MARGIN + 1)
    trigger = _as_the_triggerer_builds(dag, timeout_after=soon)
    ended = _only(asyncio.run(asyncio.wait_for(_events(trigger), 30)))

    assert not isinstance(ended, (TaskSuccessEvent, TaskFailedEvent))
    assert ended.payload["outcome"] == "timeout"
    record = ended.payload[RECORD_KEY]
    ti, store = FakeTI(1), FakeStore()
    operator = dag.get_task("run")
    with pytest.raises(CloudExecutionTimeout, match="cancelled"):
        operator.execute_complete({"ti": ti, "task_state_store": store}, ended.payload)
    assert cloud_emulator.count("fnf", "StopExecution", ok=True) == 1
    assert ti.xcoms[XCOM_EXECUTION] == record == store.get(STATE_KEY)  # kept as a worker start keeps it


def test_the_key_of_a_task_instance_counts_an_unmapped_task_as_map_index_minus_one() -> None:
    assert TaskKey.of(FakeTI(3)) == TaskKey("d", "run", "manual__1", -1, 3)


@pytest.mark.skipif(STARTS_FROM_TRIGGER, reason="below Airflow 3.3 only: the worker path")
@pytest.mark.parametrize("dag_id", ["op_start_in_trigger_fnf", "op_start_in_trigger_batch"])
def test_below_3_3_start_from_trigger_starts_on_a_worker_and_succeeds(
    dag_id: str, cloud_emulator: CloudEmulator
) -> None:
    from tests.dags import start_in_trigger_dags

    began = time.time()
    run = dag_test(getattr(start_in_trigger_dags, dag_id))
    assert run.get_task_instance("run").state == "success"
    service = "fnf" if dag_id.endswith("fnf") else "batch"
    assert cloud_emulator.count(service, START_CALL[service]) == 1
    assert time.time() - began < 60


@needs_3_3
@ends_in_trigger
@pytest.mark.parametrize("service", sorted(OPERATORS))
def test_the_trigger_returns_what_the_worker_path_returns(service: str, cloud_emulator: CloudEmulator) -> None:
    ended = _only(asyncio.run(asyncio.wait_for(_events(_as_the_triggerer_builds(_dag(service))), 30)))
    worker = OPERATORS[service](deferrable=False, start_from_trigger=False)
    worker.render_template_fields({"run_id": RUN_ID, "ds_nodash": "20260101"})
    returned = worker.execute({"ti": FakeTI(1), "task_state_store": FakeStore()})

    assert isinstance(ended, TaskSuccessEvent)
    from_trigger = ended.xcoms["return_value"]
    assert sorted(from_trigger) == sorted(returned)
    assert from_trigger["status"] == returned["status"] == "SUCCEEDED"


@needs_3_3
@pytest.mark.parametrize("service", sorted(OPERATORS))
def test_a_users_kill_after_the_start_stops_the_execution_the_trigger_started(
    service: str, cloud_emulator: CloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import airflow_reports

    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (120, "Succeeded")])
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (120, "SUCCEED")]})
    airflow_reports(monkeypatch, "failed")  # the user marked the deferred task failed
    trigger = _as_the_triggerer_builds(_dag(service))

    async def scenario() -> None:
        await _stopped_mid_wait(trigger, cloud_emulator, service)
        await trigger.on_kill()

    asyncio.run(scenario())
    cancel = {"fnf": "StopExecution", "batch": "TerminateJob"}[service]
    assert cloud_emulator.count(service, cancel, ok=True) == 1


@needs_3_3
def test_a_kill_before_the_start_was_answered_sends_nothing_and_does_not_raise(
    cloud_emulator: CloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import airflow_reports

    airflow_reports(monkeypatch, "failed")
    trigger = _as_the_triggerer_builds(_dag("batch"))
    asyncio.run(trigger.on_kill())
    assert cloud_emulator.count("batch", "TerminateJob") == 0
    assert cloud_emulator.count("batch", "SubmitJob") == 0


def _serialization() -> Any:
    """Airflow's DAG serializer: ``DagSerialization`` from 3.3, ``SerializedDAG`` before."""
    from airflow.serialization import serialized_objects

    return getattr(serialized_objects, "DagSerialization", None) or serialized_objects.SerializedDAG


def test_a_mapped_start_operator_serializes_and_is_left_to_a_worker() -> None:
    with DAG("start_in_trigger_mapped", schedule=None, start_date=START) as dag:
        TencentBatchSubmitJobOperator.partial(
            task_id="run", placement=PLACEMENT, deferrable=True, start_from_trigger=True
        ).expand(job=[{"JobName": "a", "Tasks": TASKS}, {"JobName": "b", "Tasks": TASKS}])
    serializer = _serialization()
    task = serializer.from_dict(serializer.to_dict(dag)).get_task("run")
    assert task.start_trigger_args is None  # no trigger to start from: the scheduler sends it to a worker


def test_an_operator_without_the_flag_serializes_no_start_trigger() -> None:
    serializer = _serialization()
    dag = _dag("batch", start_from_trigger=False)
    task = serializer.from_dict(serializer.to_dict(dag)).get_task("run")
    assert task.start_trigger_args is None and not task.start_from_trigger


@needs_3_3
def test_a_trigger_past_its_deadline_sends_no_start_and_the_worker_fails_the_task_without_a_cancel(
    cloud_emulator: CloudEmulator,
) -> None:
    dag = _dag("fnf")
    # Restarted after the deferral's deadline (less the margin) passed: nothing may be started any more.
    late = datetime.now(timezone.utc) + timedelta(seconds=START_TIMEOUT_MARGIN - 1)
    ended = _only(asyncio.run(asyncio.wait_for(_events(_as_the_triggerer_builds(dag, timeout_after=late)), 30)))

    assert ended.payload["outcome"] == "timeout" and RECORD_KEY not in ended.payload
    with pytest.raises(CloudExecutionTimeout, match="no execution is known to have started"):
        dag.get_task("run").execute_complete({"ti": FakeTI(1), "task_state_store": FakeStore()}, ended.payload)
    assert cloud_emulator.requests == []


@needs_3_3
def test_the_trigger_kwargs_rebuild_the_same_trigger_and_hold_only_ids_and_fields() -> None:
    trigger = _as_the_triggerer_builds(_dag("batch"))
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_cloudflows.triggers.start_in_trigger.StartInTriggerTrigger"
    assert set(kwargs) == {
        "start_action",
        "conn_field",
        "hook_fields",
        "timeout",
        "poll_interval",
        "cancel_on_kill",
        "on_retry",
        "xcom_key",
        "end_failures_in_trigger",
        "tencentcloud_conn_id",
        "region",
        "placement",
        "job",
    }
    assert kwargs["job"]["JobName"] == "job-20260101"  # as rendered by the triggerer
    assert type(trigger)(**kwargs).serialize() == (path, kwargs)
