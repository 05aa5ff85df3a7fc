"""Operator retry: an ``AlibabaCloudFlowStartExecutionOperator`` waiting in the worker with ``retries=1``, its
task process ``kill -9``ed after the start, is retried and reattaches: one ``StartExecution``, one execution,
success on try 2 (``dags/operator_lifecycle_dag.py``)."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.emulator_control import key_of
from tests.e2e.specs import LIFECYCLE_SPEC, TERMINAL_RUN_STATES, TERMINAL_TI_STATES
from tests.e2e.stack import Stack
from tests.e2e.waiting import PhaseAborted, progress, wait_until
from tests.e2e.xcom_expectations import xcom_problems

RETRY = LIFECYCLE_SPEC["retry"]
RETRY_KEY = (LIFECYCLE_SPEC["flow_name"], RETRY["execution_name"])


@dataclass
class OperatorRetry:
    """What the retry of a start operator killed while it waited in the worker showed."""

    run_id: str
    seen_after_kill: list[str]
    execution_after_kill: list[dict[str, Any]]


@pytest.fixture(scope="module")
def operator_retry(stack: Stack, connections: dict[str, dict[str, Any]], lifecycle_executions: None) -> OperatorRetry:
    """``kill -9`` the first try's task process while it waits in the worker; wait for try 2 to reattach to the
    running execution, then let the execution succeed and the run finish."""
    emulator = stack.control
    dag_id, task_id = RETRY["dag_id"], RETRY["task_id"]
    run_id = stack.api.trigger(dag_id)
    triggered = time.monotonic()
    progress(f"triggered {dag_id}")

    def described() -> bool:
        return any(r["action"] == "DescribeExecution" and key_of(r) == RETRY_KEY for r in emulator.requests())

    def waiting_in_worker() -> dict[str, Any] | None:
        ti = stack.api.task_instance(dag_id, run_id, task_id)
        if ti["state"] in TERMINAL_TI_STATES or ti["try_number"] > 1:
            raise PhaseAborted(f"{task_id} ended or retried before its kill: {ti['state']}, try {ti['try_number']}")
        # The worker checks once after storing the ids: from then on a retry can find them.
        return ti if ti["state"] == "running" and ti.get("pid") and described() else None

    ti = wait_until(f"{task_id} try 1 to start the execution and wait in the worker", waiting_in_worker, 180)
    stack.report.timing("operators retry: trigger -> try 1 waiting in the worker", time.monotonic() - triggered)
    pid, cmdline = stack.task_process(ti)
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    progress(f"kill -9 {pid} ({cmdline.strip()}), try 1 of {dag_id}.{task_id}")

    seen: list[str] = []  # try 1's states after the kill, as the API showed them

    def reattached() -> bool:
        ti = stack.api.task_instance(dag_id, run_id, task_id)
        if ti["try_number"] < 2:
            if not seen or seen[-1] != ti["state"]:
                seen.append(ti["state"])
            return False
        if ti["state"] in TERMINAL_TI_STATES:
            raise PhaseAborted(f"try {ti['try_number']} ended ({ti['state']}) before the execution did")
        return "reattaching to" in stack.api.log_or_empty(dag_id, run_id, task_id, ti["try_number"])

    wait_until("try 2 to reattach (log: 'reattaching to ..., started by try 1')", reattached, 180, interval=1.0)
    stack.report.timing("operators retry: kill -9 -> try 2 reattached", time.time() - killed)
    after_kill = [e for e in emulator.executions() if tuple(e["key"]) == RETRY_KEY]

    emulator.advance(float(RETRY["running_seconds"]))  # the execution now ends: Succeeded
    progress(f"emulator advanced {RETRY['running_seconds']}s: {RETRY_KEY[1]} succeeds")

    def run_finished() -> bool:
        return stack.api.run_state(dag_id, run_id) in TERMINAL_RUN_STATES

    wait_until(f"the {dag_id} run to finish", run_finished, 120, interval=1.0)
    stack.report.timing("operators retry: trigger -> run finished", time.monotonic() - triggered)
    return OperatorRetry(run_id=run_id, seen_after_kill=seen, execution_after_kill=after_kill)


def test_a_retried_try_reattaches_to_the_running_execution(stack: Stack, operator_retry: OperatorRetry) -> None:
    log = stack.api.log_or_empty(RETRY["dag_id"], operator_retry.run_id, RETRY["task_id"], 2)
    assert "reattaching to" in log, f"try 2's log does not say it reattached: {log[-800:]}"


def test_the_killed_try_dies_by_sigkill_and_airflow_retries_it(stack: Stack, operator_retry: OperatorRetry) -> None:
    dag_id, task_id = RETRY["dag_id"], RETRY["task_id"]
    # The try history shows a retried try as "failed" (TaskInstanceHistory records unfinished states so).
    try:
        first = stack.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{operator_retry.run_id}/taskInstances/{task_id}/tries/1")
    except httpx.HTTPError as exc:
        first = {"state": f"<unavailable: {exc}>"}
    first_log = stack.api.log_or_empty(dag_id, operator_retry.run_id, task_id, 1)
    by_signal = "Process terminated by signal" in first_log and "SIGKILL" in first_log
    assert by_signal and first.get("state") == "failed", (
        f"try 1 states seen after the kill: {operator_retry.seen_after_kill or ['(none)']}; try history "
        f"state={first.get('state')}; 'Process terminated by signal' + SIGKILL in try 1's log: {by_signal}"
    )


def test_a_dead_try_leaves_its_execution_running(operator_retry: OperatorRetry) -> None:
    running = operator_retry.execution_after_kill
    assert len(running) == 1, f"executions: {running}"
    assert not running[0].get("stopped_at"), f"stopped_at={running[0].get('stopped_at')}"


def test_the_retried_operator_succeeds_on_try_2(stack: Stack, operator_retry: OperatorRetry) -> None:
    ti = stack.api.task_instance(RETRY["dag_id"], operator_retry.run_id, RETRY["task_id"])
    assert ti["state"] == "success" and ti["try_number"] == 2, f"state={ti['state']}, try_number={ti['try_number']}"


def test_the_retried_operator_starts_one_execution_not_two(stack: Stack, operator_retry: OperatorRetry) -> None:
    emulator = stack.control
    # Every StartExecution of this task's name, or of a retry name derived from it (``<name>-try2``).
    starts = [
        key_of(r)
        for r in emulator.requests()
        if r["action"] == "StartExecution" and (key_of(r) or ("", ""))[1].startswith(RETRY_KEY[1])
    ]
    executions = [
        tuple(e["key"])
        for e in emulator.executions()
        if e["service"] == "fnf" and str(e["key"][-1]).startswith(RETRY_KEY[1])
    ]
    assert starts == [RETRY_KEY], f"StartExecution requests: {starts}"
    assert executions == [RETRY_KEY], f"executions: {executions}"


def test_the_retried_operator_xcom_is_the_final_state_of_the_execution_try_1_started(
    stack: Stack, operator_retry: OperatorRetry
) -> None:
    dag_id, task_id = RETRY["dag_id"], RETRY["task_id"]
    state = stack.api.xcom_or_error(dag_id, operator_retry.run_id, task_id)
    ids = {"flow_name": RETRY_KEY[0], "execution_name": RETRY_KEY[1]}
    problems = xcom_problems(state, ids, {"Output": {"case": "retry"}})
    record = stack.api.xcom_or_error(dag_id, operator_retry.run_id, task_id, key="cloudflows_execution")
    if not isinstance(record, dict) or record.get("try_number") != 1:
        problems.append(f"cloudflows_execution XCom is not try 1's record: {json.dumps(record)[:300]}")
    assert not problems, "; ".join(problems) + f"; xcom={json.dumps(state)[:600]}"
