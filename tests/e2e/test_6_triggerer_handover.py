"""Triggerer hand-over: a deferred CloudFlow start operator and a deferred Batch submit operator run by one
triggerer; a second triggerer starts; the first is stalled (SIGSTOP of its processes) until the second has
adopted both triggers, then resumed (SIGCONT).

Airflow cancels the resumed triggerer's lost triggers "by user action" (``on_kill``); the adopting triggerer still
waits on that work, so no ``StopExecution`` / ``TerminateJob`` may reach the emulator and the resumed triggerer
must log the cancel as skipped (the task is still deferred). Both tasks succeed with their scripted result
(``dags/triggerer_handover_dag.py``); the second triggerer is stopped again.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.airflow_config import TRIGGERER_HEALTH_THRESHOLD
from tests.e2e.emulator_control import key_of
from tests.e2e.processes import Component, process_table, sqlite_writers
from tests.e2e.specs import HANDOVER_SPEC, TERMINAL_TI_STATES
from tests.e2e.stack import Stack
from tests.e2e.waiting import PhaseAborted, StackTimeout, parse_time, progress, wait_until
from tests.e2e.xcom_expectations import xcom_problems

DAG_ID: str = HANDOVER_SPEC["dag_id"]
FLOW: dict[str, Any] = HANDOVER_SPEC["cloudflow"]
BATCH: dict[str, Any] = HANDOVER_SPEC["batch"]
TASKS = (FLOW["task_id"], BATCH["task_id"])
POLL_ACTIONS = {FLOW["task_id"]: "DescribeExecution", BATCH["task_id"]: "DescribeJob"}


@dataclass
class HandedOver:
    """What the stall, the adoption and the resume showed."""

    stalled_states: dict[int, str]
    cancels: list[dict[str, Any]]
    stopped: list[Any]
    resumed: float
    said: dict[str, str]
    tis: dict[str, dict[str, Any]]


@dataclass
class Handover:
    """What the hand-over phase observed."""

    run_id: str
    job_id: str
    handed_over: HandedOver
    second_returncode: int | None
    first_alive: bool


@dataclass
class _Run:
    """One run of the hand-over DAG and what the phase needs to follow its triggers."""

    stack: Stack
    run_id: str

    def owners(self) -> dict[str, int | None]:
        """The triggerer job each deferred task's trigger is assigned to."""
        tis = self.stack.api.task_instances(DAG_ID, self.run_id)
        ended = {t: tis[t]["state"] for t in TASKS if t in tis and tis[t]["state"] in TERMINAL_TI_STATES}
        if ended:
            raise PhaseAborted(f"tasks ended during the hand-over: {ended}")
        return {
            t: (tis[t].get("trigger") or {}).get("triggerer_id") if t in tis and tis[t]["state"] == "deferred" else None
            for t in TASKS
        }

    def trigger_log(self, task_id: str, job: int) -> str:
        """What triggerer job ``job`` logged for the task's trigger."""
        folder = self.stack.task_log_folder(DAG_ID, self.run_id, task_id)
        return "\n".join(p.read_text(errors="replace") for p in folder.glob(f"attempt=1.log.trigger.{job}.log"))


def _stall(stack: Stack, component: Component) -> set[int]:
    """SIGSTOP every process of the component, at a moment none is writing to the SQLite DB (a stalled writer
    would stall every other component's writes too); the pids stopped."""
    db = stack.home / "airflow.db"
    for _ in range(50):
        pids = stack.processes.tree_pids(component)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        time.sleep(0.05)
        holders = sqlite_writers(db) & pids
        if not holders:
            return pids
        progress(f"pids {sorted(holders)} were writing to the metadata DB: resuming and stalling again")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        time.sleep(0.2)
    raise PhaseAborted("could not stall the triggerer outside a write to the metadata DB")


@pytest.fixture(scope="module")
def handover(stack: Stack, connections: dict[str, dict[str, Any]]) -> Handover:
    """Run the hand-over; the executions run ``running_seconds``, so once the resumed triggerer has dealt with its
    lost triggers the emulator is fast-forwarded so that both end (succeed) without waiting that long."""
    emulator = stack.control
    emulator.add_executions(
        [
            {
                "builder": "cloudflow_execution",
                "args": {
                    "flow_name": FLOW["flow_name"],
                    "execution_name": FLOW["execution_name"],
                    "phases": [[0, "Running"], [HANDOVER_SPEC["running_seconds"], "Succeeded"]],
                    "output": FLOW["output"],
                },
            }
        ]
    )
    first = stack.processes.component("triggerer")
    since = time.time()
    run = _Run(stack, stack.api.trigger(DAG_ID))
    triggered = time.monotonic()
    progress(f"triggered {DAG_ID}")

    # Deferred while only the first triggerer runs: both triggers are its own (their log files exist).
    def running_on_first() -> int | None:
        found = set(run.owners().values())
        job = found.pop() if len(found) == 1 else None
        return job if job is not None and all(run.trigger_log(t, job) for t in TASKS) else None

    first_job = wait_until("both tasks deferred, their triggers running", running_on_first, 120)
    stack.report.timing("hand-over: trigger -> both triggers running on one triggerer", time.monotonic() - triggered)

    def submitted_job() -> str | None:
        found = [
            key_of(r)
            for r in emulator.requests()
            if r["action"] == "SubmitJob" and r["received"] >= since and r["status"] == 200
        ]
        return found[0][0] if found and found[0] else None

    job_id = wait_until("the Batch job's SubmitJob in the request log", submitted_job, 10)
    keys = {FLOW["task_id"]: (FLOW["flow_name"], FLOW["execution_name"]), BATCH["task_id"]: (job_id,)}

    known = {job["id"] for job in stack.triggerer_jobs()}
    second = stack.start_triggerer()
    try:
        observed = _hand_over(stack, run, first, first_job, second, known, keys)
    finally:
        stopping = time.monotonic()
        stack.processes.stop(second)
        stack.report.timing("hand-over: second triggerer stopped (SIGTERM)", time.monotonic() - stopping)
    return Handover(
        run_id=run.run_id,
        job_id=job_id,
        second_returncode=second.popen.returncode,
        first_alive=stack.processes.alive(first),
        handed_over=observed,
    )


def _hand_over(
    stack: Stack,
    run: _Run,
    first: Component,
    first_job: int,
    second: Component,
    known: set[int],
    keys: dict[str, tuple[str, ...]],
) -> HandedOver:
    """Stall the first triggerer until the second adopts both triggers, resume it, let both tasks end."""
    emulator = stack.control

    def second_job() -> int | None:
        if second.popen.poll() is not None:
            tail = second.output.read_text(errors="replace")[-2000:]
            raise PhaseAborted(f"the second triggerer exited with {second.popen.returncode}: {tail}")
        new = [job["id"] for job in stack.triggerer_jobs() if job["id"] not in known and job["latest_heartbeat"]]
        return new[0] if new else None

    adopter = wait_until("the second triggerer to heartbeat", second_job, 120)
    stack.report.timing("hand-over: second triggerer start -> heartbeating", time.time() - second.started)
    still = run.owners()
    if set(still.values()) != {first_job}:
        raise PhaseAborted(f"the triggers moved before the stall: {still} (first triggerer job {first_job})")

    pids = _stall(stack, first)
    stalled = time.time()
    progress(f"triggerer job {first_job} stalled (SIGSTOP pids {sorted(pids)}); job {adopter} should adopt")
    reassigned: list[float] = []
    try:
        stalled_states = {pid: process_table().get(pid, (0, "gone"))[1] for pid in pids}

        def adopted() -> bool:
            if set(run.owners().values()) != {adopter}:
                return False
            if not reassigned:
                reassigned.append(time.time())
            batch_polled = any(
                r["action"] == "DescribeJob" and key_of(r) == keys[BATCH["task_id"]] and r["received"] > stalled
                for r in emulator.requests()
            )
            return batch_polled and all(run.trigger_log(t, adopter) for t in TASKS)

        # A stall longer than the health threshold; the adoption takes about that long anyway.
        wait_until("the second triggerer to adopt both triggers", adopted, TRIGGERER_HEALTH_THRESHOLD + 60)
        while time.time() < stalled + TRIGGERER_HEALTH_THRESHOLD + 2:
            time.sleep(0.2)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    resumed = time.time()
    progress(f"triggerer job {first_job} resumed after a {resumed - stalled:.1f}s stall")
    stack.report.timing("hand-over: stall -> both triggers assigned to the second triggerer", reassigned[0] - stalled)
    stack.report.timing("hand-over: stall (SIGSTOP -> SIGCONT)", resumed - stalled)

    # What the resumed triggerer says about each lost trigger: its trigger log, or its output lines naming the
    # execution.
    def first_says() -> dict[str, str]:
        output = first.output.read_text(errors="replace").splitlines()
        names = {FLOW["task_id"]: FLOW["execution_name"], BATCH["task_id"]: keys[BATCH["task_id"]][0]}
        return {
            t: run.trigger_log(t, first_job) + "\n" + "\n".join(line for line in output if names[t] in line)
            for t in TASKS
        }

    outcome = re.compile(r"on kill|not cancelled", re.IGNORECASE)
    with contextlib.suppress(StackTimeout):
        wait_until(
            "the resumed triggerer to deal with its lost triggers",
            lambda: all(outcome.search(text) for text in first_says().values()),
            20,
        )
    emulator.advance(float(HANDOVER_SPEC["running_seconds"]))
    progress(f"emulator advanced {HANDOVER_SPEC['running_seconds']}s: both executions succeed")

    def ended() -> dict[str, dict[str, Any]] | None:
        tis = stack.api.task_instances(DAG_ID, run.run_id)
        return tis if all(tis[t]["state"] in TERMINAL_TI_STATES for t in TASKS) else None

    tis = wait_until("both tasks to end", ended, 120)
    ends = [parse_time(tis[t].get("end_date")) or time.time() for t in TASKS]
    stack.report.timing("hand-over: resume -> both tasks ended", max(ends) - resumed)
    records = emulator.requests()
    for task_id in TASKS:
        action = POLL_ACTIONS[task_id]
        first_poll = min(
            (
                r["received"]
                for r in records
                if r["action"] == action and key_of(r) == keys[task_id] and r["received"] > stalled
            ),
            default=None,
        )
        if first_poll is not None:
            stack.report.timing(f"hand-over: stall -> first {action} by the adopting triggerer", first_poll - stalled)

    cancelled_keys = {*keys.values(), (keys[BATCH["task_id"]][0], BATCH["task_name"])}
    return HandedOver(
        stalled_states=stalled_states,
        cancels=[r for r in records if r["action"] in ("StopExecution", "TerminateJob") and r["received"] >= stalled],
        stopped=[
            e["key"] for e in emulator.executions() if tuple(e["key"][:2]) in cancelled_keys and e.get("stopped_at")
        ],
        resumed=resumed,
        said=first_says(),
        tis=tis,
    )


def test_the_triggerer_running_both_triggers_is_stalled_with_every_process_stopped(handover: Handover) -> None:
    states = handover.handed_over.stalled_states
    assert states, "no process of the first triggerer found to stall"
    assert all(state == "T" for state in states.values()), f"process states: {states}"


def test_no_stop_execution_or_terminate_job_reaches_the_emulator_from_the_stall_until_both_tasks_end(
    handover: Handover,
) -> None:
    seen = handover.handed_over
    cancels = "; ".join(
        f"{r['action']} {key_of(r)} (HTTP {r['status']}) {r['received'] - seen.resumed:+.1f}s after the resume"
        for r in seen.cancels
    )
    assert not seen.cancels, cancels
    assert not seen.stopped, f"executions stopped: {seen.stopped}"


def test_the_resumed_triggerer_logs_the_cancel_as_skipped_because_the_task_is_still_deferred(
    handover: Handover,
) -> None:
    said = handover.handed_over.said
    skipped = {t: bool(re.search(r"still deferred", said[t], re.IGNORECASE)) for t in TASKS}
    invoked = {t: "invoking on_kill" in said[t] for t in TASKS}
    assert all(skipped.values()), (
        f"'still deferred' logged: {skipped}; Airflow's 'invoking on_kill' logged: {invoked}; "
        f"log tails: { {t: said[t][-600:] for t in TASKS} }"
    )


@pytest.mark.parametrize("task_id", TASKS)
def test_a_handed_over_task_succeeds_with_its_scripted_result(stack: Stack, handover: Handover, task_id: str) -> None:
    expected: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        FLOW["task_id"]: (
            {"flow_name": FLOW["flow_name"], "execution_name": FLOW["execution_name"]},
            {"Output": FLOW["output"]},
        ),
        BATCH["task_id"]: ({"job_id": handover.job_id}, {"JobName": BATCH["job_name"]}),
    }
    ids, extra = expected[task_id]
    state = handover.handed_over.tis[task_id]["state"]
    assert state == "success", f"state={state}"
    problems = xcom_problems(stack.api.xcom_or_error(DAG_ID, handover.run_id, task_id), ids, extra)
    assert not problems, "; ".join(problems)


def test_the_second_triggerer_stops_cleanly_on_sigterm_and_the_first_runs_on(handover: Handover) -> None:
    assert handover.second_returncode in (0, -signal.SIGTERM), f"second returncode={handover.second_returncode}"
    assert handover.first_alive, "the first triggerer is gone"
