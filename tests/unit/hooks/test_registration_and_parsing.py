"""Registration metadata, connection parsing, endpoint rules and trigger serialization (no network)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from airflow.sdk import Connection

from airflow_provider_cloudflows import get_provider_info
from airflow_provider_cloudflows.hooks.alibaba import AlibabaCloudHook
from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.transport.endpoints import resolve_endpoint
from airflow_provider_cloudflows.transport.huawei import default_endpoint
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

CANARY = "CANARY-SECRET-5f1e9c"


def test_provider_info_declares_everything() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-cloudflows"
    types = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(types) == {"tencentcloud", "alibabacloud", "huaweicloud"}
    for conn_type, hook in (
        ("tencentcloud", TencentCloudHook),
        ("alibabacloud", AlibabaCloudHook),
        ("huaweicloud", HuaweiCloudHook),
    ):
        entry = types[conn_type]
        assert entry["hook-class-name"] == f"{hook.__module__}.{hook.__name__}"
        assert hook.conn_type == conn_type
        assert hook.default_conn_name == f"{conn_type}_default"
        assert "region" in entry["conn-fields"] and "endpoint" in entry["conn-fields"]
        assert entry["ui-field-behaviour"]["relabeling"]["login"]
        # The token field must be marked sensitive so the UI masks it (a token file's path is not a secret).
        token_fields = [f for f in entry["conn-fields"] if "token" in f and not f.endswith("_file")]
        assert token_fields and all(entry["conn-fields"][f]["schema"]["format"] == "password" for f in token_fields)
    modules = [m for h in info["sensors"] for m in h["python-modules"]]
    for module in modules + [m for h in info["hooks"] for m in h["python-modules"]]:
        __import__(module)


def test_airflow_lists_the_provider_hooks() -> None:
    # The entry point is real: Airflow's own CLI discovers the package and its connection types.
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    payload = next(line for line in out.splitlines() if line.startswith("[{"))
    listed = {row["connection_type"]: row for row in json.loads(payload)}
    assert listed["tencentcloud"]["class"] == "airflow_provider_cloudflows.hooks.tencent.TencentCloudHook"
    assert "alibabacloud" in listed and "huaweicloud" in listed


@pytest.mark.parametrize(
    ("template", "service", "region", "expected"),
    [
        ("https://{service}.tencentcloudapi.com", "emr", "", "https://emr.tencentcloudapi.com"),
        ("https://{service}.intl.tencentcloudapi.com", "batch", "", "https://batch.intl.tencentcloudapi.com"),
        ("https://{region}.fnf.aliyuncs.com/", "", "cn-hangzhou", "https://cn-hangzhou.fnf.aliyuncs.com"),
        ("http://127.0.0.1:8765", "emr", "", "http://127.0.0.1:8765"),
        ("http://localhost:9", "emr", "", "http://localhost:9"),
    ],
)
def test_endpoint_templates(template: str, service: str, region: str, expected: str) -> None:
    assert resolve_endpoint(template, service=service, region=region) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("http://emr.tencentcloudapi.com", "plain http:// for a non-loopback host"),
        ("ftp://x", "absolute https"),
        ("https://{nope}.x", "unknown placeholder"),
        ("https://{region}.fnf.aliyuncs.com", "needs a region"),
    ],
)
def test_bad_endpoints_are_clear_errors(template: str, message: str) -> None:
    with pytest.raises(ValueError, match="endpoint") as info:
        resolve_endpoint(template, service="emr", region="")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("cn-north-4", "https://dws.cn-north-4.myhuaweicloud.com"),
        ("eu-west-101", "https://dws.eu-west-101.myhuaweicloud.eu"),
        ("cn-south-4", "https://dws.cn-south-4.myhuaweicloud.cn"),
        ("ap-southeast-4", "https://dws.ap-southeast-4.myhuaweicloud.cn"),
    ],
)
def test_dws_regional_endpoints(region: str, host: str) -> None:
    assert resolve_endpoint(default_endpoint(region), region=region) == host


def _conn(conn_type: str, **extra: str) -> Connection:
    return Connection(conn_id="c", conn_type=conn_type, login="AKIDkey", password=CANARY, extra=json.dumps(extra))


def test_tencent_connection_builds_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _conn("tencentcloud", region="ap-shanghai", token=CANARY + "-token")
    hook = TencentCloudHook("c", region="ap-beijing")
    client = hook._client_from(conn)
    assert client.api.region == "ap-beijing"  # the task's region overrides the connection's
    assert client.api.endpoint == "https://{service}.tencentcloudapi.com"
    assert client.api.credentials.token == CANARY + "-token"
    assert CANARY not in repr(client.api.credentials)


def test_insecure_endpoint_is_rejected_at_connection_time() -> None:
    hook = TencentCloudHook("c")
    with pytest.raises(ValueError, match="plain http://"):
        hook._client_from(_conn("tencentcloud", region="ap-guangzhou", endpoint="http://example.com"))


def test_huawei_connection_needs_project_id() -> None:
    hook = HuaweiCloudHook("c")
    with pytest.raises(ValueError, match="project_id"):
        hook._client_from(_conn("huaweicloud", region="cn-north-4"))
    client = HuaweiCloudHook("c", project_id="p1")._client_from(_conn("huaweicloud", region="eu-west-101"))
    assert client.api.endpoint.endswith(".myhuaweicloud.eu")


def test_alibaba_signature_version_is_checked() -> None:
    with pytest.raises(ValueError, match="signature_version"):
        AlibabaCloudHook("c")._client_from(_conn("alibabacloud", region="cn-hangzhou", signature_version="v9"))


def test_trigger_round_trip_keeps_deadline_and_holds_no_secret() -> None:
    deadline = time.time() + 3600
    trigger = CloudExecutionTrigger(
        service="tencent_emr_flow",
        identifiers={"instance_id": "emr-123", "flow_id": "42", "trace_id": None},
        conn_id="tencentcloud_default",
        deadline=deadline,
        poll_interval=15,
        hook_overrides={"region": "ap-shanghai"},
        success_states=["2"],
        failure_states=None,
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_cloudflows.triggers.execution.CloudExecutionTrigger"
    text = json.dumps(kwargs)  # Airflow stores these as plain JSON
    assert CANARY not in text
    module, _, name = path.rpartition(".")
    clone = getattr(__import__(module, fromlist=[name]), name)(**json.loads(text))
    assert clone.serialize() == (path, kwargs)
    assert clone.deadline == deadline
