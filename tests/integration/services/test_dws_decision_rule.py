"""Huawei DWS end to end: the trigger's decision rule (services/huawei_dws.py) against the emulator, per branch."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest

from airflow_provider_cloudflows.sensors import HuaweiDwsClusterTaskSensor
from airflow_provider_cloudflows.services.huawei_dws import NOT_SEEN_GRACE
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from cloudflows_emulator import CloudEmulator, dws_cluster, dws_task
from cloudflows_emulator.server import EmulatorServer
from tests.helpers import use_connections

SERVICE = "huawei_dws_cluster_task"
CLUSTER = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
IDS = {"cluster_id": CLUSTER, "action_name": "SNAPSHOTTING"}


pytestmark = pytest.mark.usefixtures("connected_emulator")


async def run_wait(
    ids: dict[str, Any] | None = None,
    *,
    timeout: float = 30,
    memory: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[dict[str, Any], int]:
    """Run the wait as a deferred sensor does: each ``memory`` event re-defers with a trigger rebuilt from the
    previous one's serialized kwargs (as a restarted triggerer would), same deadline; the final event and the
    number of hand-backs."""
    deadline = time.time() + timeout
    trigger_kwargs: dict[str, Any] = {
        "service": SERVICE,
        "identifiers": ids or IDS,
        "conn_id": "huaweicloud_default",
        "deadline": deadline,
        "timeout": timeout,
        "poll_interval": 0.2,
        "options": {"memory": memory} if memory else {},
        **kwargs,
    }
    handbacks = 0
    while True:
        trigger = CloudExecutionTrigger(**trigger_kwargs)
        events = [event.payload async for event in trigger.run()]
        assert len(events) == 1, events
        event: dict[str, Any] = events[0]
        if event["outcome"] != "memory":
            return event, handbacks
        handbacks += 1
        assert event["deadline"] == deadline  # handing memory back never extends the wait
        trigger_kwargs = {**trigger.serialize()[1], "options": {"memory": event["memory"]}}


def _views(emulator: CloudEmulator) -> int:
    return emulator.count("dws", "ListClusterActions")


def _details(emulator: CloudEmulator) -> int:
    return emulator.count("dws", "ListClusterDetails")


async def test_seen_running_then_gone_on_an_idle_cluster_succeeds(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.5))
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "success", event
    state = event["state"]
    assert (state["status"], state["vendor_status"]) == ("SUCCEEDED", "SUCCESS")
    assert state["evidence"] == (
        "SNAPSHOTTING was seen running, is gone, SNAPSHOTTING_FAILED has no record of it and the cluster is idle"
    )
    assert (state["cluster_status"], state["task_status"], state["failed_reasons"]) == ("AVAILABLE", None, {})
    assert state["request_id"]
    assert state["request_id"] in event["message"]
    # The end was read as: action view gone, failure view empty (both DWS.0001), then one cluster detail.
    assert cloud_emulator.count("dws", "ListClusterActions", error="DWS.0001") == 2
    assert _details(cloud_emulator) == 1


async def test_failed_task_fails_with_the_failure_view_error(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        dws_task(
            CLUSTER,
            phases=[(0, "RUNNING", 30)],
            end_at=0.4,
            end="failed",
            error_msg="OBS bucket dws-backup is not writable",
        )
    )
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "failure", event
    state = event["state"]
    assert (state["status"], state["vendor_status"], state["evidence"]) == (
        "FAILED",
        "FAILED",
        "SNAPSHOTTING_FAILED view",
    )
    assert "Create a snapshot / Perform a backup: OBS bucket dws-backup is not writable" in event["message"]
    assert state["action_name"] == "SNAPSHOTTING_FAILED"
    assert uuid.UUID(state["request_id"])
    assert state["request_id"] in event["message"]
    assert _details(cloud_emulator) == 0  # the failure record decided; the cluster detail was not needed


async def test_rolled_back_task_fails(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        dws_task(CLUSTER, phases=[(0, "RUNNING", 60), (0.2, "ROLLBACK_RUNNING")], end_at=0.5, end="rolled_back")
    )
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "failure", event
    assert (event["state"]["status"], event["state"]["vendor_status"]) == ("FAILED", "ROLLBACK_SUCCESS")
    # The rollback left the cluster healthy: only the failure view prevented a false success.
    assert event["state"]["evidence"] == "SNAPSHOTTING_FAILED view"


async def test_task_left_visible_with_success_succeeds(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 50)], end_at=0.3, keep_visible=True))
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "success", event
    state = event["state"]
    assert (state["vendor_status"], state["evidence"], state["progress"]) == ("SUCCESS", "SNAPSHOTTING view", 1.0)
    assert cloud_emulator.count("dws", ok=False) == 0
    assert _details(cloud_emulator) == 0


async def test_never_observed_fails_after_the_grace_never_succeeds(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_cluster(CLUSTER))
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "failure", event
    assert event["state"]["evidence"] == "SNAPSHOTTING never observed"
    assert "never observed" in event["message"]
    # NOT_SEEN_GRACE checks waited, the next one failed; each check reads the view, the failure view, the cluster.
    assert _details(cloud_emulator) == NOT_SEEN_GRACE + 1
    assert _views(cloud_emulator) == 2 * (NOT_SEEN_GRACE + 1)


async def test_unknown_cluster_errors_at_once(cloud_emulator: CloudEmulator) -> None:
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "error", event
    error = event["error"]
    assert (error["error_type"], error["code"], error["http_status"]) == ("NotFoundError", "DWS.0047", 401)
    assert uuid.UUID(error["request_id"])
    assert cloud_emulator.count() == 1


async def test_wrong_secret_errors_after_one_request(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    use_connections(monkeypatch, cloud_emulator_server, secret="not-the-secret")
    cloud_emulator.add_execution(dws_task(CLUSTER))
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "error", event
    error = event["error"]
    assert (error["error_type"], error["code"], error["http_status"]) == ("AuthError", "APIG.0301", 401)
    assert uuid.UUID(error["request_id"])
    # APIG locks a key after five bad signatures: never a second attempt.
    assert cloud_emulator.count() == 1


async def test_foreign_project_errors_after_one_request(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER))
    event, _ = await run_wait(IDS, hook_overrides={"project_id": "a" * 32})
    assert event["outcome"] == "error", event
    assert (event["error"]["error_type"], event["error"]["code"]) == ("AuthError", "APIG.0302")
    assert cloud_emulator.count() == 1


async def test_throttle_is_retried_after_the_built_in_pause(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 50)], end_at=0.3, keep_visible=True))
    cloud_emulator.inject("throttle", service="dws", count=1)
    started = time.monotonic()
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "success", event
    assert cloud_emulator.count("dws", error="APIG.0308") == 1
    assert time.monotonic() - started >= 3.0  # APIG sends no hint: the client's own ~3 s pause


@pytest.mark.parametrize("kind", ["server_error", "internal_error", "malformed", "drop"])
async def test_transient_faults_are_retried(cloud_emulator: CloudEmulator, kind: str) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 50)], end_at=0.3, keep_visible=True))
    cloud_emulator.inject(kind, service="dws", count=2)
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "success", event
    assert cloud_emulator.count("dws", ok=False) == 2


async def test_growing_with_resize_failure_on_the_cluster_fails(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        dws_task(
            CLUSTER,
            "GROWING",
            [(0, "RUNNING", 30)],
            end_at=0.4,
            end="failed",
            failure_record=False,
            error_code="DWS.6040",
            error_msg="Insufficient ECS quota",
        )
    )
    event, _ = await run_wait({"cluster_id": CLUSTER, "action_name": "GROWING"})
    assert event["outcome"] == "failure", event
    state = event["state"]
    assert (state["evidence"], state["task_status"]) == ("cluster detail shows a failure", "RESIZE_FAILURE")
    assert "task_status=RESIZE_FAILURE, DWS.6040: Insufficient ECS quota" in event["message"]
    assert cloud_emulator.count("dws", "ListClusterActions", error="DWS.0001") == 2


async def test_progress_transitions_are_logged(
    cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    cloud_emulator.add_execution(
        dws_task(
            CLUSTER,
            "GROWING",
            [(0, "WAITING", 0), (0.3, "RUNNING", 25), (0.6, "RUNNING", 75)],
            end_at=0.9,
            keep_visible=True,
        )
    )
    event, _ = await run_wait({"cluster_id": CLUSTER, "action_name": "GROWING"})
    assert event["outcome"] == "success", event
    # Airflow's structlog set-up may print instead of reaching the logging module: read both.
    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err
    for line in (
        "Scale out the cluster/Create nodes is WAITING",
        "Scale out the cluster/Create nodes is RUNNING (50.00%)",
        "Scale out the cluster/Create nodes is SUCCESS (100.00%)",
        "Scale out the cluster/Add nodes to the cluster is RUNNING (50.00%)",
        "Scale out the cluster/Add nodes to the cluster is SUCCESS (100.00%)",
    ):
        assert line in text, text


async def test_an_earlier_tasks_failure_record_does_not_fail_a_later_success(cloud_emulator: CloudEmulator) -> None:
    earlier = dws_task(CLUSTER, phases=[(0, "RUNNING", 10)], end="failed", error_msg="yesterday's snapshot failed")
    stale = earlier.timeline[-1][1]["actions"]["SNAPSHOTTING_FAILED"]
    stale["submit_time"] = "2025-05-19 09:05:10.0"
    current = dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.5)
    for _, payload in current.timeline:
        payload["actions"]["SNAPSHOTTING_FAILED"] = stale
    cloud_emulator.add_execution(current)
    event, _ = await run_wait(IDS)
    assert event["outcome"] == "success", event["message"]


def _reschedule_sensor() -> HuaweiDwsClusterTaskSensor:
    return HuaweiDwsClusterTaskSensor(
        task_id="wait", cluster_id=CLUSTER, action_name="SNAPSHOTTING", mode="reschedule", poke_interval=0.2
    )


def test_reschedule_mode_is_refused_at_construction() -> None:
    # Each reschedule is a fresh process, so the rule's memory would be lost and a finished task never confirmed.
    with pytest.raises(ValueError, match="mode='reschedule'"):
        _reschedule_sensor()
    # Poke mode keeps the memory across pokes in one process.
    HuaweiDwsClusterTaskSensor(task_id="wait", cluster_id=CLUSTER, action_name="SNAPSHOTTING", mode="poke")


def test_sensor_rejects_an_unknown_action_at_construction() -> None:
    with pytest.raises(ValueError, match="action_name"):
        HuaweiDwsClusterTaskSensor(task_id="wait", cluster_id=CLUSTER, action_name="NOPE")
