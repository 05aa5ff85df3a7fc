"""The fault kinds of the fault matrix (trickle, hang, reset, clock skew, nonce reuse), over raw httpx."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from airflow_provider_cloudflows.signing.tc3 import sign_tc3
from cloudflows_emulator import (
    DEFAULT_TENCENT_CREDENTIALS,
    CloudEmulator,
    EmulatorServer,
    cloudflow_execution,
    cynosdb_flow,
)

from .helpers import HTTP, rpc_get, tc3_error, tc3_post, tc3_response
from .test_dws_emulator import ACTIONS_PATH, CLUSTER, error_of, hw_get

NAMES = {"FlowName": "etl", "ExecutionName": "run1"}


@pytest.fixture
def executions(cloud_emulator: CloudEmulator) -> CloudEmulator:
    cloud_emulator.add_execution(cynosdb_flow(1))
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    return cloud_emulator


def _describe_flow(server: EmulatorServer, client: httpx.Client | None = None) -> httpx.Response:
    return tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1}, client=client)


def tc3_stream(server: EmulatorServer, client: httpx.Client = HTTP) -> Any:
    """A streamed, TC3-signed DescribeFlow (to watch the chunks arrive)."""
    body = json.dumps({"FlowId": 1}).encode()
    headers = sign_tc3(
        DEFAULT_TENCENT_CREDENTIALS,
        service="cynosdb",
        host=server.endpoint,
        action="DescribeFlow",
        version="2019-01-07",
        region="ap-guangzhou",
        body=body,
        timestamp=int(time.time()),
    )
    return client.stream("POST", server.url + "/", content=body, headers=headers)


def test_trickle_sends_the_real_answer_slowly(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("trickle", service="cynosdb", interval=0.01)
    started = time.monotonic()
    with tc3_stream(server) as response:
        first = time.monotonic() - started
        chunks = list(response.iter_raw())
    total = time.monotonic() - started
    body = b"".join(chunks)
    # Headers at once, then the whole (valid) answer a few bytes at a time.
    assert first < 0.5
    assert len(chunks) >= len(body) // 8
    assert total >= (len(body) // 4) * 0.01 * 0.8
    assert httpx.Response(200, content=body).json()["Response"]["Status"] == 2
    (record,) = executions.requests
    assert (record.fault, record.status) == ("trickle", 200)
    # Consumed: the next one is served at once.
    assert tc3_response(_describe_flow(server))["Status"] == 2


def test_trickle_stops_when_the_client_goes_away(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("trickle", service="cynosdb", interval=0.3)
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.5)) as client, tc3_stream(server, client) as response:
        next(response.iter_raw())  # a first chunk, then the client gives up
    # The server is free at once for the next request.
    started = time.monotonic()
    assert tc3_response(_describe_flow(server))["Status"] == 2
    assert time.monotonic() - started < 1.0


def test_hang_never_answers(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("hang", service="cynosdb")
    started = time.monotonic()
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.4)) as client, pytest.raises(httpx.ReadTimeout):
        _describe_flow(server, client)
    assert 0.35 <= time.monotonic() - started < 2.0
    # Logged on arrival with status 0 (no status line was ever sent); the next request is served.
    (record,) = executions.requests
    assert (record.fault, record.status, record.error) == ("hang", 0, None)
    assert tc3_response(_describe_flow(server))["Status"] == 2


def test_reset_cuts_the_real_answer_halfway(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("reset", service="fnf")
    with pytest.raises(httpx.RemoteProtocolError):
        rpc_get(server, "DescribeExecution", NAMES)
    (record,) = executions.requests
    assert (record.fault, record.status, record.service) == ("reset", 200, "fnf")
    assert rpc_get(server, "DescribeExecution", NAMES).status_code == 200


def test_clock_skew_is_judged_by_each_vendors_window(server: EmulatorServer, executions: CloudEmulator) -> None:
    # Ten minutes off: past Tencent's 5-minute window, within Alibaba's and Huawei's 15 minutes.
    executions.inject("clock_skew", count=3, skew=600)
    assert tc3_error(_describe_flow(server)) == "AuthFailure.SignatureExpire"
    assert rpc_get(server, "DescribeExecution", NAMES).status_code == 200
    # (No such cluster is registered: past authentication, DWS says so.)
    assert error_of(hw_get(server, ACTIONS_PATH, cluster_id=CLUSTER, action_name="SNAPSHOTTING"))[1] == "DWS.0047"
    # An hour behind (the default): every vendor's own "expired" error.
    executions.inject("clock_skew", count=None, skew=-3600)
    assert tc3_error(_describe_flow(server)) == "AuthFailure.SignatureExpire"
    expired = rpc_get(server, "DescribeExecution", NAMES)
    assert (expired.status_code, expired.json()["Code"]) == (403, "InvalidTimeStamp.Expired")
    status, code, message = error_of(hw_get(server, ACTIONS_PATH, cluster_id=CLUSTER, action_name="SNAPSHOTTING"))
    assert (status, code) == (401, "APIG.0301")
    assert "expired" in message
    executions.clear_faults()
    assert tc3_response(_describe_flow(server))["Status"] == 2


def test_nonce_reuse(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("nonce_reuse", count=2)
    reused = rpc_get(server, "DescribeExecution", NAMES)
    assert (reused.status_code, reused.json()["Code"]) == (400, "SignatureNonceUsed")
    # TC3 carries no nonce: the fault is used up and the request answered normally.
    assert tc3_response(_describe_flow(server))["Status"] == 2
    # Only this test's services: a late poll of an earlier test on this worker's server may be logged too.
    assert [r.fault for r in executions.requests if r.service in {"fnf", "cynosdb"}] == ["nonce_reuse", "nonce_reuse"]
    assert rpc_get(server, "DescribeExecution", NAMES).status_code == 200


def test_control_api_injects_the_new_kinds(server: EmulatorServer, executions: CloudEmulator) -> None:
    created = HTTP.post(
        server.url + "/_emulator/faults", json={"kind": "trickle", "service": "cynosdb", "interval": 0.05}
    )
    assert created.status_code == 201
    assert created.json()["fault"]["interval"] == 0.05
    skew = HTTP.post(server.url + "/_emulator/faults", json={"kind": "clock_skew", "skew": -900.5, "count": None})
    assert skew.json()["fault"]["skew"] == -900.5
    assert [f.kind.value for f in executions.faults] == ["trickle", "clock_skew"]
    bad = HTTP.post(server.url + "/_emulator/faults", json={"kind": "trickle", "interval": 0})
    assert bad.status_code == 400


def test_invalid_is_each_vendors_invalid_parameter_error_after_the_signature_check(
    server: EmulatorServer, executions: CloudEmulator
) -> None:
    executions.inject("invalid", count=3)
    assert tc3_error(_describe_flow(server)) == "InvalidParameterValue"
    refused = rpc_get(server, "DescribeExecution", NAMES)
    assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidArgument")
    status, code, _ = error_of(hw_get(server, ACTIONS_PATH, cluster_id=CLUSTER, action_name="SNAPSHOTTING"))
    assert (status, code) == (400, "DWS.0001")
    assert [r.fault for r in executions.requests if r.service in {"fnf", "cynosdb", "dws"}] == ["invalid"] * 3
    # A bad signature is still refused for what it is: the fault strikes only signed requests.
    executions.inject("invalid", count=1)
    unsigned = HTTP.post(server.url + "/", content=b"{}", headers={"X-TC-Action": "DescribeFlow"})
    assert tc3_error(unsigned) != "InvalidParameterValue"
