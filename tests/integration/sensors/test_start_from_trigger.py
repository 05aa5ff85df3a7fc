"""Sensors started in the triggerer (``start_from_trigger``), against the emulator over HTTP.

The trigger is built the way Airflow 3.3's scheduler stores it and its triggerer builds it: the DAG serialized
and deserialized, the trigger row's kwargs from the task's ``start_trigger_args`` (``TaskInstance.defer_task``),
decrypted and decoded as ``TriggerRunner.create_triggers`` does, the trigger given a runtime task instance of
the deserialized task (``TriggerRunner.create_runtime_ti``), its absolute ``timeout_after`` and its templated
fields rendered with that task instance's context. Where Airflow keeps the worker (a timeout, ``soft_fail``,
Airflow 3.1, ``dag.test()``) the sensor resumes or defers on a worker exactly as in the deferred path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import uuid
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.triggers.base import BaseTrigger, TaskFailedEvent, TaskSuccessEvent, TriggerEvent
from airflow.utils.state import TaskInstanceState

from airflow_provider_cloudflows.compat import (
    STARTS_FROM_TRIGGER,
    TASK_END_EVENTS_RETRY,
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from airflow_provider_cloudflows.operators.links import AlibabaCloudFlowExecutionLink
from airflow_provider_cloudflows.sensors import AlibabaCloudFlowExecutionSensor, TencentBatchJobSensor
from airflow_provider_cloudflows.sensors.base import DEFER_TIMEOUT_MARGIN
from airflow_provider_cloudflows.triggers.started import StartedWaitTrigger
from cloudflows_emulator import CloudEmulator, EmulatorServer, cloudflow_execution
from cloudflows_emulator.testing import dag_test

pytestmark = pytest.mark.usefixtures("connected_emulator")

starts_from_trigger = pytest.mark.skipif(not STARTS_FROM_TRIGGER, reason="start_from_trigger works from Airflow 3.3")
ends_in_trigger = pytest.mark.skipif(
    not TASK_END_EVENTS_RETRY, reason="a trigger ends its task from Airflow 3.3.1 (a failure then honours retries)"
)

FLOW = "flow-a"
EXECUTION = "exec-1"
CLASSPATH = "airflow_provider_cloudflows.triggers.started.StartedWaitTrigger"


def _dag(dag_id: str = "started_wait", *, execution: str = EXECUTION, **sensor_kwargs: Any) -> DAG:
    """One CloudFlow sensor started in the triggerer, its execution name templated from a param."""
    kwargs: dict[str, Any] = {"deferrable": True, "start_from_trigger": True, "poke_interval": 0.2, "timeout": 30}
    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1), params={"execution": execution}) as dag:
        AlibabaCloudFlowExecutionSensor(
            task_id="wait",
            flow_name=FLOW,
            execution_name="{{ params.execution }}",
            **{**kwargs, **sensor_kwargs},
        )
    return dag


def _serialized(dag: DAG) -> tuple[dict[str, Any], Any]:
    """The DAG as the DAG processor stores it, and its task as the scheduler reads it back."""
    from airflow.serialization.serialized_objects import DagSerialization

    encoded = DagSerialization.to_dict(dag)
    return encoded, DagSerialization.from_dict(encoded).get_task("wait")


def _row_kwargs(task: Any) -> dict[str, Any]:
    """The trigger's kwargs as the scheduler writes its row (``defer_task``) and the triggerer reads it."""
    from airflow.models.trigger import Trigger

    args = task.start_trigger_args
    row = Trigger(classpath=args.trigger_cls, kwargs=args.trigger_kwargs or {})
    from airflow.serialization.decoders import smart_decode_trigger_kwargs

    return {k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(row.encrypted_kwargs).items()}


class Started:
    """A trigger started by the triggerer, and the worker-side objects a resumed task would have."""

    def __init__(self, dag: DAG, *, timeout_after: dt.datetime | None = None) -> None:
        from airflow.executors.workloads.task import TaskInstanceDTO
        from airflow.jobs.triggerer_job_runner import TriggerRunner
        from airflow.sdk._shared.module_loading import import_string

        encoded, task = _serialized(dag)
        now = dt.datetime.now(dt.timezone.utc)
        run_id = "manual__started"
        ti = TaskInstanceDTO(
            id=uuid.uuid4(),
            task_id="wait",
            dag_id=dag.dag_id,
            run_id=run_id,
            try_number=1,
            dag_version_id=uuid.uuid4(),
            map_index=-1,
            pool_slots=1,
            priority_weight=1,
            queue="default",
        )
        dag_run = {
            "dag_id": dag.dag_id,
            "run_id": run_id,
            "logical_date": now,
            "data_interval_start": now,
            "data_interval_end": now,
            "run_after": now,
            "start_date": now,
            "end_date": None,
            "run_type": "manual",
            "state": "running",
            "conf": {},
            "consumed_asset_events": [],
            "partition_key": None,
        }
        self.kwargs = _row_kwargs(task)
        self.runtime_ti = TriggerRunner.create_runtime_ti(ti, encoded, dag_run)
        self.context = self.runtime_ti.get_template_context()
        self.trigger: BaseTrigger = import_string(task.start_trigger_args.trigger_cls)(**self.kwargs)
        self.trigger.task_instance = self.runtime_ti
        self.trigger.trigger_id = 1
        # The task's trigger_timeout: now + the start args' timeout when the scheduler deferred it.
        self.trigger.timeout_after = timeout_after or now + task.start_trigger_args.timeout  # type: ignore[attr-defined]
        self.trigger.render_template_fields(context=self.context)
        # The task as a worker runs it: the DAG file's own operator.
        self.sensor = dag.get_task("wait")

    async def first_event(self, within: float = 20.0) -> TriggerEvent:
        """The trigger's first event (a wait yields exactly one)."""
        agen = self.trigger.run()
        try:
            return await asyncio.wait_for(agen.__anext__(), within)
        finally:
            await agen.aclose()

    def resume(self, event: TriggerEvent) -> Any:
        """The worker's resume with the event, as the task runner calls it (``next_method`` and its kwargs)."""
        return self.sensor.resume_execution("execute_complete", {"event": event.payload}, self.context)


def _secret(server: EmulatorServer) -> str:
    conn = json.loads(server.airflow_connections()["AIRFLOW_CONN_ALIBABACLOUD_DEFAULT"])
    return str(conn["password"])


@starts_from_trigger
def test_the_serialized_dag_keeps_start_from_trigger_and_unrendered_kwargs_without_secrets(
    cloud_emulator_server: EmulatorServer,
) -> None:
    encoded, task = _serialized(_dag(timeout=100))
    assert task.start_from_trigger is True
    args = task.start_trigger_args
    assert (args.trigger_cls, args.next_method) == (CLASSPATH, "execute_complete")
    assert args.timeout == dt.timedelta(seconds=100 + DEFER_TIMEOUT_MARGIN)
    kwargs = _row_kwargs(task)
    # The templated fields under their own names, unrendered: the triggerer renders them.
    assert kwargs["execution_name"] == "{{ params.execution }}"
    assert (kwargs["flow_name"], kwargs["alibabacloud_conn_id"], kwargs["region"]) == (
        FLOW,
        "alibabacloud_default",
        None,
    )
    assert set(task.template_fields) <= set(kwargs)
    assert _secret(cloud_emulator_server) not in json.dumps(encoded, default=str)


def test_start_from_trigger_makes_the_wait_deferrable_whatever_the_default() -> None:
    assert _dag(deferrable=False).get_task("wait").deferrable is True
    assert _dag(deferrable=False, start_from_trigger=False).get_task("wait").deferrable is False


def test_an_upstream_output_in_a_templated_field_is_refused_with_start_from_trigger() -> None:
    from airflow.sdk import task

    @task
    def region() -> str:
        return "cn-hangzhou"

    with (
        DAG("started_xcomarg", schedule=None, start_date=dt.datetime(2026, 1, 1)),
        pytest.raises(ValueError, match="region must be a value or a template string"),
    ):
        AlibabaCloudFlowExecutionSensor(
            task_id="wait",
            flow_name=FLOW,
            execution_name=EXECUTION,
            region=region(),
            deferrable=True,
            start_from_trigger=True,
        )


@starts_from_trigger
@ends_in_trigger
def test_the_triggerer_renders_the_ids_and_ends_the_task_with_its_xcom(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (0.5, "Succeeded")], output={"rows": 3})
    )
    started = Started(_dag())
    assert started.trigger.execution_name == EXECUTION  # type: ignore[attr-defined]
    event = asyncio.run(started.first_event())
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms is not None
    state = event.xcoms["return_value"]
    # The same return value as the deferred path's execute_complete.
    assert (state["status"], state["vendor_status"], state["Output"]) == ("SUCCEEDED", "Succeeded", {"rows": 3})
    assert state["identifiers"] == {"flow_name": FLOW, "execution_name": EXECUTION}
    assert cloud_emulator.count("fnf", "DescribeExecution") >= 1
    # The console link, which the worker's finalize() would have resolved from the rendered sensor.
    link = AlibabaCloudFlowExecutionLink()
    started.sensor.render_template_fields(started.context)
    from airflow.models.taskinstancekey import TaskInstanceKey

    ti = started.runtime_ti
    key = TaskInstanceKey(ti.dag_id, ti.task_id, ti.run_id, ti.try_number, ti.map_index)
    expected = link.get_link(started.sensor, ti_key=key)
    assert expected.endswith(f"/flows/{FLOW}/executions/{EXECUTION}")
    assert event.xcoms[link.xcom_key] == expected


@starts_from_trigger
@ends_in_trigger
def test_a_failed_execution_ends_the_task_failed_after_logging_the_vendor_status(
    cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    cloud_emulator.add_execution(
        cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (0.3, "Failed")], failed_step="load", error="Boom")
    )
    event = asyncio.run(Started(_dag()).first_event())
    assert isinstance(event, TaskFailedEvent)
    assert event.xcoms is not None and AlibabaCloudFlowExecutionLink().xcom_key in event.xcoms  # the console link
    logged = caplog.text + capsys.readouterr().out
    failure = next(line for line in logged.splitlines() if "is FAILED" in line)
    assert "error" in failure
    assert "Status='Failed'" in failure
    assert "step 'load'" in failure


@starts_from_trigger
def test_with_soft_fail_a_failed_execution_resumes_the_worker_which_skips(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (0.3, "Failed")]))
    started = Started(_dag(soft_fail=True))
    event = asyncio.run(started.first_event())
    assert type(event) is TriggerEvent and event.payload["outcome"] == "failure"
    with pytest.raises(AirflowSkipException):
        started.resume(event)


@starts_from_trigger
@pytest.mark.parametrize("soft_fail", [False, True])
def test_the_timeout_resumes_the_worker_which_raises_sensor_timeout_or_skips(
    cloud_emulator: CloudEmulator, soft_fail: bool
) -> None:
    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (600, "Succeeded")]))
    started = Started(_dag(timeout=1, soft_fail=soft_fail))
    event = asyncio.run(started.first_event())
    assert type(event) is TriggerEvent and event.payload["outcome"] == "timeout"
    assert "within the sensor's timeout (1s)" in event.payload["message"]
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout, match="" if soft_fail else "1s"):
        started.resume(event)


@starts_from_trigger
def test_a_restarted_trigger_keeps_the_deadline_of_the_first(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (600, "Succeeded")]))
    dag = _dag(timeout=30)
    # The task was handed to the triggerer about 28 s ago: 2 s of its 30 s timeout are left.
    timeout_after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2 + DEFER_TIMEOUT_MARGIN)
    first = Started(dag, timeout_after=timeout_after)

    async def killed_after_a_poll() -> None:
        agen = first.trigger.run()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(agen.__anext__(), 0.5)
        await agen.aclose()

    asyncio.run(killed_after_a_poll())
    assert cloud_emulator.count("fnf", "DescribeExecution") >= 1
    restarted = Started(dag, timeout_after=timeout_after)
    started_at = time.monotonic()
    event = asyncio.run(restarted.first_event(within=20))
    assert event.payload["outcome"] == "timeout"
    assert "within the sensor's timeout (30s)" in event.payload["message"]
    # The first trigger's deadline, not a fresh 30 s.
    assert time.monotonic() - started_at < 15


@starts_from_trigger
def test_a_trigger_restarted_past_its_deadline_times_out_without_a_request(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (600, "Succeeded")]))
    timeout_after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=DEFER_TIMEOUT_MARGIN - 5)
    event = asyncio.run(Started(_dag(), timeout_after=timeout_after).first_event())
    assert event.payload["outcome"] == "timeout"
    assert cloud_emulator.count("fnf") == 0


@starts_from_trigger
def test_a_bad_rendered_id_resumes_the_worker_with_an_error_naming_the_parameter(
    cloud_emulator: CloudEmulator,
) -> None:
    started = Started(_dag(execution="not a valid name!"))
    event = asyncio.run(started.first_event())
    assert type(event) is TriggerEvent and event.payload["outcome"] == "error"
    assert "execution_name" in event.payload["message"]
    with pytest.raises(AirflowException, match="execution_name"):
        started.resume(event)
    assert cloud_emulator.count("fnf") == 0


def test_a_trigger_whose_fields_were_not_rendered_errs_instead_of_polling(cloud_emulator: CloudEmulator) -> None:
    kwargs = dict(_dag().get_task("wait").start_trigger_args.trigger_kwargs)
    event = asyncio.run(_first(StartedWaitTrigger(**kwargs)))
    assert event.payload["outcome"] == "error"
    assert "execution_name was not rendered" in event.payload["message"]
    assert cloud_emulator.count("fnf") == 0


async def _first(trigger: BaseTrigger) -> TriggerEvent:
    agen = trigger.run()
    try:
        return await asyncio.wait_for(agen.__anext__(), 20)
    finally:
        await agen.aclose()


@starts_from_trigger
def test_airflow_starts_no_mapped_sensor_in_the_triggerer() -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("started_mapped", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dag:
        TencentBatchJobSensor.partial(task_id="wait", deferrable=True, start_from_trigger=True).expand(
            job_id=["job-abcdefgh", "job-bbcdefgh"]
        )
    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("wait")
    assert task.start_from_trigger is True
    # What the scheduler's defer_task() reads: nothing to start, so the mapped instances run on a worker.
    ti = TaskInstance(task=task, run_id="manual__mapped", map_index=0, dag_version_id=uuid.uuid4())
    assert ti.start_trigger_args is None


@pytest.mark.usefixtures("airflow_db")
def test_dag_test_runs_the_sensor_on_a_worker_which_defers_and_succeeds(
    cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # dag.test() sets its tasks SCHEDULED itself and never calls TaskInstance.defer_task(), at 3.1 as at 3.3:
    # start_from_trigger is not honoured there, the task defers from the worker as in the deferred path.
    caplog.set_level(logging.INFO)
    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (0.6, "Succeeded")]))
    run = dag_test(_dag("started_wait_dag_test"))
    ti = run.get_task_instance("wait")
    logged = caplog.text + capsys.readouterr().out
    assert ti.state == TaskInstanceState.SUCCESS, logged
    assert "start_from_trigger is set but the task started on a worker" in logged
    assert "running trigger in line" in logged
    reason = "e.g. dag.test() runs every task on a worker" if STARTS_FROM_TRIGGER else "from 3.3"
    assert reason in logged
    assert ti.xcom_pull(task_ids="wait")["identifiers"]["execution_name"] == EXECUTION


@pytest.mark.parametrize(
    ("timeout", "execution_timeout", "deadline_after"),
    [
        (30, None, 30.0),
        (1, None, 1.0),
        (7 * 86400, dt.timedelta(seconds=10), 9.0),
        (3600, dt.timedelta(minutes=10), 570.0),
    ],
)
def test_the_deadline_is_the_sensor_timeout_and_always_precedes_airflow_trigger_timeout(
    timeout: float, execution_timeout: dt.timedelta | None, deadline_after: float
) -> None:
    # Airflow's trigger timeout: the start args' timeout, or execution_timeout when shorter (defer_task).
    dag = _dag(timeout=timeout, execution_timeout=execution_timeout)
    args = dag.get_task("wait").start_trigger_args
    assert args is not None and args.timeout is not None
    airflow_timeout = args.timeout if execution_timeout is None else min(args.timeout, execution_timeout)
    start = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)
    trigger = StartedWaitTrigger(**dict(args.trigger_kwargs or {}))
    trigger.timeout_after = start + airflow_timeout
    assert trigger.absolute_deadline() == pytest.approx(start.timestamp() + deadline_after)
    assert trigger.absolute_deadline() < trigger.timeout_after.timestamp()


def test_the_huawei_sensors_hand_their_project_and_link_cluster_to_the_trigger() -> None:
    from airflow_provider_cloudflows.operators.links import HuaweiDwsClusterLink
    from airflow_provider_cloudflows.sensors import HuaweiDwsJobSensor

    with DAG("started_dws_job", schedule=None, start_date=dt.datetime(2026, 1, 1)):
        sensor = HuaweiDwsJobSensor(
            task_id="wait",
            job_id="{{ params.job }}",
            cluster_id="{{ params.cluster }}",
            project_id="p-1",
            deferrable=True,
            start_from_trigger=True,
        )
    assert (sensor.project_id, sensor.cluster_id) == ("p-1", "{{ params.cluster }}")
    args = sensor.start_trigger_args
    assert args is not None
    kwargs = dict(args.trigger_kwargs or {})
    assert (kwargs["project_id"], kwargs["cluster_id"], kwargs["job_id"]) == (
        "p-1",
        "{{ params.cluster }}",
        "{{ params.job }}",
    )
    assert kwargs["override_fields"] == ["region", "project_id"]
    assert [link["xcom_key"] for link in kwargs["links"]] == [HuaweiDwsClusterLink().xcom_key]


@starts_from_trigger
def test_a_sensor_with_outlets_succeeds_on_the_worker_which_records_their_asset_events(
    cloud_emulator: CloudEmulator,
) -> None:
    from airflow.sdk import Asset

    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (0.3, "Succeeded")]))
    started = Started(_dag(outlets=[Asset("cloudflow://flow-a/done")]))
    event = asyncio.run(started.first_event())
    # A TaskSuccessEvent would end the task without its asset events (the triggerer only sets the state).
    assert type(event) is TriggerEvent and event.payload["outcome"] == "success"
    assert started.resume(event)["identifiers"]["execution_name"] == EXECUTION


@starts_from_trigger
@ends_in_trigger
def test_without_xcom_push_the_task_ends_in_the_triggerer_with_its_link_only(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running"), (0.3, "Succeeded")]))
    event = asyncio.run(Started(_dag(do_xcom_push=False)).first_event())
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms is not None and set(event.xcoms) == {AlibabaCloudFlowExecutionLink().xcom_key}
