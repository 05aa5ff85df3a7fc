"""Huawei DWS: no end inferred from noise, failure records judged on evidence, memory that survives a
triggerer restart. Over real HTTP against the emulator; ``run_wait`` re-defers on every memory hand-back with a
trigger rebuilt from the previous one's serialized kwargs, as a restarted triggerer would build it."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import uuid
from typing import Any

import pytest

from airflow_provider_cloudflows.sensors import HuaweiDwsClusterTaskSensor
from airflow_provider_cloudflows.sensors.base import DEFER_TIMEOUT_MARGIN
from airflow_provider_cloudflows.services.huawei_dws import NOT_SEEN_GRACE
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from cloudflows_emulator import CloudEmulator, dws_cluster, dws_task
from cloudflows_emulator.huawei import dws_answer, dws_record
from tests.helpers import TaskDeferred
from tests.integration.services.test_dws_decision_rule import CLUSTER, IDS, run_wait

FAILURE_VIEW = "SNAPSHOTTING_FAILED"
NOW = dt.datetime.now(dt.timezone.utc)


pytestmark = pytest.mark.usefixtures("connected_emulator")


def _details(emulator: CloudEmulator) -> int:
    return emulator.count("dws", "ListClusterDetails")


def _idle(**views: dict[str, Any]) -> dict[str, Any]:
    """The payload of an idle, healthy cluster whose views serve ``views``."""
    payload: dict[str, Any] = dws_cluster(CLUSTER, actions=views).timeline[0][1]
    return payload


# --- 1. "DWS inferred from noise" ---------------------------------------------------------------------------

NOISE = {
    "200 status false": dws_answer(200, {"status": False}),
    "200 empty": dws_answer(200, {}),
    "200 error envelope": dws_answer(200, {"error_code": "DWS.0001", "error_msg": "No ongoing task."}),
    "200 record of another action": dws_answer(
        200, {"id": str(uuid.uuid4()), "status": "SUCCESS", "action_name": "GROWING"}
    ),
    "404 APIG.0101": dws_answer(404, error_code="APIG.0101", error_msg="The API does not exist."),
    "400 without a code": dws_answer(400, error_msg="Bad request."),
    "409 DWS.0011": dws_answer(409, error_code="DWS.0011", error_msg="Another operation is in progress."),
    "412": dws_answer(412, error_code="DWS.0001", error_msg="Precondition failed."),
    "201": dws_answer(201, error_code="DWS.0001", error_msg="No ongoing task."),
    "206": dws_answer(206, error_code="DWS.0001", error_msg="No ongoing task."),
    "302": dws_answer(302, error_code="DWS.0001", error_msg="No ongoing task."),
}


@pytest.mark.parametrize("answer", list(NOISE.values()), ids=list(NOISE))
async def test_noise_in_the_action_view_after_the_task_was_seen_is_no_end(
    cloud_emulator: CloudEmulator, answer: dict[str, Any]
) -> None:
    # Seen running, then the view answers noise while the cluster is idle: reading that as "gone" would be
    # a success inferred from nothing.
    task = dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.4)
    task.timeline[-1][1]["actions"]["SNAPSHOTTING"] = answer
    cloud_emulator.add_execution(task)
    event, _ = await run_wait(IDS, timeout=2.0)
    # A typed error (propagated as the transport typed it) or the wait goes on to its timeout; never an end.
    assert event["outcome"] in ("error", "timeout"), event
    assert _details(cloud_emulator) == 0  # the "action is gone" branch was never taken


@pytest.mark.parametrize("name", ["200 status false", "200 empty", "409 DWS.0011", "404 APIG.0101"])
async def test_noise_on_a_task_never_seen_is_no_end(cloud_emulator: CloudEmulator, name: str) -> None:
    cloud_emulator.add_execution(dws_cluster(CLUSTER, actions={"SNAPSHOTTING": NOISE[name]}))
    event, _ = await run_wait(IDS, timeout=1.5)
    assert event["outcome"] in ("error", "timeout"), event
    assert _details(cloud_emulator) == 0


async def test_noise_in_the_cluster_detail_is_no_end(cloud_emulator: CloudEmulator) -> None:
    task = dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.4)
    task.timeline[-1][1]["cluster_answer"] = dws_answer(200, {"cluster": {}})
    cloud_emulator.add_execution(task)
    event, _ = await run_wait(IDS, timeout=1.5)
    assert event["outcome"] == "timeout", event
    assert "UNKNOWN" in event["message"]


async def test_the_evidenced_gone_answer_still_ends_the_wait(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.4))
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "success", event
    assert cloud_emulator.count("dws", "ListClusterActions", error="DWS.0001") == 2


# --- 2. "DWS failure records" ---------------------------------------------------------------------------------


async def test_a_failure_record_with_another_id_fails_the_wait(cloud_emulator: CloudEmulator) -> None:
    # The defect: the failure view's id differs from the action view's, the rollback left the cluster healthy,
    # and the wait reported SUCCEEDED. The record's submit time is the seen task's: it is this task's failure.
    cloud_emulator.add_execution(
        dws_task(
            CLUSTER,
            phases=[(0, "RUNNING", 40)],
            end_at=0.4,
            end="rolled_back",
            error_msg="OBS bucket is not writable",
            failure_overrides={"id": str(uuid.uuid4())},
        )
    )
    event, handbacks = await run_wait(IDS)
    assert event["outcome"] == "failure", event
    state = event["state"]
    assert (state["vendor_status"], state["evidence"]) == ("ROLLBACK_SUCCESS", "SNAPSHOTTING_FAILED view")
    assert "not before the task seen running" in state["attribution"]
    assert "OBS bucket is not writable" in event["message"]
    assert handbacks == 1


async def test_a_failure_record_that_cannot_be_attributed_is_never_a_success(cloud_emulator: CloudEmulator) -> None:
    # Another id and no time at all: the record may be this task's or not. Never a success.
    cloud_emulator.add_execution(
        dws_task(
            CLUSTER,
            phases=[(0, "RUNNING", 40)],
            end_at=0.4,
            end="rolled_back",
            failure_overrides={"id": str(uuid.uuid4()), "submit_time": None, "items": []},
        )
    )
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "failure", event
    assert event["state"]["evidence"] == "outcome could not be confirmed"
    assert "could not be confirmed" in event["message"]
    assert "SNAPSHOTTING_FAILED holds a ROLLBACK_SUCCESS record" in event["message"]
    assert "no time to compare with" in event["message"]


async def test_an_old_failure_record_before_the_task_is_seen_does_not_fail_a_new_wait(
    cloud_emulator: CloudEmulator,
) -> None:
    # The opposite defect: yesterday's failed snapshot is still in the failure view when the wait starts, and
    # the new task shows up only a little later. It runs for 3 s: polls 0.2 s apart see it however busy the
    # machine (a task that ends unseen cannot be confirmed, and that is another test).
    stale = dws_record(FAILURE_VIEW, submitted=NOW - dt.timedelta(days=2), error_msg="yesterday's failure")
    task = dws_task(CLUSTER, phases=[(0.3, "RUNNING", 20)], end_at=3.3, views={FAILURE_VIEW: stale})
    task.timeline.insert(0, (0.0, _idle(**{FAILURE_VIEW: stale})))
    cloud_emulator.add_execution(task)
    event, handbacks = await run_wait(IDS)
    assert event["outcome"] == "success", event["message"]
    assert "yesterday's failure" not in event["message"]
    # The wait's start, then the task first seen running, both by the trigger; a check that reads the action
    # view just before the task shows up and the cluster detail just after sees it there first, and hands
    # back once more when the action view then names its id.
    assert handbacks in (2, 3)


async def test_an_old_failure_record_and_no_task_is_unconfirmed_not_this_tasks_failure(
    cloud_emulator: CloudEmulator,
) -> None:
    stale = dws_record(FAILURE_VIEW, submitted=NOW - dt.timedelta(days=2), error_msg="yesterday's failure")
    cloud_emulator.add_execution(dws_cluster(CLUSTER, actions={FAILURE_VIEW: stale}))
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "failure", event
    message = event["message"]
    assert "never observed" in message and "could not be confirmed" in message
    assert "ended before this wait started" in message
    assert _details(cloud_emulator) == NOT_SEEN_GRACE + 1  # the grace for the task to show up was given


async def test_a_failure_recorded_after_the_wait_started_fails_it_even_unseen(cloud_emulator: CloudEmulator) -> None:
    # The task failed before the wait ever saw it; its record is certainly later than the wait's start
    # (whatever the zone of DWS's times), so it is this wait's failure.
    started = time.time() - 20 * 3600
    record = dws_record(FAILURE_VIEW, submitted=NOW, error_msg="disk quota exceeded")
    cloud_emulator.add_execution(dws_cluster(CLUSTER, actions={FAILURE_VIEW: record}))
    event, handbacks = await run_wait(IDS, memory={"started": started})
    assert event["outcome"] == "failure", event
    assert "was active after this wait started" in event["state"]["attribution"]
    assert "disk quota exceeded" in event["message"]
    assert (handbacks, _details(cloud_emulator)) == (0, 0)


async def test_a_failure_record_that_cannot_be_placed_is_waited_on_then_unconfirmed(
    cloud_emulator: CloudEmulator,
) -> None:
    # Recorded an hour ago, the wait started now: with DWS's zone-less times that is neither certainly before
    # nor certainly after, so neither this task's failure nor ignorable.
    record = dws_record(FAILURE_VIEW, submitted=NOW - dt.timedelta(hours=1))
    cloud_emulator.add_execution(dws_cluster(CLUSTER, actions={FAILURE_VIEW: record}))
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "failure", event
    assert "could not be confirmed" in event["message"]
    assert "cannot be placed before or after" in event["message"]


async def test_a_final_record_left_in_the_action_view_from_an_earlier_task_is_no_success(
    cloud_emulator: CloudEmulator,
) -> None:
    old = dws_record("SNAPSHOTTING", "SUCCESS", submitted=NOW - dt.timedelta(days=3))
    cloud_emulator.add_execution(dws_cluster(CLUSTER, actions={"SNAPSHOTTING": old}))
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "failure", event
    assert "could not be confirmed" in event["message"]


# --- 3. "DWS memory across a triggerer restart" -------------------------------------------------------------


def _sensor(timeout: float = 30) -> HuaweiDwsClusterTaskSensor:
    return HuaweiDwsClusterTaskSensor(
        task_id="wait",
        cluster_id=CLUSTER,
        action_name="SNAPSHOTTING",
        deferrable=True,
        poke_interval=0.2,
        timeout=timeout,
    )


def _restarted(trigger: Any) -> CloudExecutionTrigger:
    """The trigger a restarted triggerer builds: only the serialized kwargs survive."""
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("CloudExecutionTrigger")
    return CloudExecutionTrigger(**kwargs)


async def _one_event(trigger: CloudExecutionTrigger) -> dict[str, Any]:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1, events
    payload: dict[str, Any] = events[0]
    return payload


async def test_seen_running_survives_a_triggerer_restart(cloud_emulator: CloudEmulator) -> None:
    # The task shows up only once the test moves the emulator's script on after the sensor's first check, and
    # runs while the first trigger watches; it ends when the test moves the script on again: no moment a busy
    # machine could miss.
    task = dws_task(CLUSTER, phases=[(60, "RUNNING", 20)], end_at=600)
    task.timeline.insert(0, (0.0, _idle()))
    cloud_emulator.add_execution(task)
    sensor = _sensor()
    with pytest.raises(TaskDeferred) as first:
        sensor.execute({})  # type: ignore[arg-type]
    cloud_emulator.advance(60)
    first_kwargs = first.value.trigger.serialize()[1]
    event = await _one_event(_restarted(first.value.trigger))
    assert event["outcome"] == "memory", event
    assert {"seen_at", "task_id", "task_submit_time"} <= set(event["memory"])
    # The sensor resumes and defers again, with the memory and the SAME deadline: no extension.
    resumed = time.time()
    with pytest.raises(TaskDeferred) as again:
        sensor.execute_complete({}, event)  # type: ignore[arg-type]
    kwargs = again.value.trigger.serialize()[1]
    assert kwargs["deadline"] == first_kwargs["deadline"]
    assert kwargs["options"]["memory"] == event["memory"]
    assert again.value.timeout is not None and first.value.timeout is not None
    assert again.value.timeout <= first.value.timeout
    # Measured from before the resume, so a busy machine cannot make a correct timeout look too long.
    assert again.value.timeout.total_seconds() <= kwargs["deadline"] - resumed + DEFER_TIMEOUT_MARGIN + 0.01
    cloud_emulator.advance(600)
    await cloud_emulator.wait_for("dws", (CLUSTER,), lambda payload: "SNAPSHOTTING" not in payload["actions"], 3.0)
    # A triggerer restart now: the trigger is rebuilt from the kwargs alone, after the task is gone.
    final = await _one_event(_restarted(again.value.trigger))
    assert final["outcome"] == "success", final
    assert sensor.execute_complete({}, final)["status"] == "SUCCEEDED"  # type: ignore[arg-type]
    # Without the hand-back, the restarted trigger has only the first kwargs and cannot confirm the end.
    lost = await _one_event(CloudExecutionTrigger(**first_kwargs))
    assert lost["outcome"] == "failure" and "never observed" in lost["message"], lost


def test_a_memory_event_never_extends_the_sensors_deadline() -> None:
    sensor = _sensor(timeout=100)
    deadline = time.time() + 5
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute_complete({}, {"outcome": "memory", "memory": {"seen_at": 1.0}, "deadline": deadline})  # type: ignore[arg-type]
    assert deferred.value.trigger.serialize()[1]["deadline"] == deadline
    assert deferred.value.timeout is not None
    assert deferred.value.timeout.total_seconds() <= 5 + DEFER_TIMEOUT_MARGIN
    with pytest.raises(Exception, match="unexpected trigger event"):
        sensor.execute_complete({}, {"outcome": "memory", "memory": "x", "deadline": deadline})  # type: ignore[arg-type]


def _dag_test(dag: Any) -> Any:
    # Before Airflow 3.3 dag.test() does not write the bundle's DAG to the metadata DB itself.
    import importlib.metadata

    from packaging.version import Version

    if Version(importlib.metadata.version("apache-airflow")) < Version("3.3"):
        from airflow.utils.cli import get_bagged_dag

        get_bagged_dag(None, dag.dag_id)
    return dag.test()


def test_dag_test_of_a_deferrable_sensor_whose_task_the_trigger_sees_first_succeeds(
    airflow_db: None,
    cloud_emulator: CloudEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.utils.state import TaskInstanceState

    from tests.dags import dws_dags

    caplog.set_level(logging.INFO)
    # The sensor's first check finds an idle cluster; the task is submitted right after it (so whenever the
    # trigger starts, however slow the machine, the trigger is the first to see it running).
    cloud_emulator.add_execution(dws_cluster(CLUSTER))

    def submit_after_the_first_check() -> None:
        give_up = time.monotonic() + 120
        while _details(cloud_emulator) < 1 and time.monotonic() < give_up:
            time.sleep(0.005)
        cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=1.0))

    submitter = threading.Thread(target=submit_after_the_first_check, daemon=True)
    submitter.start()
    started = time.monotonic()
    run = _dag_test(dws_dags.dws_deferrable)
    elapsed = time.monotonic() - started
    submitter.join(timeout=1)
    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err
    ti = run.get_task_instance("wait")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert ti.xcom_pull(task_ids="wait")["evidence"].startswith("SNAPSHOTTING was seen running")
    # One resume for the memory, counted: the first trigger saw the task, the second confirmed its end.
    resumes = len(re.findall(r"deferring again with the wait's memory", text))
    assert resumes == 1, text
    assert text.count("running trigger in line") == 2
    print(f"dag.test() with {resumes} memory hand-back: {elapsed:.2f}s")
