"""The sensors through Airflow (``dag.test()``): poke, reschedule and deferrable modes, failures, timeouts."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airflow.utils.state import TaskInstanceState

from airflow_provider_cloudflows.sensors import TencentEmrFlowSensor
from cloudflows_emulator import CloudEmulator, EmrPhase, emr_flow
from tests.dags import sensor_dags
from tests.helpers import TaskDeferred, dag_test

DEFER_LINE = "running trigger in line"


pytestmark = pytest.mark.usefixtures("emulator_connections")


class Output:
    """Everything the run logged: Airflow's task logs go to stdout (structlog), the rest to logging."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.caplog, self.capsys = caplog, capsys
        caplog.set_level(logging.INFO)

    def run(self, dag_id: str) -> tuple[Any, Any, str]:
        run = dag_test(getattr(sensor_dags, dag_id), run_conf={"flow": "42"})
        captured = self.capsys.readouterr()
        return run, run.get_task_instance("wait"), self.caplog.text + captured.out + captured.err


@pytest.fixture
def out(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Output:
    return Output(caplog, capsys)


def _running_then(emulator: CloudEmulator, last: EmrPhase) -> None:
    emulator.add_execution(emr_flow("emr-123", flow_id=42, phases=[EmrPhase(at=0, status=1, stage=1), last]))


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_poke_and_reschedule_modes(cloud_emulator: CloudEmulator, out: Output, mode: str) -> None:
    _running_then(cloud_emulator, EmrPhase(at=0.5, status=2))
    run, ti, text = out.run(f"sensor_{mode}")
    assert ti.state == TaskInstanceState.SUCCESS
    assert ti.xcom_pull(task_ids="wait")["status"] == "SUCCEEDED"
    assert cloud_emulator.count("emr") >= 2
    assert DEFER_LINE not in text


def test_deferrable_mode_defers_and_returns_the_state(cloud_emulator: CloudEmulator, out: Output) -> None:
    _running_then(cloud_emulator, EmrPhase(at=0.6, status=2))
    run, ti, text = out.run("sensor_deferrable")
    assert ti.state == TaskInstanceState.SUCCESS
    assert DEFER_LINE in text  # the task really deferred to the trigger
    state = ti.xcom_pull(task_ids="wait")
    assert (state["status"], state["vendor_status"], state["identifiers"]["flow_id"]) == ("SUCCEEDED", 2, "42")


def test_deferrable_failure_names_reason_and_request_id(cloud_emulator: CloudEmulator, out: Output) -> None:
    _running_then(cloud_emulator, EmrPhase(at=0.4, status=-1, stage=2, failed_reason="disk full on node 3"))
    run, ti, text = out.run("sensor_deferrable")
    assert ti.state == TaskInstanceState.FAILED
    assert "CloudExecutionFailed" in text
    assert "disk full on node 3" in text
    assert "FlowTotalStatus=-1" in text


def test_deferrable_timeout_raises_sensor_timeout(cloud_emulator: CloudEmulator, out: Output) -> None:
    _running_then(cloud_emulator, EmrPhase(at=60, status=2))
    run, ti, text = out.run("sensor_deferrable_timeout")
    assert ti.state == TaskInstanceState.FAILED
    assert "AirflowSensorTimeout" in text


def test_soft_fail_skips_on_timeout(cloud_emulator: CloudEmulator, out: Output) -> None:
    _running_then(cloud_emulator, EmrPhase(at=60, status=2))
    run, ti, text = out.run("sensor_soft_fail")
    assert ti.state == TaskInstanceState.SKIPPED


def test_poke_mode_failure_fails_the_task(cloud_emulator: CloudEmulator, out: Output) -> None:
    _running_then(cloud_emulator, EmrPhase(at=0.3, status=-1, stage=2, failed_reason="bootstrap script exit 2"))
    run, ti, text = out.run("sensor_poke")
    assert ti.state == TaskInstanceState.FAILED
    assert "bootstrap script exit 2" in text


def test_construction_errors_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="exactly one of flow_id or trace_id"):
        TencentEmrFlowSensor(task_id="t", instance_id="emr-1")
    with pytest.raises(ValueError, match="exactly one of flow_id or trace_id"):
        TencentEmrFlowSensor(task_id="t", instance_id="emr-1", flow_id="1", trace_id="2")
    with pytest.raises(ValueError, match="failure_states"):
        TencentEmrFlowSensor(task_id="t", instance_id="emr-1", flow_id="1", failure_states=[-9])


def test_deferrable_defaults_to_the_airflow_setting() -> None:
    import inspect

    from airflow_provider_cloudflows.compat import conf
    from airflow_provider_cloudflows.sensors.base import CloudExecutionSensor

    default = inspect.signature(CloudExecutionSensor.__init__).parameters["deferrable"].default
    assert default == conf.getboolean("operators", "default_deferrable", fallback=False)


def test_throttled_first_check_defers_instead_of_failing(cloud_emulator: CloudEmulator, out: Output) -> None:
    # The worker's limiter cannot know the triggerer's traffic: every attempt of its first check is throttled.
    _running_then(cloud_emulator, EmrPhase(at=0.6, status=2))
    cloud_emulator.inject("throttle", service="emr", count=5)
    run, ti, text = out.run("sensor_deferrable")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert "check failed transiently" in text
    assert DEFER_LINE in text
    assert ti.xcom_pull(task_ids="wait")["status"] == "SUCCEEDED"
    assert cloud_emulator.count("emr") >= 6


def test_poke_mode_waits_through_a_transient_failure(cloud_emulator: CloudEmulator, out: Output) -> None:
    _running_then(cloud_emulator, EmrPhase(at=0.6, status=2))
    cloud_emulator.inject("server_error", service="emr", count=5)
    run, ti, text = out.run("sensor_poke")
    assert ti.state == TaskInstanceState.SUCCESS, text
    assert "check failed transiently" in text


def test_defer_timeout_leaves_the_provider_a_margin(cloud_emulator: CloudEmulator) -> None:
    from airflow_provider_cloudflows.sensors.base import DEFER_TIMEOUT_MARGIN

    _running_then(cloud_emulator, EmrPhase(at=60, status=2))
    sensor = TencentEmrFlowSensor(task_id="t", instance_id="emr-123", flow_id="42", deferrable=True, timeout=100)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # type: ignore[arg-type]
    # Airflow's "Trigger timeout" would otherwise race the provider's own event, which names the last state.
    assert deferred.value.timeout is not None
    assert deferred.value.timeout.total_seconds() == 100 + DEFER_TIMEOUT_MARGIN
    kwargs = deferred.value.trigger.serialize()[1]
    assert kwargs["timeout"] == 100


def test_deferred_sensor_persists_its_console_link(cloud_emulator: CloudEmulator, out: Output) -> None:
    _running_then(cloud_emulator, EmrPhase(at=0.6, status=2))
    run, ti, text = out.run("sensor_deferrable")
    assert ti.state == TaskInstanceState.SUCCESS
    # Resolved by the worker when the task deferred and ended, from the rendered ids and the connection.
    url = ti.xcom_pull(task_ids="wait", key="_link_TencentEmrClusterLink")
    assert url == "https://console.cloud.tencent.com/emr/static/hardware?clusterId=emr-123&region=ap-guangzhou"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"flow_id": "42", "poke_interval": 0}, "poke_interval must be positive"),
        ({"flow_id": "42", "success_states": []}, "success_states is empty"),
        ({"flow_id": "42", "failure_states": {"a": 1}}, "failure_states must be a list"),
        ({"flow_id": "42", "success_states": [2], "failure_states": ["2", -1]}, "overlap"),
        ({"flow_id": " "}, "flow_id"),
        ({"flow_id": "42", "instance_id": ""}, "instance_id"),
        ({"flow_id": True}, "flow_id"),
    ],
)
def test_bad_arguments_fail_at_construction_naming_the_parameter(kwargs: dict[str, Any], match: str) -> None:
    kwargs = {"instance_id": "emr-1", **kwargs}
    with pytest.raises(ValueError, match=match):
        TencentEmrFlowSensor(task_id="t", **kwargs)


def test_templated_identifiers_are_checked_once_rendered(cloud_emulator: CloudEmulator, out: Output) -> None:
    # A literal is refused at parse time; a template can only be judged after rendering, by the same rules.
    TencentEmrFlowSensor(task_id="t", instance_id="{{ params.cluster }}", flow_id="42")
    run, ti, text = out.run("sensor_bad_render")
    assert ti.state == TaskInstanceState.FAILED
    assert "instance_id is required" in text
    assert cloud_emulator.count() == 0
