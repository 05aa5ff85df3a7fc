"""Fault injection and rate limits, observed over raw httpx with genuinely signed requests."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from cloudflows_emulator import (
    CloudEmulator,
    EmulatorServer,
    batch_task,
    cloudflow_execution,
    cynosdb_flow,
)

from .helpers import rpc_get, tc3_error, tc3_post, tc3_response

NAMES = {"FlowName": "etl", "ExecutionName": "run1"}


@pytest.fixture
def executions(cloud_emulator: CloudEmulator) -> CloudEmulator:
    cloud_emulator.add_execution(cynosdb_flow(1))
    cloud_emulator.add_execution(cloudflow_execution("etl", "run1"))
    cloud_emulator.add_execution(batch_task("job-abcdefgh", "A"))
    return cloud_emulator


def _describe_flow(server: EmulatorServer, client: httpx.Client | None = None) -> httpx.Response:
    return tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1}, client=client)


def test_throttle(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("throttle", service="cynosdb")
    executions.inject("throttle", service="fnf", retry_after=1500)
    assert tc3_error(_describe_flow(server)) == "RequestLimitExceeded"
    throttled = rpc_get(server, "DescribeExecution", NAMES)
    assert (throttled.status_code, throttled.json()["Code"]) == (429, "Throttling.User")
    assert throttled.headers["x-acs-retry-after"] == "1500"
    # Consumed: the next requests are served.
    assert tc3_response(_describe_flow(server))["Status"] == 2
    assert rpc_get(server, "DescribeExecution", NAMES).status_code == 200


def test_server_error(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("server_error", count=2)
    assert _describe_flow(server).status_code == 503
    assert rpc_get(server, "DescribeExecution", NAMES).status_code == 503
    assert _describe_flow(server).status_code == 200


def test_internal_error(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("internal_error", service="cynosdb")
    executions.inject("internal_error", service="fnf")
    assert tc3_error(_describe_flow(server)) == "InternalError"
    failed = rpc_get(server, "DescribeExecution", NAMES)
    assert (failed.status_code, failed.json()["Code"]) == (500, "InternalServerError")


def test_slow(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("slow", delay=0.3)
    started = time.monotonic()
    response = _describe_flow(server)
    assert time.monotonic() - started >= 0.3
    assert tc3_response(response)["Status"] == 2
    executions.inject("slow", delay=0.4)
    with pytest.raises(httpx.ReadTimeout):
        _describe_flow(server, client=httpx.Client(timeout=0.1))
    # Let the abandoned request finish server-side so it cannot land in the next test's log.
    deadline = time.monotonic() + 2
    while executions.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert executions.count() == 2


def test_malformed(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("malformed")
    response = _describe_flow(server)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_drop(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("drop")
    with httpx.Client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            _describe_flow(server, client)
        # The client recovers on a new connection.
        assert tc3_response(_describe_flow(server, client))["Status"] == 2


def test_faults_match_and_are_consumed_in_order(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("server_error", action="DescribeExecution")
    executions.inject("throttle", service="cynosdb")
    executions.inject("internal_error", service="cynosdb")
    assert tc3_error(_describe_flow(server)) == "RequestLimitExceeded"
    assert tc3_error(_describe_flow(server)) == "InternalError"
    assert [f.kind.value for f in executions.faults] == ["server_error"]
    assert rpc_get(server, "DescribeExecution", NAMES).status_code == 503
    assert executions.faults == []
    log = executions.requests
    assert [(r.service, r.fault, r.status) for r in log] == [
        ("cynosdb", "throttle", 200),
        ("cynosdb", "internal_error", 200),
        ("fnf", "server_error", 503),
    ]


def test_unlimited_fault_until_cleared(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.inject("server_error", service="cynosdb", count=None)
    assert [_describe_flow(server).status_code for _ in range(3)] == [503, 503, 503]
    executions.clear_faults()
    assert _describe_flow(server).status_code == 200


def test_batch_rate_limit(server: EmulatorServer, executions: CloudEmulator) -> None:
    params = {"JobId": "job-abcdefgh", "TaskName": "A"}
    codes = [
        tc3_response(tc3_post(server, "batch", "DescribeTask", params)).get("Error", {}).get("Code") for _ in range(4)
    ]
    assert codes == [None, None, None, "RequestLimitExceeded"]
    assert executions.count("batch", "DescribeTask", error="RequestLimitExceeded") == 1
    assert executions.count("batch", "DescribeTask", ok=True) == 3


def test_rate_limit_is_configurable(server: EmulatorServer, executions: CloudEmulator) -> None:
    assert executions.rate_limit("emr", "DescribeClusterFlowStatusDetail") == 20
    assert executions.rate_limit("fnf", "DescribeExecution") == 5
    executions.set_rate_limit("cynosdb", "DescribeFlow", 1)
    assert tc3_response(_describe_flow(server))["Status"] == 2
    assert tc3_error(_describe_flow(server)) == "RequestLimitExceeded"
    executions.set_rate_limit("batch", "DescribeTask", None)
    params = {"JobId": "job-abcdefgh", "TaskName": "A"}
    assert all("Error" not in tc3_response(tc3_post(server, "batch", "DescribeTask", params)) for _ in range(5))


def test_alibaba_rate_limit(server: EmulatorServer, executions: CloudEmulator) -> None:
    executions.set_rate_limit("fnf", "DescribeExecution", 2)
    statuses = [rpc_get(server, "DescribeExecution", NAMES).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert executions.requests[-1].error == "Throttling.User"
    # GetExecutionHistory has its own window.
    assert rpc_get(server, "GetExecutionHistory", NAMES).status_code == 200
