"""The /_emulator/ control API over HTTP, the server lifecycle, connections, the CLI and the fixtures."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import httpx
import pytest

from cloudflows_emulator import CloudEmulator, EmulatorServer

from .helpers import HTTP, rpc_get, tc3_error, tc3_post, tc3_response


def _control(server: EmulatorServer, method: str, path: str, body: object = None) -> httpx.Response:
    return HTTP.request(method, f"{server.url}/_emulator/{path}", json=body)


def test_health(server: EmulatorServer) -> None:
    health = _control(server, "GET", "health").json()
    assert health["status"] == "ok"
    assert health["vendors"] == ["tencent", "alibaba", "huawei"]
    # The products, and each vendor's STS / IAM and instance metadata service, once each.
    assert health["services"] == [
        "alibaba-metadata", "alibaba-sts", "batch", "cynosdb", "dws", "ecs_metadata", "emr", "fnf", "iam",
        "metadata", "sts",
    ]  # fmt: skip
    assert "emr_flow" in health["builders"]


def test_register_raw_and_built_executions(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    raw = {
        "service": "emr",
        "key": {"InstanceId": "emr-x", "FlowId": "11", "TraceId": "tr-11"},
        "timeline": [[0, {"FlowTotalStatus": 1}], [0.2, {"FlowTotalStatus": 2}]],
    }
    built = {
        "builder": "cloudflow_execution",
        "args": {"flow_name": "etl", "execution_name": "r", "phases": [[0, "Failed"]], "error": "E"},
    }
    created = _control(server, "POST", "executions", [raw, built])
    assert created.status_code == 201
    assert [e["key"] for e in created.json()["executions"]] == [["emr-x", "FlowId", "11"], ["etl", "r"]]
    params = {"InstanceId": "emr-x", "FlowParam": {"FKey": "TraceId", "FValue": "tr-11"}}
    assert tc3_response(tc3_post(server, "emr", "DescribeClusterFlowStatusDetail", params))["FlowTotalStatus"] == 1
    assert rpc_get(server, "DescribeExecution", {"FlowName": "etl", "ExecutionName": "r"}).json()["Status"] == "Failed"
    assert _control(server, "POST", "advance", {"seconds": 1}).status_code == 200
    assert tc3_response(tc3_post(server, "emr", "DescribeClusterFlowStatusDetail", params))["FlowTotalStatus"] == 2
    listed = _control(server, "GET", "executions").json()["executions"]
    assert {tuple(e["key"]) for e in listed} == {("emr-x", "FlowId", "11"), ("etl", "r")}


@pytest.mark.parametrize(
    "body",
    [
        {"service": "nope", "key": {}, "timeline": [[0, {}]]},
        {"service": "batch", "key": {"JobId": "job-abcdefgh"}, "timeline": [[0, {}]]},
        {"service": "cynosdb", "key": {"FlowId": 1}, "timeline": []},
        {"builder": "nope"},
        {"builder": "batch_task", "args": {"job_id": "bad"}},
        {"builder": "batch_task", "args": {"unexpected": 1}},
    ],
)
def test_bad_executions_are_400(server: EmulatorServer, body: object) -> None:
    response = _control(server, "POST", "executions", body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_faults_requests_reset(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    created = _control(server, "POST", "faults", {"kind": "throttle", "service": "cynosdb", "count": 2})
    assert created.status_code == 201
    assert [f["kind"] for f in _control(server, "GET", "faults").json()["faults"]] == ["throttle"]
    assert tc3_error(tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1})) == "RequestLimitExceeded"
    log = _control(server, "GET", "requests?service=cynosdb").json()
    assert log["count"] == 1
    assert log["requests"][0]["error"] == "RequestLimitExceeded"
    assert _control(server, "GET", "requests?service=emr").json()["count"] == 0
    assert _control(server, "DELETE", "faults").json() == {"faults": []}
    assert _control(server, "POST", "faults", {"kind": "explode"}).status_code == 400
    assert _control(server, "POST", "reset").status_code == 200
    assert cloud_emulator.requests == []


def test_credentials_and_rate_limits(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    from airflow_provider_cloudflows.credentials import Credentials
    from cloudflows_emulator import cynosdb_flow

    cloud_emulator.add_execution(cynosdb_flow(1))
    mine = Credentials("AKIDMINE", "my-secret")
    assert tc3_error(tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1}, creds=mine)) == (
        "AuthFailure.SecretIdNotFound"
    )
    added = _control(server, "POST", "credentials", {"vendor": "tencent", "key_id": "AKIDMINE", "secret": "my-secret"})
    assert added.status_code == 201
    assert tc3_response(tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1}, creds=mine))["Status"] == 2
    limits = _control(server, "POST", "rate-limits", {"service": "cynosdb", "action": "DescribeFlow", "per_second": 5})
    expected = {"service": "cynosdb", "action": "DescribeFlow", "per_second": 5, "burst": None}
    assert expected in limits.json()["rate_limits"]
    # A full reset restores the constructor's settings.
    assert _control(server, "POST", "reset", {"settings": True}).json()["settings"] is True
    assert cloud_emulator.rate_limit("cynosdb", "DescribeFlow") == 20
    assert cloud_emulator.secret_for("tencent", "AKIDMINE") is None


def test_credentials_route_puts_a_key_in_another_account(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    from airflow_provider_cloudflows.credentials import Credentials

    other = Credentials("AKIDACCOUNTB", "b-secret")
    body = {"vendor": "tencent", "key_id": other.key_id, "secret": other.secret, "account": "b"}
    added = _control(server, "POST", "credentials", body)
    assert added.status_code == 201
    assert added.json()["account"] == "b"
    assert cloud_emulator.account_of("tencent", other.key_id) == "b"
    # DescribeJob allows 2 a second per account: the default account's third is throttled, b's first is not.
    params = {"JobId": "job-abcdefgh"}
    codes = [tc3_error(tc3_post(server, "batch", "DescribeJob", params)) for _ in range(3)]
    assert codes[2] == "RequestLimitExceeded"
    assert tc3_error(tc3_post(server, "batch", "DescribeJob", params, creds=other)) == "ResourceNotFound.Job"
    # Without an account the key shares the default one; a malformed account is a 400.
    plain = {"vendor": "tencent", "key_id": "AKIDPLAIN", "secret": "p"}
    assert _control(server, "POST", "credentials", plain).json()["account"] == "default"
    assert cloud_emulator.account_of("tencent", "AKIDPLAIN") == "default"
    assert _control(server, "POST", "credentials", {**plain, "account": ""}).status_code == 400


def test_unclaimed_and_huawei_paths(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    nothing = HTTP.get(f"{server.url}/whatever")
    assert nothing.status_code == 404
    # An unserved Huawei path is answered as APIG does for an unpublished API.
    huawei = HTTP.get(f"{server.url}/v1/05f2cff45100d5112f4bc00b794ea08e/clusters/c1")
    assert huawei.status_code == 404
    assert huawei.json()["error_code"] == "APIG.0101"
    assert huawei.headers["x-request-id"]
    assert cloud_emulator.requests[-1].vendor == "huawei"


def test_server_lifecycle_and_loopback_only() -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError, match=r"loopback|IP address"):
            EmulatorServer(host=host)
    server = EmulatorServer(host="localhost")
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        assert HTTP.get(f"{server.url}/_emulator/health").status_code == 200
        url = server.url
    started = time.monotonic()
    server.stop()  # idempotent
    assert time.monotonic() - started < 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_emulator/health", timeout=1)


def test_airflow_connections(server: EmulatorServer) -> None:
    env = server.airflow_connections()
    tencent = json.loads(env["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"])
    assert tencent == {
        "conn_type": "tencentcloud",
        "login": "AKIDEMULATOR00000000000000000000",
        "password": "emulator-tencent-secret",
        "extra": {"region": "ap-guangzhou", "endpoint": server.url},
    }
    alibaba = json.loads(env["AIRFLOW_CONN_ALIBABACLOUD_DEFAULT"])
    assert (alibaba["conn_type"], alibaba["login"], alibaba["extra"]) == (
        "alibabacloud",
        "LTAIEMULATOR0000",
        {"region": "cn-hangzhou", "endpoint": server.url},
    )
    huawei = json.loads(env["AIRFLOW_CONN_HUAWEICLOUD_DEFAULT"])
    assert huawei["extra"] == {
        "region": "cn-north-4",
        "project_id": "05f2cff45100d5112f4bc00b794ea08e",
        "endpoint": server.url,
    }
    assert huawei["password"] == "emulator-huawei-secret"


def test_connections_fixture(cloud_emulator_connections: dict[str, str], cloud_emulator_server: EmulatorServer) -> None:
    assert (
        os.environ["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"]
        == cloud_emulator_connections["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"]
    )
    assert cloud_emulator_server.url in os.environ["AIRFLOW_CONN_ALIBABACLOUD_DEFAULT"]


def test_cli_demo_scenario() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudflows_emulator", "--port", "0", "--scenario", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("cloudflows emulator listening on http://127.0.0.1:")
        url = first.split()[-1]
        lines = [process.stdout.readline() for _ in range(10)]
        assert any(line.startswith("export AIRFLOW_CONN_TENCENTCLOUD_DEFAULT=") for line in lines)
        adds = [shlex.split(line) for line in lines if line.startswith("airflow connections add ")]
        assert [a[3] for a in adds] == ["tencentcloud_default", "alibabacloud_default", "huaweicloud_default"]
        assert all(url in json.loads(a[5])["extra"]["endpoint"] for a in adds)
        executions = httpx.get(f"{url}/_emulator/executions").json()["executions"]
        assert {tuple(e["key"]) for e in executions} == {
            ("emr-demo01", "FlowId", "1001"),
            ("2001",),
            ("job-demo0001", "A"),
            ("nightly_etl", "demo_run"),
            ("9f76c502-fc9c-4a52-8656-65d0da6e3d57",),
            ("3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f",),  # the DWS operator example's cluster
        }
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_the_server_keeps_idle_connections_longer_than_the_provider_keeps_them(server: EmulatorServer) -> None:
    # Else a kept-alive connection could be reused in the instant the server closes it, and a write sent on
    # it would fail with an outcome the provider cannot know (it then fails the task rather than resend).
    from airflow_provider_cloudflows.transport import pool

    assert server._server is not None
    assert server._server.config.timeout_keep_alive > 2 * pool.KEEPALIVE_EXPIRY
