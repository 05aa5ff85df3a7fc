"""Alibaba CloudFlow: long polling, Output, failure reasons from history, retry-after, both signatures."""

from __future__ import annotations

import time

import pytest

from airflow_provider_cloudflows.hooks.alibaba import AlibabaCloudHook
from airflow_provider_cloudflows.services.alibaba_cloudflow import failure_reason
from airflow_provider_cloudflows.waiting import Wait
from cloudflows_emulator import CloudEmulator, cloudflow_execution
from cloudflows_emulator.server import EmulatorServer
from tests.helpers import run_trigger, use_connections

IDS = {"flow_name": "nightly_etl", "execution_name": "run_2026_11_22"}
SERVICE = "alibaba_cloudflow_execution"


@pytest.fixture(autouse=True, params=["v2", "v3"])
def signature(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
) -> str:
    use_connections(monkeypatch, cloud_emulator_server, signature_version=request.param)
    return str(request.param)


async def test_long_polling_sees_the_end_within_a_second_in_two_requests(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        cloudflow_execution(IDS["flow_name"], IDS["execution_name"], [(0, "Running"), (5, "Succeeded")])
    )
    # Not latency: Airflow 3.1 configures every ORM mapper on a process's first connection read (1-2 s).
    AlibabaCloudHook.get_connection("alibabacloud_default")
    started = time.monotonic()
    # poll_interval is far longer than the execution: only long polling can see the end promptly.
    event = await run_trigger(SERVICE, IDS, poll_interval=30, timeout=120)
    latency = time.monotonic() - started - 5.0
    requests = cloud_emulator.count("fnf", "DescribeExecution")
    print(f"long polling: {requests} DescribeExecution requests, end seen {latency:.3f}s after it happened")
    assert event["outcome"] == "success"
    assert requests <= 2
    assert -0.1 < latency < 3.0  # not the 30 s poll interval


async def test_output_is_parsed_from_json(cloud_emulator: CloudEmulator) -> None:
    output = {"rows": 42, "tables": ["a", "b"], "nested": {"ok": True}}
    cloud_emulator.add_execution(
        cloudflow_execution(IDS["flow_name"], IDS["execution_name"], [(0, "Succeeded")], output=output)
    )
    event = await run_trigger(SERVICE, IDS)
    state = event["state"]
    assert state["Output"] == output
    assert state["OutputIsJson"] is True
    assert state["StartedTime"] and state["StoppedTime"]


async def test_non_json_output_is_text(cloud_emulator: CloudEmulator) -> None:
    execution = cloud_emulator.add_execution(
        cloudflow_execution(IDS["flow_name"], IDS["execution_name"], [(0, "Succeeded")])
    )
    execution.timeline[0][1]["Output"] = "not {json"
    event = await run_trigger(SERVICE, IDS)
    assert (event["state"]["Output"], event["state"]["OutputIsJson"]) == ("not {json", False)


async def test_failure_names_step_and_cause_from_history(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        cloudflow_execution(
            IDS["flow_name"],
            IDS["execution_name"],
            [(0, "Running"), (0.5, "Failed")],
            failed_step="transform",
            error="FC.FunctionError",
            cause="KeyError: 'customer_id'",
        )
    )
    event = await run_trigger(SERVICE, IDS, poll_interval=0.2)
    assert event["outcome"] == "failure"
    assert "'transform'" in event["message"]
    assert "FC.FunctionError" in event["message"]
    assert "KeyError: 'customer_id'" in event["message"]
    assert event["state"]["request_id"] in event["message"]
    assert cloud_emulator.count("fnf", "GetExecutionHistory") >= 1


@pytest.mark.parametrize(("status", "normalized"), [("Stopped", "CANCELLED"), ("TimedOut", "TIMED_OUT")])
async def test_stopped_and_timed_out_fail(cloud_emulator: CloudEmulator, status: str, normalized: str) -> None:
    cloud_emulator.add_execution(cloudflow_execution(IDS["flow_name"], IDS["execution_name"], [(0, status)]))
    event = await run_trigger(SERVICE, IDS)
    assert (event["outcome"], event["state"]["status"]) == ("failure", normalized)


async def test_retry_after_is_honoured(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution(IDS["flow_name"], IDS["execution_name"], [(0, "Succeeded")]))
    cloud_emulator.inject("throttle", service="fnf", count=1, retry_after=1500)
    started = time.monotonic()
    event = await run_trigger(SERVICE, IDS)
    waited = time.monotonic() - started
    assert event["outcome"] == "success"
    assert cloud_emulator.count("fnf", error="Throttling.User") == 1
    assert waited >= 1.5  # the header said 1500 ms; our own backoff alone would be ~0.05 s


async def test_not_found_and_auth_fail_at_once(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    event = await run_trigger(SERVICE, IDS)
    assert event["outcome"] == "error"
    assert event["error"]["code"] in ("FlowNotExists", "ExecutionNotExists")
    assert event["error"]["http_status"] == 404 and event["error"]["request_id"]
    assert cloud_emulator.count() == 1
    use_connections(monkeypatch, cloud_emulator_server, secret="wrong")
    event = await run_trigger(SERVICE, IDS)
    assert (event["error"]["error_type"], event["error"]["http_status"]) == ("AuthError", 403)
    assert cloud_emulator.count() == 2


@pytest.mark.parametrize("bad", ["1abc", "has space", "x" * 129, "", "star*"])
def test_names_are_checked_before_any_call(bad: str) -> None:
    with pytest.raises(ValueError, match=r"flow_name .* is not a valid CloudFlow name"):
        Wait(SERVICE, {"flow_name": bad, "execution_name": "ok"})


def test_failure_reason_picks_the_last_failure_event() -> None:
    events = [
        {"StepName": "a", "Type": "StepFailed", "EventDetail": '{"error": "E1", "cause": "first"}'},
        {"StepName": "b", "Type": "TaskFailed", "EventDetail": '{"error": "E2", "cause": "second"}'},
        {"StepName": "", "Type": "ExecutionFailed", "EventDetail": "{}"},
    ]
    assert failure_reason(events) == "step 'b' TaskFailed: E2: second"


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_query_is_sent_exactly_as_canonicalized(version: str) -> None:
    # httpx must not re-encode what was signed: compare the bytes on the request line with the signer's output.
    import httpx

    from airflow_provider_cloudflows.credentials import Credentials
    from airflow_provider_cloudflows.transport.alibaba import AlibabaApi, AlibabaCall

    api = AlibabaApi(
        Credentials("LTAIkey", "secret", "sts+token/with=chars"),
        region="cn-hangzhou",
        endpoint="https://{region}.fnf.aliyuncs.com",
        signature_version=version,
    )
    call = AlibabaCall("DescribeExecution", "2019-03-15", {"FlowName": "a_b-c", "ExecutionName": "x", "Extra": "é *~"})
    prepared = api.prepare(call, 1_763_800_000.0)
    sent = httpx.Request(prepared.method, prepared.url)
    query = prepared.url.split("?", 1)[1]
    assert sent.url.raw_path.decode().split("?", 1)[1] == query
    assert "%20%2A~" in query  # RFC 3986: space %20, * %2A, ~ literal


async def test_sts_token_echoed_by_a_signature_error_is_redacted(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    # Alibaba answers SignatureDoesNotMatch with its string to sign, which carries the SecurityToken.
    token = "CANARY-STS-TOKEN+/="
    use_connections(monkeypatch, cloud_emulator_server, secret="wrong", security_token=token)
    cloud_emulator.add_credentials("alibaba", "LTAIEMULATOR0000", "emulator-alibaba-secret", token=token)
    event = await run_trigger(SERVICE, IDS)
    assert event["outcome"] == "error"
    assert event["error"]["http_status"] == 403
    text = f"{event['message']} {event['error']}"
    assert "***" in text or "string to sign" not in text
    for form in (token, "CANARY-STS-TOKEN%2B%2F%3D", "CANARY-STS-TOKEN%252B%252F%253D"):
        assert form not in text
