"""DWS's documented "try again later" answer (409 ``DWS.0011``) on the action view is an outage, not an
outcome: the transport retries it and a wait with deadline left polls through it, in the trigger and in poke
mode, exactly as through a 5xx. An undocumented 409 code still ends the wait with an error, and a write
answered DWS.0011 stays a refusal (never "maybe applied")."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from airflow_provider_cloudflows.actions.huawei import SNAPSHOTS_PATH
from airflow_provider_cloudflows.errors import InvalidRequestError, ServerError
from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.services.huawei_dws import ACTION_PATH
from airflow_provider_cloudflows.transport.huawei import HuaweiCall, classify
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from cloudflows_emulator import CloudEmulator, dws_task
from cloudflows_emulator.huawei import TRY_LATER, dws_try_later, script_error
from tests.helpers import dag_test
from tests.integration.services.test_dws_decision_rule import CLUSTER, IDS, run_wait

# More than one check's worth of transport attempts: the wait itself must poll through the outage.
BEYOND_RETRIES = RetryPolicy().max_attempts + 2


pytestmark = pytest.mark.usefixtures("connected_emulator")


def _try_later_answers(emulator: CloudEmulator) -> int:
    return emulator.count("dws", "ListClusterActions", error="DWS.0011")


def test_try_later_is_an_outage_on_a_read_and_a_refusal_on_a_write() -> None:
    assert classify(409, "DWS.0011") is ServerError
    assert classify(409, "DWS.0011", write=True) is InvalidRequestError
    assert classify(409, "DWS.0012") is InvalidRequestError
    assert classify(403, "DWS.0015") is not ServerError  # "resource not found or permission denied"


def test_the_emulator_answers_try_later_only_to_the_view_and_as_often_as_scripted(
    cloud_emulator: CloudEmulator,
) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 20)]))
    dws_try_later(cloud_emulator, 2, action_name="SNAPSHOTTING")
    client = HuaweiCloudHook().get_conn()
    growing = HuaweiCall("GET", ACTION_PATH, {"cluster_id": CLUSTER, "action_name": "GROWING"})
    with pytest.raises(InvalidRequestError, match=r"DWS\.0001"):  # no GROWING task, and not scripted
        client.call(growing)
    # Two try-later answers, retried by the transport, then the record.
    assert client.call(HuaweiCall("GET", ACTION_PATH, dict(IDS))).body["status"] == "RUNNING"
    answers = [(r.status, r.error) for r in cloud_emulator.requests]
    assert answers == [(400, "DWS.0001"), (409, "DWS.0011"), (409, "DWS.0011"), (200, None)]


@pytest.mark.parametrize("count", [3, BEYOND_RETRIES])
async def test_a_trigger_wait_polls_through_try_later_to_the_scripted_success(
    cloud_emulator: CloudEmulator, count: int
) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.6))
    dws_try_later(cloud_emulator, count, action_name="SNAPSHOTTING", cluster_id=CLUSTER)
    event, _ = await run_wait(IDS, timeout=30)
    assert event["outcome"] == "success", event
    assert event["state"]["evidence"].startswith("SNAPSHOTTING was seen running")
    assert _try_later_answers(cloud_emulator) == count


async def test_a_trigger_wait_polls_through_try_later_to_the_scripted_failure(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.6, end="failed", error_msg="disk full")
    )
    dws_try_later(cloud_emulator, BEYOND_RETRIES)
    event, _ = await run_wait(IDS, timeout=30)
    assert event["outcome"] == "failure", event
    assert "disk full" in event["message"]
    assert _try_later_answers(cloud_emulator) == BEYOND_RETRIES


async def test_an_undocumented_409_code_still_ends_the_wait_with_an_error(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.6))
    script_error(cloud_emulator, "DWS.0012", "Conflict.", 409, action="ListClusterActions")
    started = time.monotonic()
    event, _ = await run_wait(IDS, timeout=30)
    assert event["outcome"] == "error", event
    assert "DWS.0012" in event["message"]
    assert cloud_emulator.count("dws", "ListClusterActions", error="DWS.0012") == 1  # not retried
    assert time.monotonic() - started < 10  # at once, not at the deadline


def test_a_write_answered_try_later_is_refused_once_not_retried(cloud_emulator: CloudEmulator) -> None:
    script_error(cloud_emulator, *TRY_LATER, action="CreateSnapshot")
    write = HuaweiCall("POST", SNAPSHOTS_PATH, {}, body={"snapshot": {"name": "snap", "cluster_id": CLUSTER}})
    with pytest.raises(InvalidRequestError, match="another operation is being performed") as refused:
        HuaweiCloudHook().get_conn().call(write)
    assert (refused.value.code, refused.value.http_status) == ("DWS.0011", 409)
    assert cloud_emulator.count("dws", "CreateSnapshot") == 1


def test_a_poke_mode_sensor_polls_through_try_later_to_the_scripted_success(
    airflow_db: None,
    cloud_emulator: CloudEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.utils.state import TaskInstanceState

    from tests.dags import dws_poke_dags

    caplog.set_level(logging.INFO)
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=0.6))
    dws_try_later(cloud_emulator, BEYOND_RETRIES, action_name="SNAPSHOTTING")
    run = dag_test(dws_poke_dags.dws_poke)
    captured = capsys.readouterr()
    text: Any = caplog.text + captured.out + captured.err
    ti = run.get_task_instance("wait")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert ti.xcom_pull(task_ids="wait")["evidence"].startswith("SNAPSHOTTING was seen running")
    assert _try_later_answers(cloud_emulator) == BEYOND_RETRIES
    assert "running trigger in line" not in text  # polled by the worker, never deferred
