"""Alibaba CloudFlow: the official SDK (RPC v2 and V3) against the emulator, verification, operations."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alibabacloud_fnf20190315 import models
from alibabacloud_tea_openapi.exceptions import ClientException

from airflow_provider_cloudflows.credentials import Credentials
from cloudflows_emulator import (
    DEFAULT_ALIBABA_CREDENTIALS,
    CloudEmulator,
    EmulatorServer,
    cloudflow_execution,
    load_example,
)

from .helpers import acs3_get, fnf_sdk, rpc_get

NAMES = {"FlowName": "etl", "ExecutionName": "run1"}
WRONG_SECRET = Credentials(DEFAULT_ALIBABA_CREDENTIALS.key_id, "not-the-secret")


def _error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) >= {"RequestId", "Code", "Message"}
    return response.status_code, body["Code"]


# --- the official SDK --------------------------------------------------------------------------------


@pytest.mark.parametrize("v3", [False, True], ids=["rpc-v2", "acs3"])
def test_sdk_describe_execution(server: EmulatorServer, cloud_emulator: CloudEmulator, v3: bool) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1", [(0, "Succeeded")], output={"rows": 3}))
    client = fnf_sdk(server, v3=v3)
    body = client.describe_execution(models.DescribeExecutionRequest(flow_name="etl", execution_name="run1")).body
    assert body.status == "Succeeded"
    assert json.loads(body.output) == {"rows": 3}
    # Every field of the documented example is present.
    assert set(body.to_map()) >= set(load_example("fnf_describe_execution"))


def test_sdk_history(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1", [(0, "Failed")], error="Boom", cause="bad row"))
    request = models.GetExecutionHistoryRequest(flow_name="etl", execution_name="run1")
    events = fnf_sdk(server).get_execution_history(request).body.to_map()["Events"]
    assert [e["Type"] for e in events[-2:]] == ["StepFailed", "ExecutionFailed"]
    assert json.loads(events[-1]["EventDetail"]) == {"error": "Boom", "cause": "bad row"}
    assert [e["EventId"] for e in events] == list(range(1, len(events) + 1))


@pytest.mark.parametrize("v3", [False, True], ids=["rpc-v2", "acs3"])
def test_sdk_wrong_secret(server: EmulatorServer, cloud_emulator: CloudEmulator, v3: bool) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    client = fnf_sdk(server, v3=v3, creds=WRONG_SECRET)
    with pytest.raises(ClientException) as info:
        client.describe_execution(models.DescribeExecutionRequest(flow_name="etl", execution_name="run1"))
    assert (info.value.status_code, info.value.code) == (403, "SignatureDoesNotMatch")


def test_sdk_sts_token(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    cloud_emulator.add_credentials("alibaba", "STS.TEMP", "sts-secret", token="sts-token")
    request = models.DescribeExecutionRequest(flow_name="etl", execution_name="run1")
    for v3 in (False, True):
        sts = fnf_sdk(server, v3=v3, creds=Credentials("STS.TEMP", "sts-secret", "sts-token"))
        assert sts.describe_execution(request).body.status == "Running"
    wrong = fnf_sdk(server, creds=Credentials("STS.TEMP", "sts-secret", "other-token"))
    with pytest.raises(ClientException) as info:
        wrong.describe_execution(request)
    assert info.value.code == "InvalidSecurityToken.MismatchWithAccessKey"


# --- verification with our signers -------------------------------------------------------------------


def test_rpc_v2_unknown_key_and_bad_signature(server: EmulatorServer) -> None:
    unknown = rpc_get(server, "DescribeExecution", NAMES, creds=Credentials("LTAINOPE", "x"))
    assert _error(unknown) == (403, "InvalidAccessKeyId.NotFound")
    bad = rpc_get(server, "DescribeExecution", NAMES, creds=WRONG_SECRET)
    assert _error(bad) == (403, "SignatureDoesNotMatch")
    assert "server string to sign is:GET&%2F&" in bad.json()["Message"]


@pytest.mark.parametrize("skew", [timedelta(minutes=-16), timedelta(minutes=16)])
def test_skew_rejected(server: EmulatorServer, cloud_emulator: CloudEmulator, skew: timedelta) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    when = datetime.now(timezone.utc) + skew
    assert _error(rpc_get(server, "DescribeExecution", NAMES, timestamp=when)) == (403, "InvalidTimeStamp.Expired")
    assert _error(acs3_get(server, "DescribeExecution", NAMES, timestamp=when)) == (403, "InvalidTimeStamp.Expired")
    fine = datetime.now(timezone.utc) - timedelta(minutes=14)
    assert rpc_get(server, "DescribeExecution", NAMES, timestamp=fine).status_code == 200


@pytest.mark.parametrize("send", [rpc_get, acs3_get], ids=["rpc-v2", "acs3"])
def test_nonce_reuse_rejected(server: EmulatorServer, cloud_emulator: CloudEmulator, send: Any) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    nonce = uuid.uuid4().hex
    assert send(server, "DescribeExecution", NAMES, nonce=nonce).status_code == 200
    assert _error(send(server, "DescribeExecution", NAMES, nonce=nonce)) == (400, "SignatureNonceUsed")
    # A rejected signature does not burn the nonce of the legitimate client.
    fresh = uuid.uuid4().hex
    assert _error(send(server, "DescribeExecution", NAMES, nonce=fresh, creds=WRONG_SECRET))[1] == (
        "SignatureDoesNotMatch"
    )
    assert send(server, "DescribeExecution", NAMES, nonce=fresh).status_code == 200


def test_acs3_content_hash_and_unsigned_headers(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    lying_hash = acs3_get(server, "DescribeExecution", NAMES, extra_headers={"x-acs-content-sha256": "0" * 64})
    assert _error(lying_hash) == (403, "SignatureDoesNotMatch")
    unsigned = acs3_get(server, "DescribeExecution", NAMES, extra_headers={"x-acs-extra": "injected"})
    assert _error(unsigned) == (403, "SignatureDoesNotMatch")


def test_unknown_action_and_version(server: EmulatorServer) -> None:
    assert _error(rpc_get(server, "DescribeFlows", NAMES)) == (400, "ActionNotSupported")
    assert _error(rpc_get(server, "DescribeExecution", NAMES, version="2020-01-01")) == (400, "APIVersionNotSupported")


# --- operations --------------------------------------------------------------------------------------


def test_not_found_codes(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    other_run = {"FlowName": "etl", "ExecutionName": "run2"}
    assert _error(rpc_get(server, "DescribeExecution", other_run)) == (404, "ExecutionNotExists")
    other_flow = {"FlowName": "nope", "ExecutionName": "run1"}
    assert _error(rpc_get(server, "GetExecutionHistory", other_flow)) == (404, "FlowNotExists")


@pytest.mark.parametrize(
    "params",
    [
        {**NAMES, "WaitTimeSeconds": "61"},
        {**NAMES, "WaitTimeSeconds": "-1"},
        {**NAMES, "WaitTimeSeconds": "soon"},
        {"FlowName": "9etl", "ExecutionName": "run1"},
        {"FlowName": "etl", "ExecutionName": "run 1"},
    ],
)
def test_invalid_arguments(server: EmulatorServer, cloud_emulator: CloudEmulator, params: dict[str, str]) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    assert _error(rpc_get(server, "DescribeExecution", params)) == (400, "InvalidArgument")


def test_history_pages_and_grows(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        cloudflow_execution("etl", "run1", [(0, "Running"), (30, "Succeeded")], steps=["a", "b"])
    )
    early = rpc_get(server, "GetExecutionHistory", NAMES).json()["Events"]
    assert [e["Type"] for e in early] == ["ExecutionStarted", "StepEntered"]
    cloud_emulator.advance(30)
    first = rpc_get(server, "GetExecutionHistory", {**NAMES, "Limit": "4"}).json()
    assert len(first["Events"]) == 4
    rest = rpc_get(server, "GetExecutionHistory", {**NAMES, "NextToken": first["NextToken"]}).json()
    assert "NextToken" not in rest
    events = first["Events"] + rest["Events"]
    assert [e["Type"] for e in events] == [
        "ExecutionStarted",
        "StepEntered",
        "StepExited",
        "StepEntered",
        "StepExited",
        "ExecutionSucceeded",
    ]
    bad_token = rpc_get(server, "GetExecutionHistory", {**NAMES, "NextToken": "x"})
    assert _error(bad_token) == (400, "InvalidArgument")


def test_long_poll_returns_at_scripted_end(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1", [(0, "Running"), (0.6, "Succeeded")]))
    started = time.monotonic()
    response = rpc_get(server, "DescribeExecution", {**NAMES, "WaitTimeSeconds": "20"}, timeout=30)
    elapsed = time.monotonic() - started
    assert response.json()["Status"] == "Succeeded"
    assert 0.55 <= elapsed < 1.1


def test_long_poll_gives_up_after_the_wait_without_blocking_others(
    server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cloud_emulator.add_execution(cloudflow_execution("etl", "run1", [(0, "Running"), (60, "Succeeded")]))
    cloud_emulator.add_execution(cloudflow_execution("etl", "run2", [(0, "Succeeded")]))
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        waiting = pool.submit(rpc_get, server, "DescribeExecution", {**NAMES, "WaitTimeSeconds": "1"})
        time.sleep(0.1)
        quick_started = time.monotonic()
        quick = rpc_get(server, "DescribeExecution", {"FlowName": "etl", "ExecutionName": "run2"})
        assert time.monotonic() - quick_started < 0.5
        assert quick.json()["Status"] == "Succeeded"
        assert waiting.result().json()["Status"] == "Running"
        assert 0.9 <= time.monotonic() - started < 1.5
