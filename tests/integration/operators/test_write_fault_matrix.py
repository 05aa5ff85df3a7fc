"""The write fault matrix: every start operator, under every fault of its start call, then an Airflow retry.

Each case runs the operator's DAG through ``dag.test()`` with ``retries=1`` against the emulator and counts
what the cloud applied. The promise checked everywhere: one execution per task whatever fails. A start whose
answer was lost is sent again only under the same ClientToken (recorded before the write, Airflow >= 3.3) or
the same CloudFlow name; any other unknown outcome fails the task without retry, naming the call.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest
from airflow.utils.state import TaskInstanceState
from packaging.version import Version

from airflow_provider_cloudflows.transport.retry import RetryPolicy
from cloudflows_emulator import CloudEmulator, dws_cluster
from cloudflows_emulator.alibaba import plan_cloudflow_execution
from cloudflows_emulator.huawei import plan_dws_action
from cloudflows_emulator.server import EmulatorServer
from tests.dags import write_fault_dags
from tests.helpers import dag_test, use_connections

AIRFLOW = importlib.metadata.version("apache-airflow")
# task_state_store (a record that survives tries) exists since Airflow 3.3.
HAS_STORE = Version(AIRFLOW) >= Version("3.3")

# kind -> (emulator service, start action)
STARTS = {
    "batch": ("batch", "SubmitJob"),
    "emr_scale_out": ("emr", "ScaleOutCluster"),
    "emr_terminate_nodes": ("emr", "TerminateClusterNodes"),
    "cynosdb": ("cynosdb", "PauseServerless"),
    "fnf": ("fnf", "StartExecution"),
    "dws_snapshot": ("dws", "CreateSnapshot"),
    "dws_resize": ("dws", "ResizeCluster"),
    "dws_restore": ("dws", "RestoreCluster"),
}
BY_TOKEN = {"batch", "emr_scale_out"}
BY_NAME = {"fnf"}
SNAPSHOT = "snap-seeded"


# Faults that strike after the emulator applied the request (only its answer is spoiled).
AFTER_APPLYING = {None, "reset", "trickle"}


def applied(emulator: CloudEmulator, kind: str) -> int:
    """How many executions the cloud started for ``kind``: distinct jobs, flows or executions where a repeat
    under the same ClientToken or name returns the same one, else every start request the cloud applied."""
    if kind == "batch":
        return len(emulator.scratch("batch").get("jobs", {}))
    service, action = STARTS[kind]
    if kind in BY_TOKEN | BY_NAME:
        return sum(e.service == service for e in emulator.executions)
    return sum(
        r.action == action and r.error is None and r.status < 400 and r.fault in AFTER_APPLYING
        for r in emulator.requests
    )


def report(kind: str, fault: str, result: Run, emulator: CloudEmulator) -> None:
    """With ``CLOUDFLOWS_WRITE_REPORT=<file>``, append what the case ended in (executions, outcome, tries):
    the table of executions per operator and fault, written by the run rather than by hand."""
    path = os.environ.get("CLOUDFLOWS_WRITE_REPORT")
    if path:
        line = {"airflow": AIRFLOW, "kind": kind, "fault": fault, "executions": applied(emulator, kind)}
        line.update({"state": str(result.ti.state), "tries": result.ti.try_number})
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def may_resend(kind: str) -> bool:
    """Whether a try may send an unanswered start again: the same name, or the same recorded ClientToken."""
    return kind in BY_NAME or (kind in BY_TOKEN and HAS_STORE)


@pytest.fixture(autouse=True)
def _scripted(emulator_connections: None, cloud_emulator: CloudEmulator) -> None:
    """Every execution a start may create ends soon (DWS: the cluster, and its actions' plans)."""
    plan_cloudflow_execution(cloud_emulator, [(0, "Running"), (0.5, "Succeeded")])
    cloud_emulator.add_execution(dws_cluster(write_fault_dags.CLUSTER))
    for action in ("SNAPSHOTTING", "GROWING", "RESTORING"):
        plan_dws_action(cloud_emulator, action, [(0, "RUNNING", 30)], end_at=2.0)
    cloud_emulator.scratch("dws_actions").setdefault("snapshots", {})[SNAPSHOT] = {
        "cluster_id": write_fault_dags.CLUSTER,
        "name": "seeded",
    }


class Run:
    """One DAG run: the task instance and everything logged."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], kind: str) -> None:
        caplog.set_level(logging.INFO)
        dag = getattr(write_fault_dags, f"wf_{kind}")
        run = dag_test(dag, run_conf={"snapshot_id": SNAPSHOT})
        captured = capsys.readouterr()
        self.ti = run.get_task_instance("run")
        self.text = caplog.text + captured.out + captured.err


def run(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], kind: str) -> Run:
    return Run(caplog, capsys, kind)


def assert_failed_without_retry(result: Run, kind: str) -> None:
    assert result.ti.state == TaskInstanceState.FAILED, result.text
    assert result.ti.try_number == 1, "an unknown outcome must not be retried by Airflow"
    assert "without retry" in result.text and "clear the task" in result.text
    assert STARTS[kind][1] in result.text or kind in result.text


def assert_succeeded(result: Run) -> None:
    assert result.ti.state == TaskInstanceState.SUCCESS, result.text


Inject = Callable[[CloudEmulator, str, str], Any]
ATTEMPTS = RetryPolicy().max_attempts


# --- a lost answer: the cloud applied the start, the reply was cut off (every attempt of the first try) --


@pytest.mark.parametrize("kind", sorted(STARTS))
def test_a_lost_start_answer_never_makes_a_second_execution(
    cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    service, action = STARTS[kind]
    attempts = ATTEMPTS if kind in BY_TOKEN | BY_NAME else 1
    cloud_emulator.inject("reset", service=service, action=action, count=attempts)
    result = run(caplog, capsys, kind)
    report(kind, "lost answer", result, cloud_emulator)
    assert applied(cloud_emulator, kind) == 1
    if may_resend(kind):
        assert_succeeded(result)
        assert result.ti.try_number == 2  # the retry sent the same start again and got the same execution
    else:
        assert_failed_without_retry(result, kind)
        assert cloud_emulator.count(action=action) == attempts


# --- a hang or a trickle: the start is cut by the operator's timeout, applied or not ---------------------


# DWS answers a resize with an empty body: nothing to trickle past the deadline.
CUT_CASES = [
    (kind, fault)
    for kind in sorted(STARTS)
    for fault in ("hang", "trickle")
    if (kind, fault) != ("dws_resize", "trickle")
]


@pytest.mark.parametrize(("kind", "fault"), CUT_CASES)
def test_a_start_cut_by_the_deadline_is_sent_again_only_when_that_is_safe(
    cloud_emulator: CloudEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    fault: str,
) -> None:
    service, action = STARTS[kind]
    # A trickle of 4 bytes a second: even DWS's shortest start answer outlasts the 8 s timeout.
    cloud_emulator.inject(fault, service=service, action=action, count=1, interval=1.0)
    result = run(caplog, capsys, kind)
    report(kind, fault, result, cloud_emulator)
    # A hung request was never processed; a trickled one was, and only its answer was slow.
    processed_by_the_first_try = fault == "trickle"
    if may_resend(kind):
        assert_succeeded(result)
        assert result.ti.try_number == 2
        assert applied(cloud_emulator, kind) == 1
    else:
        assert_failed_without_retry(result, kind)
        assert applied(cloud_emulator, kind) == int(processed_by_the_first_try)
        assert cloud_emulator.count(action=action) == 1


# --- answers that prove the start was not applied ---------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(STARTS))
def test_a_throttled_start_is_sent_again_and_starts_once(
    cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    service, action = STARTS[kind]
    cloud_emulator.inject("throttle", service=service, action=action, count=1)
    result = run(caplog, capsys, kind)
    report(kind, "throttled", result, cloud_emulator)
    assert_succeeded(result)
    assert result.ti.try_number == 1
    assert applied(cloud_emulator, kind) == 1
    assert cloud_emulator.count(action=action) == 2


@pytest.mark.parametrize("kind", sorted(STARTS))
def test_a_start_refused_as_invalid_starts_nothing_and_a_retry_may_send_it_again(
    cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    service, action = STARTS[kind]
    cloud_emulator.inject("invalid", service=service, action=action, count=1)
    result = run(caplog, capsys, kind)
    report(kind, "invalid", result, cloud_emulator)
    # Refused before it was applied: the record is cleared, so the Airflow retry starts it (once).
    assert_succeeded(result)
    assert result.ti.try_number == 2
    assert applied(cloud_emulator, kind) == 1
    assert cloud_emulator.count(action=action) == 2
    assert "starting failed" in result.text


@pytest.mark.parametrize("kind", sorted(STARTS))
def test_a_start_refused_for_its_credentials_starts_nothing_and_is_sent_once_a_try(
    cloud_emulator: CloudEmulator,
    cloud_emulator_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    use_connections(monkeypatch, cloud_emulator_server, secret="not-the-secret")
    result = run(caplog, capsys, kind)
    report(kind, "auth", result, cloud_emulator)
    assert result.ti.state == TaskInstanceState.FAILED
    # Refused before it was applied: the record is cleared and the Airflow retry may send it again (or
    # refuse it unsent: the process remembers credentials the vendor refused).
    assert result.ti.try_number == 2
    assert applied(cloud_emulator, kind) == 0
    assert 1 <= cloud_emulator.count(action=STARTS[kind][1]) <= 2
