"""The generic trigger against the emulator over real HTTP: outcomes, errors, retries, deadline, pooling."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from airflow_provider_cloudflows.errors import MalformedResponseError, TransportError
from airflow_provider_cloudflows.transport.pool import POOL
from airflow_provider_cloudflows.transport.retry import DEADLINE_EXCEEDED
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger, Outage
from cloudflows_emulator import BatchPhase, CloudEmulator, EmrPhase, batch_task, cynosdb_flow, emr_flow
from cloudflows_emulator.server import EmulatorServer
from tests.helpers import run_trigger, use_connections

EMR_IDS = {"instance_id": "emr-123", "flow_id": "42"}


pytestmark = pytest.mark.usefixtures("connected_emulator")


def _emr(emulator: CloudEmulator, *phases: EmrPhase, **kwargs: object) -> None:
    emulator.add_execution(emr_flow("emr-123", flow_id=42, phases=list(phases), **kwargs))  # type: ignore[arg-type]


async def test_emr_success_carries_state_and_request_id(cloud_emulator: CloudEmulator) -> None:
    _emr(cloud_emulator, EmrPhase(at=0, status=1, stage=1), EmrPhase(at=0.5, status=2))
    event = await run_trigger("tencent_emr_flow", EMR_IDS)
    assert event["outcome"] == "success"
    state = event["state"]
    assert (state["status"], state["vendor_status"], state["progress"]) == ("SUCCEEDED", 2, 1.0)
    assert state["request_id"] and state["request_id"] in event["message"]
    assert state["FlowName"] == "Scale Out Core"  # from the documented example response
    assert cloud_emulator.count("emr", "DescribeClusterFlowStatusDetail", ok=True) >= 2


async def test_emr_trace_id_and_skipped_steps(
    cloud_emulator: CloudEmulator, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    cloud_emulator.add_execution(
        emr_flow("emr-123", trace_id="1730204629-375383-1016312", phases=[EmrPhase(at=0, status=3)])
    )
    event = await run_trigger("tencent_emr_flow", {"instance_id": "emr-123", "trace_id": "1730204629-375383-1016312"})
    assert event["outcome"] == "success"
    assert event["state"]["vendor_status"] == 3
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "warning" in logged.lower()
    assert "completed with skipped steps (FlowTotalStatus 3)" in logged


async def test_emr_failure_names_the_failed_stage(cloud_emulator: CloudEmulator) -> None:
    _emr(
        cloud_emulator,
        EmrPhase(at=0, status=1, stage=2),
        EmrPhase(at=0.3, status=-1, stage=3, failed_reason="CVM quota exceeded in ap-guangzhou-3"),
    )
    event = await run_trigger("tencent_emr_flow", EMR_IDS)
    assert event["outcome"] == "failure"
    assert event["state"]["status"] == "FAILED"
    assert "CVM quota exceeded in ap-guangzhou-3" in event["message"]
    assert "FlowTotalStatus=-1" in event["message"]
    assert event["state"]["request_id"] in event["message"]


async def test_emr_blocked_is_a_failure_by_default(cloud_emulator: CloudEmulator) -> None:
    _emr(cloud_emulator, EmrPhase(at=0, status=-3, stage=2))
    event = await run_trigger("tencent_emr_flow", EMR_IDS)
    assert (event["outcome"], event["state"]["status"]) == ("failure", "BLOCKED")


async def test_throttled_then_success(cloud_emulator: CloudEmulator) -> None:
    _emr(cloud_emulator, EmrPhase(at=0, status=2))
    cloud_emulator.inject("throttle", service="emr", count=2)
    event = await run_trigger("tencent_emr_flow", EMR_IDS)
    assert event["outcome"] == "success"
    assert cloud_emulator.count("emr", error="RequestLimitExceeded") == 2
    assert cloud_emulator.count("emr", ok=True) == 1


@pytest.mark.parametrize("kind", ["server_error", "internal_error", "malformed", "drop"])
async def test_transient_faults_are_retried(cloud_emulator: CloudEmulator, kind: str) -> None:
    _emr(cloud_emulator, EmrPhase(at=0, status=2))
    cloud_emulator.inject(kind, service="emr", count=2)
    event = await run_trigger("tencent_emr_flow", EMR_IDS)
    assert event["outcome"] == "success", event
    assert cloud_emulator.count("emr") == 3


async def test_persistent_malformed_body_is_an_outage_ending_in_the_timeout(
    cloud_emulator: CloudEmulator, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Garbled replies say nothing about the execution: the wait polls on through them (backing off, logging
    # the streak sparingly) and, when its deadline passes first, reports the timeout (so soft_fail skips).
    _emr(cloud_emulator, EmrPhase(at=0, status=1))
    cloud_emulator.inject("malformed", service="emr", count=None)
    started = time.monotonic()
    event = await run_trigger("tencent_emr_flow", EMR_IDS, timeout=3, poll_interval=0.1)
    assert time.monotonic() - started < 3 + 2.0
    assert event["outcome"] == "timeout", event
    assert "polls failed, most recently" in event["message"]
    assert "not JSON" in event["message"]
    assert cloud_emulator.count("emr") > 5  # more than one call's attempts: the wait did not give up
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    # Logged at failures 1, 2, 4, 8, 16...: a handful of lines, not one per failed poll.
    assert 1 <= text.count("in a row), waiting on") <= 6, text


def test_a_poll_cut_off_by_the_deadline_keeps_the_outage_cause() -> None:
    # Under load the last poll of an outage can be the one the deadline cuts off: the timeout message still
    # names what the vendor answered (seen in a CI run of the test above).
    outage = Outage()
    log = logging.getLogger("tests.outage")
    outage.failed(log, "EMR flow", MalformedResponseError("the reply is not JSON", vendor="tencentcloud"))
    cut_off = TransportError("cut off at the deadline", vendor="tencentcloud", code=DEADLINE_EXCEEDED)
    outage.failed(log, "EMR flow", cut_off)
    message = outage.describe()
    assert message is not None
    assert "the last 1 poll failed" in message  # the cut-off poll never reached the vendor
    assert "not JSON" in message
    assert "cut off" not in message


def test_a_timeout_names_no_outage_when_only_the_deadline_cut_a_poll() -> None:
    outage = Outage()
    cut_off = TransportError("cut off", vendor="tencentcloud", code=DEADLINE_EXCEEDED)
    outage.failed(logging.getLogger("tests.outage"), "EMR flow", cut_off)
    assert outage.describe() is None


async def test_outage_then_recovery_succeeds(cloud_emulator: CloudEmulator) -> None:
    _emr(cloud_emulator, EmrPhase(at=0, status=1), EmrPhase(at=0.5, status=2))
    cloud_emulator.inject("server_error", service="emr", count=12)  # more than one call's 5 attempts
    event = await run_trigger("tencent_emr_flow", EMR_IDS, timeout=20, poll_interval=0.1)
    assert event["outcome"] == "success", event
    assert cloud_emulator.count("emr") >= 13


async def test_slow_reply_within_the_read_timeout_is_fine(cloud_emulator: CloudEmulator) -> None:
    _emr(cloud_emulator, EmrPhase(at=0, status=2))
    cloud_emulator.inject("slow", service="emr", delay=1.0)
    started = time.monotonic()
    event = await run_trigger("tencent_emr_flow", EMR_IDS)
    assert event["outcome"] == "success"
    assert time.monotonic() - started >= 1.0


async def test_auth_failure_fails_in_one_request(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    use_connections(monkeypatch, cloud_emulator_server, secret="not-the-secret")
    _emr(cloud_emulator, EmrPhase(at=0, status=1))
    event = await run_trigger("tencent_emr_flow", EMR_IDS)
    assert event["outcome"] == "error"
    assert event["error"]["error_type"] == "AuthError"
    assert event["error"]["code"] == "AuthFailure.SignatureFailure"
    assert event["error"]["request_id"]
    assert cloud_emulator.count() == 1


async def test_not_found_fails_at_once(cloud_emulator: CloudEmulator) -> None:
    event = await run_trigger("tencent_emr_flow", {"instance_id": "emr-nope", "flow_id": "1"})
    assert event["outcome"] == "error"
    assert event["error"]["code"] == "ResourceNotFound.InstanceNotFound"
    assert cloud_emulator.count() == 1
    event = await run_trigger("tencent_cynosdb_flow", {"flow_id": 999})
    assert event["error"]["code"] == "InvalidParameterValue.FlowNotFound"
    event = await run_trigger("tencent_batch_task", {"job_id": "job-nope", "task_name": "A"})
    assert event["error"]["code"] == "InvalidParameter.JobIdMalformed"


async def test_unknown_state_keeps_waiting_and_is_carried(cloud_emulator: CloudEmulator) -> None:
    # Status 7 is not documented: never success, the wait goes on until the deadline, and the raw value
    # travels in the timeout event.
    cloud_emulator.add_execution(cynosdb_flow(123, statuses=[(0, 2)]))
    execution = cloud_emulator.get_execution("cynosdb", ["123"])
    assert execution is not None
    execution.timeline[0][1]["Status"] = 7
    event = await run_trigger("tencent_cynosdb_flow", {"flow_id": 123}, timeout=1.0)
    assert event["outcome"] == "timeout"
    assert (event["state"]["status"], event["state"]["vendor_status"]) == ("UNKNOWN", 7)


async def test_deadline_is_honoured(cloud_emulator: CloudEmulator) -> None:
    _emr(cloud_emulator, EmrPhase(at=0, status=1))
    started = time.monotonic()
    event = await run_trigger("tencent_emr_flow", EMR_IDS, timeout=1.5)
    elapsed = time.monotonic() - started
    assert event["outcome"] == "timeout"
    assert "did not finish" in event["message"]
    assert 1.3 <= elapsed < 1.5 + 2.0


async def test_cynosdb_success_and_failure(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(123, statuses=[(0, 2), (0.3, 0)]))
    cloud_emulator.add_execution(cynosdb_flow(124, statuses=[(0, 2), (0.3, 1)]))
    ok = await run_trigger("tencent_cynosdb_flow", {"flow_id": "123"})
    bad = await run_trigger("tencent_cynosdb_flow", {"flow_id": 124})
    assert (ok["outcome"], ok["state"]["vendor_status"]) == ("success", 0)
    assert (bad["outcome"], bad["state"]["status"]) == ("failure", "FAILED")


async def test_batch_failure_reports_instances(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        batch_task(
            "job-97zcl3wt",
            "A",
            phases=[
                BatchPhase(at=0, state="RUNNING"),
                BatchPhase(at=0.3, state="FAILED", failed_instances=[1], exit_code=137, reason="OOMKilled"),
            ],
            instance_count=2,
        )
    )
    event = await run_trigger("tencent_batch_task", {"job_id": "job-97zcl3wt", "task_name": "A"})
    assert event["outcome"] == "failure"
    assert "instance 1 FAILED (ExitCode 137): OOMKilled" in event["message"]
    # The emulator, like Batch, also sets StateDetailedReason to "ExitCode: 137": said once, not twice. (The
    # exit code is counted by its label: the message also carries a random RequestId, which may hold "137".)
    assert event["message"].count("ExitCode") == 1, event["message"]
    assert event["state"]["TaskInstanceMetrics"]["FailedCount"] == 1


async def test_batch_rate_limit_is_respected(cloud_emulator: CloudEmulator) -> None:
    # DescribeTask allows 3 requests a second (the emulator enforces it); eight concurrent waits in one
    # process are spaced by the shared client-side limiter, so none is throttled.
    for i in range(8):
        cloud_emulator.add_execution(batch_task(f"job-0000000{i}", "A", phases=[BatchPhase(at=0, state="SUCCEED")]))
    events = await asyncio.gather(
        *(run_trigger("tencent_batch_task", {"job_id": f"job-0000000{i}", "task_name": "A"}) for i in range(8))
    )
    assert [e["outcome"] for e in events] == ["success"] * 8
    assert cloud_emulator.count("batch", error="RequestLimitExceeded") == 0
    assert cloud_emulator.count("batch", ok=True) == 8


async def test_concurrent_triggers_share_one_client(cloud_emulator: CloudEmulator) -> None:
    for flow in range(10):
        cloud_emulator.add_execution(cynosdb_flow(flow, statuses=[(0, 2), (0.5, 0)]))
    await run_trigger("tencent_cynosdb_flow", {"flow_id": 0})  # warm: this loop's client exists now
    built = POOL.clients_built
    events = await asyncio.gather(*(run_trigger("tencent_cynosdb_flow", {"flow_id": f}) for f in range(1, 10)))
    assert all(e["outcome"] == "success" for e in events)
    assert POOL.clients_built == built
    assert cloud_emulator.count("cynosdb") >= 18  # every poll was a real request, none built a client


async def test_logs_transitions_not_polls(
    cloud_emulator: CloudEmulator, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    cloud_emulator.add_execution(cynosdb_flow(321, statuses=[(0, 2)]))
    event = await run_trigger("tencent_cynosdb_flow", {"flow_id": 321}, timeout=1.5, poll_interval=0.1)
    assert event["outcome"] == "timeout"
    polls = cloud_emulator.count("cynosdb", ok=True)
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert polls >= 8
    assert text.count("Status is now 2") == 1  # one line for the transition, none for the other polls


async def test_restarted_trigger_past_its_deadline_times_out_without_calling(cloud_emulator: CloudEmulator) -> None:
    # A trigger re-created from its kwargs on another triggerer keeps the absolute deadline.
    cloud_emulator.add_execution(cynosdb_flow(322, statuses=[(0, 2)]))
    event = await run_trigger("tencent_cynosdb_flow", {"flow_id": 322}, deadline=time.time() - 1)
    assert event["outcome"] == "timeout"
    assert cloud_emulator.count() == 0


async def test_timeout_message_states_the_sensor_timeout_after_a_restart(cloud_emulator: CloudEmulator) -> None:
    # Restarted near its deadline, the trigger's own age (about 0 s) would be a misleading figure.
    trigger = CloudExecutionTrigger(
        service="tencent_cynosdb_flow",
        identifiers={"flow_id": 322},
        conn_id="tencentcloud_default",
        deadline=time.time() - 1,
        timeout=3600,
    )
    # Rebuilt from its serialized kwargs, as a new triggerer does.
    classpath, kwargs = trigger.serialize()
    events = [event.payload async for event in CloudExecutionTrigger(**kwargs).run()]
    (event,) = events
    assert event["outcome"] == "timeout"
    assert "within the sensor's timeout (3600s)" in event["message"]
