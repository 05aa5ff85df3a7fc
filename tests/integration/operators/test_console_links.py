"""Console links resolve without an ERROR line: alerting keys on ERROR lines, so a successful task must log
none. A sensor links from its rendered ids without reading the operators' execution record; an operator
whose start was refused gets an empty link; an operator that started still links to its execution."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airflow.utils.state import TaskInstanceState

from airflow_provider_cloudflows.operators.links import TencentEmrClusterLink
from airflow_provider_cloudflows.sensors import TencentEmrFlowSensor
from cloudflows_emulator import CloudEmulator, EmrPhase, emr_flow
from cloudflows_emulator.server import EmulatorServer
from tests.dags import operator_dags, sensor_dags
from tests.helpers import FakeTI, dag_test, use_connections

EMR_LINK = "https://console.cloud.tencent.com/emr/static/hardware?clusterId=emr-123&region=ap-guangzhou"


class Output:
    """Everything a run logged: Airflow's task logs go to stdout (structlog), the rest to logging."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.caplog, self.capsys = caplog, capsys
        caplog.set_level(logging.INFO)

    def run(self, dag: Any, task_id: str, **kwargs: Any) -> tuple[Any, str]:
        run = dag_test(dag, **kwargs)
        captured = self.capsys.readouterr()
        return run.get_task_instance(task_id), self.caplog.text + captured.out + captured.err

    def xcom_errors(self, text: str) -> list[str]:
        """The ERROR-level lines (structlog's ``[error ...]`` or logging's ``ERROR``) that mention XCom."""
        lines = [
            line
            for line in text.splitlines()
            if "xcom" in line.lower() and ("[error" in line or "ERROR" in line.split())
        ]
        lines += [
            r.getMessage() for r in self.caplog.records if r.levelno >= logging.ERROR and "xcom" in str(r.msg).lower()
        ]
        return lines


@pytest.fixture
def out(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Output:
    return Output(caplog, capsys)


@pytest.fixture
def emulator(
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
) -> tuple[pytest.MonkeyPatch, EmulatorServer, CloudEmulator]:
    return monkeypatch, cloud_emulator_server, cloud_emulator


def test_the_check_catches_airflows_xcom_not_found_line(out: Output) -> None:
    line = (
        "2026-01-01T00:00:00.000000Z [error    ] XCom not found                 [airflow.sdk.api.client] "
        "key=cloudflows_execution status_code=404"
    )
    assert out.xcom_errors(f"info line\n{line}\n") == [line]
    assert out.xcom_errors("[info     ] Pushing xcom\n") == []


@pytest.mark.parametrize("dag_id", ["sensor_poke", "sensor_deferrable"])
def test_a_successful_sensor_logs_no_xcom_error_and_links_its_cluster(
    emulator: tuple[pytest.MonkeyPatch, EmulatorServer, CloudEmulator], out: Output, dag_id: str
) -> None:
    monkeypatch, server, cloud = emulator
    use_connections(monkeypatch, server)
    cloud.add_execution(
        emr_flow("emr-123", flow_id=42, phases=[EmrPhase(at=0, status=1, stage=1), EmrPhase(at=0.5, status=2)])
    )
    ti, text = out.run(getattr(sensor_dags, dag_id), "wait", run_conf={"flow": "42"})
    assert ti.state == TaskInstanceState.SUCCESS
    assert out.xcom_errors(text) == []
    assert ti.xcom_pull(task_ids="wait", key="_link_TencentEmrClusterLink") == EMR_LINK


def test_a_sensor_link_never_reads_the_execution_record(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer
) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    use_connections(monkeypatch, cloud_emulator_server)

    def no_xcom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a sensor's link read an XCom")

    monkeypatch.setattr(XCom, "get_all", no_xcom)
    monkeypatch.setattr(XCom, "get_value", no_xcom)
    sensor = TencentEmrFlowSensor(task_id="wait", instance_id="emr-123", flow_id="42")
    assert TencentEmrClusterLink().get_link(sensor, ti_key=FakeTI()) == EMR_LINK  # type: ignore[arg-type]


def test_a_refused_start_logs_its_cause_and_no_xcom_error_and_links_nothing(
    emulator: tuple[pytest.MonkeyPatch, EmulatorServer, CloudEmulator], out: Output
) -> None:
    monkeypatch, server, cloud = emulator
    use_connections(monkeypatch, server, secret="not-the-secret")
    ti, text = out.run(operator_dags.op_batch_sync, "run")
    assert ti.state == TaskInstanceState.FAILED
    assert "starting failed: tencentcloud AuthFailure" in text
    assert cloud.count("batch") >= 1  # the start was really sent, and refused
    assert out.xcom_errors(text) == []
    assert ti.xcom_pull(task_ids="run", key="_link_TencentBatchJobLink") == ""


@pytest.mark.parametrize("dag_id", ["op_batch_sync", "op_batch_deferrable"])
def test_a_started_operator_logs_no_xcom_error_and_links_its_job(
    emulator: tuple[pytest.MonkeyPatch, EmulatorServer, CloudEmulator], out: Output, dag_id: str
) -> None:
    monkeypatch, server, _ = emulator
    use_connections(monkeypatch, server)
    ti, text = out.run(getattr(operator_dags, dag_id), "run")
    assert ti.state == TaskInstanceState.SUCCESS
    assert out.xcom_errors(text) == []
    job_id = ti.xcom_pull(task_ids="run", key="cloudflows_execution")["identifiers"]["job_id"]
    url = ti.xcom_pull(task_ids="run", key="_link_TencentBatchJobLink")
    assert url == f"https://console.cloud.tencent.com/batch/job/detail?region=ap-guangzhou&jobId={job_id}"
