"""Start resend: a ``TencentBatchSubmitJobOperator`` waiting in the worker with ``retries=1``; the emulator trickles
its first ``SubmitJob`` answer (the job exists, the reply is in flight) and the task process is ``kill -9``ed
meanwhile. Try 2 sends the start again under try 1's ClientToken (its log says so) and gets the same JobId: one
Batch job, two ``SubmitJob`` requests, success on try 2 (``dags/start_resend_dag.py``)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.emulator_control import key_of
from tests.e2e.processes import connected_to
from tests.e2e.specs import RESEND_SPEC, TERMINAL_RUN_STATES, TERMINAL_TI_STATES
from tests.e2e.stack import Stack
from tests.e2e.waiting import PhaseAborted, progress, wait_until
from tests.e2e.xcom_expectations import xcom_problems

DAG_ID: str = RESEND_SPEC["dag_id"]
TASK_ID: str = RESEND_SPEC["task_id"]
INTERVAL = float(RESEND_SPEC["trickle_interval"])


@dataclass
class StartResend:
    """What the start-resend phase observed."""

    run_id: str
    connected: bool
    killed_into_reply: float
    first_reply: dict[str, Any]
    submits: list[dict[str, Any]]
    created_jobs: list[str]


def _batch_jobs(stack: Stack) -> set[str]:
    """The JobIds of every Batch job in the emulator."""
    return {str(e["key"][0]) for e in stack.control.executions() if e["service"] == "batch"}


@pytest.fixture(scope="module")
def resend(stack: Stack, connections: dict[str, dict[str, Any]]) -> StartResend:
    """Kill try 1 while its SubmitJob reply trickles in; wait for try 2's SubmitJob and the run's end."""
    emulator = stack.control
    port = int(stack.emulator_url.rsplit(":", 1)[1])
    jobs_before = _batch_jobs(stack)
    emulator.inject({"kind": "trickle", "service": "batch", "action": "SubmitJob", "interval": INTERVAL})
    since = time.time()
    try:
        run_id = stack.api.trigger(DAG_ID)
        triggered = time.monotonic()
        progress(f"triggered {DAG_ID}; the first SubmitJob answer trickles, 4 bytes every {INTERVAL:g}s")

        def submits() -> list[dict[str, Any]]:
            return [r for r in emulator.requests("SubmitJob") if r["received"] >= since]

        def trickling() -> tuple[dict[str, Any], dict[str, Any]] | None:
            found = submits()
            if not found:
                return None
            if found[0]["fault"] != "trickle":
                raise PhaseAborted(f"the first SubmitJob was not trickled: {json.dumps(found)[:400]}")
            ti = stack.api.task_instance(DAG_ID, run_id, TASK_ID)
            if ti["state"] in TERMINAL_TI_STATES or ti["try_number"] > 1:
                raise PhaseAborted(f"{TASK_ID} ended or retried before its kill: {ti['state']}, try {ti['try_number']}")
            return (ti, found[0]) if ti["state"] == "running" and ti.get("pid") else None

        ti, reply = wait_until(f"{TASK_ID} try 1's SubmitJob reply to trickle", trickling, 180, interval=0.2)
        stack.report.timing("start resend: trigger -> try 1's SubmitJob reply trickling", time.monotonic() - triggered)
        pid, cmdline = stack.task_process(ti)
        connected = connected_to(pid, port)
        os.kill(pid, signal.SIGKILL)
        killed = time.time()
        progress(f"kill -9 {pid} ({cmdline.strip()}) {killed - reply['time']:.1f}s into the trickled SubmitJob reply")

        def resent() -> list[dict[str, Any]] | None:
            found = submits()
            return found if len(found) >= 2 else None

        second = wait_until("try 2's SubmitJob", resent, 120, interval=0.5)[1]
        stack.report.timing("start resend: kill -9 -> try 2's SubmitJob answered", second["time"] - killed)

        def run_finished() -> bool:
            return stack.api.run_state(DAG_ID, run_id) in TERMINAL_RUN_STATES

        wait_until(f"the {DAG_ID} run to finish", run_finished, 120, interval=0.5)
        stack.report.timing("start resend: trigger -> run finished", time.monotonic() - triggered)
    finally:
        emulator.clear_faults()
    return StartResend(
        run_id=run_id,
        connected=connected,
        killed_into_reply=killed - reply["time"],
        first_reply=reply,
        submits=submits(),
        created_jobs=sorted(_batch_jobs(stack) - jobs_before),
    )


def test_try_1_is_killed_while_its_submit_job_reply_trickles_in(resend: StartResend) -> None:
    detail = (
        f"connected to the emulator: {resend.connected}; killed {resend.killed_into_reply:.1f}s into the reply "
        f"(JobId {key_of(resend.first_reply)})"
    )
    assert resend.connected, detail
    # A JobId reply is over 40 bytes: it trickles for more than 10 intervals.
    assert resend.killed_into_reply < 10 * INTERVAL, detail


def test_the_resent_submit_succeeds_on_try_2(stack: Stack, resend: StartResend) -> None:
    ti = stack.api.task_instance(DAG_ID, resend.run_id, TASK_ID)
    assert ti["state"] == "success" and ti["try_number"] == 2, f"state={ti['state']}, try_number={ti['try_number']}"


def test_try_1_dies_by_sigkill_as_its_log_says(stack: Stack, resend: StartResend) -> None:
    first_log = stack.api.log_or_empty(DAG_ID, resend.run_id, TASK_ID, 1)
    assert "Process terminated by signal" in first_log and "SIGKILL" in first_log, f"log tail: {first_log[-800:]}"


def test_try_2_sends_the_start_again_with_try_1s_client_token(stack: Stack, resend: StartResend) -> None:
    log = stack.api.log_or_empty(DAG_ID, resend.run_id, TASK_ID, 2)
    said = "sending it again with the same ClientToken" in log
    # Try 2 names the token twice: resending it, then with the JobId it got back.
    tokens = sorted(set(re.findall(r"ClientToken (airflow-[0-9a-f]+-try\d+)", log)))
    assert said, f"'sending it again with the same ClientToken' not logged; log tail: {log[-1200:]}"
    assert len(tokens) == 1 and tokens[0].endswith("-try1"), f"ClientTokens in try 2's log: {tokens}"


def test_one_batch_job_is_created_and_both_submit_job_requests_answer_its_job_id(resend: StartResend) -> None:
    submits = resend.submits
    answered = sorted({key[0] for r in submits if (key := key_of(r))})
    detail = f"SubmitJob requests: {[(r['status'], r['fault'], key_of(r)) for r in submits]}; jobs created: "
    detail += str(resend.created_jobs)
    assert len(submits) == 2 and all(r["status"] == 200 for r in submits), detail
    assert len(resend.created_jobs) == 1 and answered == resend.created_jobs, detail


def test_the_resent_submit_xcom_is_the_final_state_of_that_one_job(stack: Stack, resend: StartResend) -> None:
    state = stack.api.xcom_or_error(DAG_ID, resend.run_id, TASK_ID)
    job_id = resend.created_jobs[0] if resend.created_jobs else None
    problems = xcom_problems(state, {"job_id": job_id}, {"JobName": RESEND_SPEC["job_name"]})
    assert not problems, "; ".join(problems) + f"; xcom={json.dumps(state)[:600]}"
