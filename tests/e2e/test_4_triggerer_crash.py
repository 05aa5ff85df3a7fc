"""Triggerer crash: a dozen waits over five services deferred at once, the triggerer killed with SIGKILL, a pause,
a new triggerer. Every wait ends with its scripted outcome; the waits whose timeout passed meanwhile end failed
(AirflowSensorTimeout) or skipped (``soft_fail``); nothing polled the emulator while no triggerer ran."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.emulator_control import builder_key, key_of, polls
from tests.e2e.specs import CRASH_SPEC, TERMINAL_RUN_STATES, TERMINAL_TI_STATES, TRIGGER_CLASSPATH
from tests.e2e.stack import Stack
from tests.e2e.waiting import PhaseAborted, parse_time, progress, wait_until
from tests.e2e.xcom_expectations import xcom_problems

DAG_ID: str = CRASH_SPEC["dag_id"]
WAITS: dict[str, dict[str, Any]] = {w["task_id"]: w for w in CRASH_SPEC["waits"]}
KEYS = {task_id: builder_key(w["emulator"]) for task_id, w in WAITS.items()}
ENDING_WAITS = [t for t, w in WAITS.items() if w["expect"] in ("success", "failed")]
TIMEOUT_WAITS = [t for t, w in WAITS.items() if w["expect"] in ("timeout", "skipped")]
EXPECTED_STATE = {"success": "success", "failed": "failed", "timeout": "failed", "skipped": "skipped"}


@dataclass
class Crash:
    """What the crash phase observed."""

    run_id: str
    classpaths_when_deferred: dict[str, set[str]]
    old_returncode: int | None
    old_group_alive: bool
    killed: float
    restarted: float
    outage_records: list[dict[str, Any]]
    deadlines: dict[str, float]
    tis: dict[str, dict[str, Any]]
    records: list[dict[str, Any]]


@pytest.fixture(scope="module")
def crash(stack: Stack, connections: dict[str, dict[str, Any]], outage: float) -> Crash:
    """Defer every wait, kill -9 the triggerer, start a new one after the outage, wait for the run to finish."""
    emulator = stack.control
    emulator.add_executions([w["emulator"] for w in WAITS.values()])
    run_id = stack.api.trigger(DAG_ID)
    triggered = time.monotonic()
    progress(f"triggered {DAG_ID} ({len(WAITS)} deferrable waits)")

    deferred_at: dict[str, float] = {}
    classpaths: dict[str, set[str]] = {t: set() for t in WAITS}
    tis: dict[str, dict[str, Any]] = {}

    def observe() -> dict[str, dict[str, Any]]:
        current = stack.api.task_instances(DAG_ID, run_id)
        for task_id, ti in current.items():
            trigger = ti.get("trigger")
            if ti["state"] == "deferred" and trigger:
                classpaths[task_id].add(trigger["classpath"])
                created = parse_time(trigger.get("created_date"))
                deferred_at.setdefault(task_id, created if created is not None else time.time())
        tis.clear()
        tis.update(current)
        return current

    def all_deferred() -> bool:
        current = observe()
        early = {t: ti["state"] for t, ti in current.items() if ti["state"] in TERMINAL_TI_STATES}
        if early:
            raise PhaseAborted(f"waits ended before the crash: {early}")
        return len(current) == len(WAITS) and all(ti["state"] == "deferred" for ti in current.values())

    wait_until(f"all {len(WAITS)} waits to be deferred at once", all_deferred, 180, interval=0.5)
    stack.report.timing("crash: trigger -> all waits deferred", time.monotonic() - triggered)
    when_deferred = {t: set(c) for t, c in classpaths.items()}

    # Let the triggerer poll every wait at least once (long polls show in the log only when they end).
    def polled_by_triggerer() -> bool:
        records = emulator.requests()
        short = [t for t, w in WAITS.items() if w["sensor"] != "AlibabaCloudFlowExecutionSensor"]
        return all(sum(polls(r, KEYS[t]) for r in records) >= 2 for t in short)

    wait_until("the triggerer to poll every wait", polled_by_triggerer, 30, interval=0.5)
    time.sleep(1.0)

    old = stack.processes.component("triggerer")
    stack.processes.kill(old, signal.SIGKILL)
    killed = time.time()
    old_alive = stack.processes.alive(old)
    deadlines = {t: deferred_at[t] + WAITS[t]["timeout"] for t in TIMEOUT_WAITS}
    restart_at = max(killed + outage, max(deadlines.values()) + 3.0)
    progress(f"triggerer killed; outage of {restart_at - killed:.0f}s (timeout deadlines fall inside it)")
    while time.time() < restart_at:
        with contextlib.suppress(httpx.HTTPError):
            observe()
        time.sleep(min(1.0, max(0.0, restart_at - time.time())))

    restarted = stack.start_triggerer().started
    stack.report.timing("crash: triggerer outage (kill -> new triggerer started)", restarted - killed)
    # ``received`` is when a request arrived (a long poll is answered up to a minute later); 1 s of grace covers
    # requests already on the wire at the kill.
    outage_records = [r for r in emulator.requests() if killed + 1.0 < r["received"] <= restarted]

    def first_poll_after_restart() -> float | None:
        times = [r["received"] for r in emulator.requests() if r["received"] > restarted]
        return min(times) if times else None

    first = wait_until("the new triggerer's first poll", first_poll_after_restart, 120, interval=0.25)
    stack.report.timing("crash: triggerer hand-over (new triggerer start -> first emulator poll)", first - restarted)

    def run_finished() -> bool:
        observe()
        return stack.api.run_state(DAG_ID, run_id) in TERMINAL_RUN_STATES

    wait_until("the crash DAG run to finish", run_finished, 300, interval=1.0)
    observe()  # the task instances' final states
    stack.report.timing("crash: trigger -> run finished", time.monotonic() - triggered)
    records = emulator.requests()
    resumed = [
        min(r["time"] for r in records if polls(r, KEYS[t]) and r["time"] > restarted)
        for t in ENDING_WAITS
        if WAITS[t]["sensor"] != "AlibabaCloudFlowExecutionSensor"  # long polls are logged when answered
        and any(polls(r, KEYS[t]) and r["time"] > restarted for r in records)
    ]
    if resumed:
        stack.report.timing(
            "crash: new triggerer start -> every resumed short-poll wait polled again", max(resumed) - restarted
        )
    return Crash(
        run_id=run_id,
        classpaths_when_deferred=when_deferred,
        old_returncode=old.popen.returncode,
        old_group_alive=old_alive,
        killed=killed,
        restarted=restarted,
        outage_records=outage_records,
        deadlines=deadlines,
        tis=dict(tis),
        records=records,
    )


def test_a_dozen_waits_across_five_services_defer_at_once_to_the_execution_trigger(crash: Crash) -> None:
    wrong = {t: sorted(c) for t, c in crash.classpaths_when_deferred.items() if c != {TRIGGER_CLASSPATH}}
    assert not wrong, json.dumps(wrong)


def test_the_killed_triggerer_dies_by_sigkill_with_its_whole_process_group(crash: Crash) -> None:
    assert not crash.old_group_alive, "a process of the killed triggerer's group still runs"
    assert crash.old_returncode == -signal.SIGKILL, f"returncode={crash.old_returncode}"


def test_nothing_polls_the_emulator_while_no_triggerer_runs(crash: Crash) -> None:
    assert not crash.outage_records, (
        f"{len(crash.outage_records)} requests arrived during the {crash.restarted - crash.killed:.0f}s outage: "
        f"{json.dumps(crash.outage_records)[:800]}"
    )


@pytest.mark.parametrize("task_id", list(WAITS))
def test_every_wait_ends_with_its_scripted_outcome(stack: Stack, crash: Crash, task_id: str) -> None:
    wait = WAITS[task_id]
    ti = crash.tis.get(task_id, {})
    log = stack.api.log_or_empty(DAG_ID, crash.run_id, task_id, max(1, int(ti.get("try_number") or 1)))
    detail = f"{wait['expect']}: log tail: {log[-800:]}"
    if wait["expect"] in ("timeout", "skipped"):
        # The provider's trigger deadline (restarted trigger) or Airflow's own defer timeout (scheduler).
        if "did not finish within" in log:
            detail = f"timed out by the restarted trigger (its deadline had passed); {detail}"
        elif "Trigger timeout" in log:
            detail = f"timed out by Airflow's defer timeout (scheduler); {detail}"
    assert ti.get("state") == EXPECTED_STATE[wait["expect"]], f"state={ti.get('state')}; {detail}"
    if wait["expect"] == "success":
        xcom = stack.api.xcom_or_error(DAG_ID, crash.run_id, task_id)
        problems = xcom_problems(xcom, wait["identifiers"], {})
        assert not problems, "; ".join(problems)
    elif wait["expect"] == "failed":
        assert "CloudExecutionFailed" in log, f"CloudExecutionFailed not in the log; {detail}"
        assert wait.get("reason", "") in log, f"{wait.get('reason')!r} not in the log; {detail}"
    elif wait["expect"] == "timeout":
        assert "AirflowSensorTimeout" in log, f"AirflowSensorTimeout not in the log; {detail}"


@pytest.mark.parametrize("task_id", ENDING_WAITS)
def test_a_wait_still_running_at_the_crash_is_resumed_by_the_new_triggerer(
    stack: Stack, crash: Crash, task_id: str
) -> None:
    polled = [r for r in crash.records if polls(r, KEYS[task_id]) and r["received"] > crash.restarted]
    folder = stack.task_log_folder(DAG_ID, crash.run_id, task_id)
    # Each triggerer job writes its own trigger log: ``attempt=N.log.trigger.<job>.log``.
    jobs = {path.name.rsplit(".", 2)[-2] for path in folder.glob("attempt=*.log.trigger.*.log")}
    assert polled, "no poll after the restart"
    assert len(jobs) >= 2, f"trigger logs of triggerer jobs {sorted(jobs)}"


@pytest.mark.parametrize("task_id", TIMEOUT_WAITS)
def test_the_timeout_of_a_timed_out_wait_passes_during_the_outage(crash: Crash, task_id: str) -> None:
    deadline = crash.deadlines[task_id]
    assert crash.killed < deadline < crash.restarted, (
        f"deadline {deadline - crash.killed:+.1f}s after the kill, outage {crash.restarted - crash.killed:.1f}s"
    )


@pytest.mark.parametrize("task_id", TIMEOUT_WAITS)
def test_a_timed_out_wait_is_not_polled_after_its_deadline(crash: Crash, task_id: str) -> None:
    deadline = crash.deadlines[task_id]
    late = [r for r in crash.records if key_of(r) == KEYS[task_id] and r["received"] > deadline]
    assert not late, f"{len(late)} requests after the deadline"
