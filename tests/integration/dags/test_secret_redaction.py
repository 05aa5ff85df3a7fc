"""A canary secret never reaches a log line, trigger kwargs, an XCom or an exception text."""

from __future__ import annotations

import json
import logging

import pytest
from airflow.utils.state import TaskInstanceState

from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from cloudflows_emulator import CloudEmulator, EmrPhase, emr_flow
from cloudflows_emulator.server import EmulatorServer
from tests.dags import sensor_dags
from tests.helpers import dag_test

CANARY_SECRET = "CANARY-7d1c0ffee-SECRET"
CANARY_TOKEN = "CANARY-TOKEN-b16b00b5"


def test_canary_never_leaks(
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    key = "AKIDCANARY000000000000000000000000"
    cloud_emulator.add_credentials("tencentcloud", key, CANARY_SECRET, token=CANARY_TOKEN)
    conn = json.loads(cloud_emulator_server.airflow_connections()["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"])
    conn.update(login=key, password=CANARY_SECRET)
    conn["extra"].update(token=CANARY_TOKEN, initial_backoff=0.05)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_DEFAULT", json.dumps(conn))
    cloud_emulator.add_execution(
        emr_flow("emr-123", flow_id=42, phases=[EmrPhase(at=0, status=1, stage=1), EmrPhase(at=0.5, status=2)])
    )
    cloud_emulator.inject("throttle", service="emr", count=1)  # a retry path with its warning log line

    ok = dag_test(sensor_dags.sensor_deferrable, run_conf={"flow": "42"})
    ti = ok.get_task_instance("wait")
    assert ti.state == TaskInstanceState.SUCCESS, [r.to_dict() for r in cloud_emulator.requests()]
    assert ti.state == TaskInstanceState.SUCCESS
    xcom = json.dumps(ti.xcom_pull(task_ids="wait"))
    # The trigger row Airflow stored when the sensor deferred: its kwargs hold ids and the conn id only.
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    assert ti.trigger_id is not None
    with create_session() as session:
        row = session.get(Trigger, ti.trigger_id)
        assert row is not None
        stored = f"{row.encrypted_kwargs} {json.dumps(row.kwargs, default=str)}"
    assert "tencentcloud_default" in stored
    # The deferral really used the token-bearing credentials (the emulator checks the token).
    assert cloud_emulator.count("emr", ok=True) >= 2

    # Failure path: a wrong secret, so the error and its message are produced too.
    conn["password"] = CANARY_SECRET + "-wrong"
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_DEFAULT", json.dumps(conn))
    bad = dag_test(sensor_dags.sensor_poke, run_conf={"flow": "42"})
    assert bad.get_task_instance("wait").state == TaskInstanceState.FAILED
    ok_probe, message = TencentCloudHook().test_connection()
    assert not ok_probe
    assert "AuthFailure" in message

    captured = capsys.readouterr()
    everything = "\n".join([caplog.text, captured.out, captured.err, xcom, message, stored])
    assert "AuthFailure.SignatureFailure" in everything  # the failure was logged...
    assert CANARY_SECRET not in everything  # ...without the secret
    assert CANARY_TOKEN not in everything
