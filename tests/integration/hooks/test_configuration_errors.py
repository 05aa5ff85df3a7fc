"""Bad connections and arguments end in a typed error naming the field, before anything is sent.

Connections come from ``AIRFLOW_CONN_*`` variables and hooks are built as Airflow builds them; the secret
values never appear in the error.
"""

from __future__ import annotations

import importlib.metadata
import json
import time
from typing import Any

import pytest
from packaging.version import Version

from airflow_provider_cloudflows.errors import ConfigurationError
from airflow_provider_cloudflows.hooks import hook_class
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from cloudflows_emulator import CloudEmulator
from cloudflows_emulator.server import EmulatorServer

SECRET = "Canary-Secret-7f3a9c"
AIRFLOW_READS_ANY_EXTRA = Version(importlib.metadata.version("apache-airflow")) >= Version("3.3")
VENDORS = ["tencentcloud", "alibabacloud", "huaweicloud"]


def _connect(monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, conn_type: str, **changes: Any) -> Any:
    conn = json.loads(server.airflow_connections()[f"AIRFLOW_CONN_{conn_type.upper()}_DEFAULT"])
    extra = {**conn["extra"], **changes.pop("extra", {})}
    for key in [k for k, v in extra.items() if v is None]:
        del extra[key]
    conn.update({"extra": extra, "password": SECRET, **changes})
    if isinstance(changes.get("raw_extra"), str):
        conn["extra"] = conn.pop("raw_extra")
    monkeypatch.setenv("AIRFLOW_CONN_UNDER_TEST", json.dumps(conn))
    cls = hook_class(conn_type)
    return cls(**{cls.conn_name_attr: "under_test"})


BAD_CONNECTIONS = [
    ({"password": SECRET + " "}, "password (secret key)", "whitespace"),
    ({"password": SECRET + "\n"}, "password (secret key)", "whitespace"),
    ({"password": "Canary-Secret-é7f3a9c"}, "password (secret key)", "ASCII"),
    ({"password": "Canary\r\nX-Injected: 1"}, "password (secret key)", "ASCII"),
    ({"login": " AKID"}, "login (access key id)", "whitespace"),
    ({"raw_extra": "[1, 2]"}, "extra of connection", "JSON object"),
    ({"raw_extra": "{not json"}, "extra of connection", "JSON object"),
    ({"extra": {"endpoint": "http://127.0.0.1:99999"}}, "endpoint", "invalid port"),
    ({"extra": {"endpoint": "http://127.0.0.1:80/api/v1"}}, "endpoint", "without a path"),
    ({"extra": {"endpoint": "ftp://127.0.0.1"}}, "endpoint", "https://"),
    ({"extra": {"endpoint": "https://user:pw@example.com"}}, "endpoint", "user information"),
    ({"extra": {"endpoint": "http://example.com"}}, "endpoint", "plain http://"),
    ({"extra": {"region": None}}, "region extra", "is empty"),
    ({"extra": {"region": "  "}}, "region extra", "is empty"),
    ({"extra": {"region": "ap guangzhou"}}, "region extra", "not a region id"),
    ({"extra": {"initial_backoff": -1}}, "initial_backoff extra", "seconds from 0"),
    ({"extra": {"initial_backoff": "soon"}}, "initial_backoff extra", "seconds from 0"),
    ({"extra": {"max_attempts": 0}}, "max_attempts extra", "whole number"),
    ({"extra": {"max_attempts": "5.5"}}, "max_attempts extra", "whole number"),
    ({"extra": {"max_attempts": 10**6}}, "max_attempts extra", "whole number"),
]


@pytest.mark.parametrize("conn_type", VENDORS)
@pytest.mark.parametrize(("changes", "field", "problem"), BAD_CONNECTIONS, ids=lambda v: str(v)[:40])
def test_bad_connection_is_a_named_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    conn_type: str,
    changes: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    if "raw_extra" in changes and not AIRFLOW_READS_ANY_EXTRA:
        pytest.skip("Airflow < 3.3 refuses an extra that is not a JSON object itself, while reading the connection")
    hook = _connect(monkeypatch, cloud_emulator_server, conn_type, **changes)
    with pytest.raises(ConfigurationError) as raised:
        hook.get_conn()
    message = str(raised.value)
    assert raised.value.field.startswith(field), message
    assert problem in message
    assert SECRET not in message and "Canary" not in message
    ok, text = hook.test_connection()  # the UI's Test button says the same, in words
    assert not ok and field in text
    assert cloud_emulator.count() == 0


async def test_bad_token_reaches_the_trigger_as_a_named_error_event(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    _connect(monkeypatch, cloud_emulator_server, "alibabacloud", extra={"security_token": "sts-token-canary \n"})
    trigger = CloudExecutionTrigger(
        service="alibaba_cloudflow_execution",
        identifiers={"flow_name": "f", "execution_name": "e"},
        conn_id="under_test",
        deadline=time.time() + 5,
    )
    events = [event.payload async for event in CloudExecutionTrigger(**trigger.serialize()[1]).run()]
    (event,) = events
    assert event["outcome"] == "error"
    assert "session token" in event["message"]
    assert "sts-token-canary" not in json.dumps(event)
    assert cloud_emulator.count() == 0


def test_task_region_override_is_checked_too(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer
) -> None:
    conn = json.loads(cloud_emulator_server.airflow_connections()["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_UNDER_TEST", json.dumps(conn))
    cls = hook_class("tencentcloud")
    with pytest.raises(ConfigurationError, match=r"region \(task argument\)"):
        cls(tencentcloud_conn_id="under_test", region="ap-guangzhou/../x").get_conn()


@pytest.mark.parametrize("project_id", ["p/../other", "p?x=1", "p%2F", ".."])
def test_project_id_that_would_change_the_url_path_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    project_id: str,
) -> None:
    hook = _connect(monkeypatch, cloud_emulator_server, "huaweicloud", extra={"project_id": project_id})
    with pytest.raises(ConfigurationError) as raised:
        hook.get_conn()
    assert raised.value.field == "project_id"
    assert cloud_emulator.count() == 0


@pytest.mark.parametrize(
    ("sensor", "kwargs", "field"),
    [
        ("HuaweiDwsClusterTaskSensor", {"cluster_id": "c/../other", "action_name": "GROWING"}, "cluster_id"),
        ("HuaweiDwsClusterTaskSensor", {"cluster_id": "c?x", "action_name": "GROWING"}, "cluster_id"),
        ("HuaweiDwsJobSensor", {"job_id": "j/1"}, "job_id"),
        ("TencentBatchTaskSensor", {"job_id": "job-1\n", "task_name": "A\tB"}, "task_name"),
        ("AlibabaCloudFlowExecutionSensor", {"flow_name": "f", "execution_name": "e\x00"}, "execution_name"),
    ],
)
def test_identifier_the_api_cannot_take_fails_at_construction(sensor: str, kwargs: dict[str, Any], field: str) -> None:
    from airflow_provider_cloudflows import sensors

    with pytest.raises(ValueError, match=field):
        getattr(sensors, sensor)(task_id="t", **kwargs)
