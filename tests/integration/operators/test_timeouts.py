"""An operator's timeout: the execution is cancelled, and the failure says whether it really stopped."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from airflow.utils.state import TaskInstanceState

from airflow_provider_cloudflows.operators import TencentBatchSubmitJobOperator
from airflow_provider_cloudflows.operators import base as operator_base
from airflow_provider_cloudflows.operators.base import CloudExecutionTimeout
from cloudflows_emulator import CloudEmulator
from cloudflows_emulator.tencent import plan_batch_job
from tests.dags import operator_dags
from tests.helpers import FakeStore, FakeTI, dag_test

RUNNING_LONG = [(0, "RUNNING"), (60, "SUCCEED")]


pytestmark = pytest.mark.usefixtures("emulator_connections")


def _run(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], dag_id: str) -> tuple[Any, str]:
    caplog.set_level(logging.INFO)
    run = dag_test(getattr(operator_dags, dag_id))
    captured = capsys.readouterr()
    return run.get_task_instance("run"), caplog.text + captured.out + captured.err


@pytest.mark.parametrize("mode", ["deferrable", "sync"])
def test_a_timeout_whose_cancel_fails_says_the_execution_may_still_run(
    cloud_emulator: CloudEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    cloud_emulator.inject("server_error", service="batch", action="TerminateJob", count=None)
    ti, text = _run(caplog, capsys, f"op_batch_timeout_{mode}")
    assert ti.state == TaskInstanceState.FAILED
    failure = next(line for line in text.splitlines() if "CloudExecutionTimeout" in line and "timeout" in line)
    assert "operator's timeout" in text and "sensor's timeout" not in text
    assert "may still be running" in text and "cancelling it failed" in text, failure
    assert cloud_emulator.count(action="TerminateJob", ok=True) == 0


def test_a_hanging_cancel_costs_at_most_the_cancel_budget_past_the_timeout(
    cloud_emulator: CloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operator_base, "CANCEL_BUDGET", 2.0)
    plan_batch_job(cloud_emulator, {"A": RUNNING_LONG})
    cloud_emulator.inject("hang", service="batch", action="TerminateJob", count=None)
    operator = TencentBatchSubmitJobOperator(
        task_id="run",
        placement={"Zone": "ap-guangzhou-3"},
        job={"JobName": "t", "Tasks": [{"TaskName": "A", "Application": {"Command": "true"}}]},
        poll_interval=0.5,
        timeout=2.0,
    )
    started = time.monotonic()
    with pytest.raises(CloudExecutionTimeout, match="may still be running") as failed:
        operator.execute({"ti": FakeTI(1), "task_state_store": FakeStore()})  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert "DeadlineExceeded" in str(failed.value)
    # timeout (2 s) + cancel budget (2 s), with room for a loaded machine; never the 30 s read timeout.
    assert elapsed < 2.0 + 2.0 + 6.0
