"""Start from trigger: a hundred CloudFlow sensors with ``start_from_trigger=True`` wait without a worker.

The scheduler hands each task straight to the triggerer, which ends the hundred successes itself (their XCom is
the final state, as the deferred path returns it) and the failure too, try after try; only the two timeouts
resume a worker, once each, which raises ``AirflowSensorTimeout`` (failed) or skips (``soft_fail``).

Worker processes are counted per task try from two records no triggerer writes:
- the ``running`` audit-log rows (``/api/v2/eventLogs``): the execution API's ``ti_run`` writes one each time a
  task process starts (first run or resume of a deferred task), and nothing else starts a task;
- the scheduler's ``Received executor event ... for task instance TaskInstanceKey(...)`` lines: one per workload
  the executor ran, whatever became of it.
The task instance's ``pid`` and ``hostname``, which only a starting task process sets, are checked as well.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.phase_dags import wait_parsed
from tests.e2e.run_report import RunReport
from tests.e2e.specs import SFT_SPEC, TERMINAL_RUN_STATES, TERMINAL_TI_STATES
from tests.e2e.stack import Stack
from tests.e2e.waiting import StackTimeout, parse_time, progress, wait_until
from tests.e2e.xcom_expectations import xcom_problems

DAG_ID: str = SFT_SPEC["dag_id"]
FLOW_NAME: str = SFT_SPEC["flow_name"]
OTHERS: dict[str, dict[str, Any]] = SFT_SPEC["others"]
SUCCESSES = {f"{SFT_SPEC['success_task_prefix']}{n:03d}": f"sft_ok_{n:03d}" for n in range(SFT_SPEC["successes"])}
TIMEOUTS = [t for t, o in OTHERS.items() if o["timeout"] < SFT_SPEC["success_timeout"]]
EXECUTOR_EVENT = re.compile(
    r"Received executor event with state (\w+) for task instance "
    r"TaskInstanceKey\(dag_id='([^']+)', task_id='([^']+)', run_id='([^']+)', try_number=(\d+)"
)
# What the triggerer logs when it falls behind or loses track of a trigger.
STALL_MARKERS = ("was blocked", "deadlocked", "maximum capacity", "unknown request frame", "Traceback")


@dataclass
class Started:
    """What the start-from-trigger phase observed."""

    run_id: str
    run_state: str
    tis: dict[str, dict[str, Any]]
    tries: list[dict[str, Any]]  # every try of the failing task
    most_deferred: int
    worker_starts: Counter[tuple[str, int]]  # (task id, try) -> ``running`` audit-log rows
    executor_events: Counter[tuple[str, int]]  # (task id, try) -> executor events in the scheduler's output

    def workers(self, task_id: str) -> tuple[int, int]:
        """(audit-log starts, executor events) of every try of the task."""
        starts = sum(n for (t, _try), n in self.worker_starts.items() if t == task_id)
        events = sum(n for (t, _try), n in self.executor_events.items() if t == task_id)
        return starts, events


def _executions() -> list[dict[str, Any]]:
    ends = {"times_out": None, "times_out_soft": None, "fails": ("Failed", SFT_SPEC["fail_after_seconds"])}
    executions = [
        {
            "builder": "cloudflow_execution",
            "args": {
                "flow_name": FLOW_NAME,
                "execution_name": name,
                "phases": [[0, "Running"], [SFT_SPEC["succeed_after_seconds"], "Succeeded"]],
                "output": {"execution": name},
            },
        }
        for name in SUCCESSES.values()
    ]
    for task_id, other in OTHERS.items():
        end = ends[task_id]
        phases: list[list[Any]] = [[0, "Running"]] + ([[end[1], end[0]]] if end else [])
        executions.append(
            {
                "builder": "cloudflow_execution",
                "args": {"flow_name": FLOW_NAME, "execution_name": other["execution_name"], "phases": phases},
            }
        )
    return executions


def _event_logs(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        body = stack.api.get(
            "/api/v2/eventLogs", dag_id=DAG_ID, run_id=run_id, event="running", limit=100, offset=len(rows)
        )
        rows += body["event_logs"]
        if len(rows) >= body["total_entries"] or not body["event_logs"]:
            return rows


@pytest.fixture(scope="module")
def started(stack: Stack, connections: dict[str, dict[str, Any]], report: RunReport) -> Started:
    """Script the executions, trigger the run, follow it to its end, count the worker processes."""
    wait_parsed(stack, [DAG_ID], "start_from_trigger_dag.py")
    stack.control.add_executions(_executions())
    run_id = stack.api.trigger(DAG_ID)
    triggered = time.monotonic()
    progress(f"triggered {DAG_ID}: {len(SUCCESSES) + len(OTHERS)} sensors starting from the trigger")
    most_deferred = 0
    tis: dict[str, dict[str, Any]] = {}

    def finished() -> bool:
        nonlocal most_deferred
        tis.clear()
        tis.update(stack.api.task_instances(DAG_ID, run_id))
        most_deferred = max(most_deferred, sum(1 for ti in tis.values() if ti["state"] == "deferred"))
        return stack.api.run_state(DAG_ID, run_id) in TERMINAL_RUN_STATES

    try:
        wait_until(f"the {DAG_ID} run to finish", finished, 240, interval=1.0)
    except StackTimeout as exc:
        try:
            facts = _stall_facts(stack, run_id)
        except Exception as unread:  # the timeout is the finding; facts that cannot be read must not hide it
            facts = f"(what the stack left behind could not be read: {type(unread).__name__}: {unread})"
        raise StackTimeout(f"{exc}\n{facts}") from None
    report.timing("start from trigger: trigger -> run finished", time.monotonic() - triggered)
    tis = _all_task_instances(stack, run_id)
    run_start = parse_time(stack.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["start_date"])
    ends = sorted(t for t in (parse_time(tis[task_id].get("end_date")) for task_id in SUCCESSES if task_id in tis) if t)
    if run_start is not None and ends:
        report.timing("start from trigger: run start -> first success ended in the triggerer", ends[0] - run_start)
        report.timing("start from trigger: run start -> last success ended in the triggerer", ends[-1] - run_start)
    worker_starts: Counter[tuple[str, int]] = Counter(
        (row["task_id"], int(row["try_number"] or 0)) for row in _event_logs(stack, run_id)
    )
    executor_events: Counter[tuple[str, int]] = Counter(
        (task_id, int(try_number))
        for _state, dag_id, task_id, event_run_id, try_number in EXECUTOR_EVENT.findall(stack.output_of("scheduler"))
        if dag_id == DAG_ID and event_run_id == run_id
    )
    tries = stack.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/fails/tries")["task_instances"]
    observed = Started(
        run_id=run_id,
        run_state=stack.api.run_state(DAG_ID, run_id),
        tis=tis,
        tries=tries,
        most_deferred=most_deferred,
        worker_starts=worker_starts,
        executor_events=executor_events,
    )
    success_workers = sum(sum(observed.workers(t)) for t in SUCCESSES)
    report.note(
        f"start_from_trigger: worker processes per wait (audit-log starts, executor events): "
        f"{len(SUCCESSES)} successes {success_workers} in all; "
        + ", ".join(f"{t} {observed.workers(t)} over {len(tries) if t == 'fails' else 1} tries" for t in OTHERS)
        + f"; at most {most_deferred} tasks deferred at once"
    )
    return observed


def _stall_facts(stack: Stack, run_id: str) -> str:
    """What a run that did not finish left behind: its unfinished tasks, with their triggers and what the
    scheduler, the triggerer and the task's logs last said of them, the triggerer jobs and their warnings."""
    tis = _all_task_instances(stack, run_id)
    with stack.read_db() as db:
        owners = dict(db.execute("SELECT id, triggerer_id FROM trigger").fetchall())
        trigger_of = dict(
            db.execute("SELECT task_id, trigger_id FROM task_instance WHERE run_id = ?", (run_id,)).fetchall()
        )
    outputs = {name: stack.output_of(name).splitlines() for name in ("scheduler", "triggerer")}
    unfinished = sorted(t for t, ti in tis.items() if ti["state"] not in TERMINAL_TI_STATES)
    facts = [
        f"task states {dict(Counter(str(ti['state']) for ti in tis.values()))}",
        f"triggers per triggerer {dict(Counter(owners.values()))}",
        f"triggerer jobs {[(j['id'], j['state'], j['latest_heartbeat']) for j in stack.triggerer_jobs()]}",
        "triggerer warnings " + str({m: sum(m in line for line in outputs["triggerer"]) for m in STALL_MARKERS}),
    ]
    for task_id in unfinished[:5]:
        trigger = trigger_of.get(task_id)
        facts.append(
            f"{task_id}: state {tis[task_id]['state']}, try {tis[task_id]['try_number']}, "
            f"trigger {trigger} on triggerer {owners.get(trigger) if trigger else None}"
        )
        for name, lines in outputs.items():
            said = [line[:300] for line in lines if f"task_id='{task_id}'" in line or f"task {task_id}" in line]
            facts += [f"  {name}: {line}" for line in said[-3:]]
        for log in sorted(stack.task_log_folder(DAG_ID, run_id, task_id).glob("*.log")):
            facts += [f"  {log.name}: {line[:300]}" for line in log.read_text(errors="replace").splitlines()[-4:]]
    return "\n".join(facts)


def _all_task_instances(stack: Stack, run_id: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    while True:
        body = stack.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", limit=100, offset=len(found))
        found.update({ti["task_id"]: ti for ti in body["task_instances"]})
        if len(found) >= body["total_entries"] or not body["task_instances"]:
            return found


def test_every_sensor_of_the_run_is_accounted_for(started: Started) -> None:
    assert set(started.tis) == set(SUCCESSES) | set(OTHERS), sorted(set(started.tis) ^ (set(SUCCESSES) | set(OTHERS)))
    assert started.run_state == "failed", started.run_state  # the timeout and the failure fail the run


def test_the_hundred_waits_were_deferred_to_the_triggerer_together(started: Started) -> None:
    assert started.most_deferred >= len(SUCCESSES), f"at most {started.most_deferred} deferred at once"


def test_every_success_ends_with_its_final_state_as_xcom(stack: Stack, started: Started) -> None:
    problems = {}
    for task_id, execution in SUCCESSES.items():
        state = started.tis[task_id]["state"]
        if state != "success":
            problems[task_id] = f"state={state}"
            continue
        found = xcom_problems(
            stack.api.xcom_or_error(DAG_ID, started.run_id, task_id),
            {"flow_name": FLOW_NAME, "execution_name": execution},
            {"Output": {"execution": execution}},
        )
        if found:
            problems[task_id] = "; ".join(found)
    assert not problems, f"{len(problems)} of {len(SUCCESSES)}: {dict(list(problems.items())[:5])}"


def test_no_successful_wait_starts_a_worker_process(started: Started) -> None:
    with_worker = {t: started.workers(t) for t in SUCCESSES if started.workers(t) != (0, 0)}
    with_pid = {t: (started.tis[t].get("pid"), started.tis[t].get("hostname")) for t in SUCCESSES}
    with_pid = {t: v for t, v in with_pid.items() if v[0] or v[1]}
    assert not with_worker, f"(audit-log starts, executor events): {with_worker}"
    assert not with_pid, f"(pid, hostname) set by a task process: {dict(list(with_pid.items())[:5])}"


def test_the_worker_process_counts_come_from_records_that_see_workers(started: Started) -> None:
    """The counts are zero because no worker ran, not because the records are empty: each timeout shows one."""
    assert all(started.worker_starts[(t, 1)] == 1 for t in TIMEOUTS), dict(started.worker_starts)
    assert all(started.executor_events[(t, 1)] == 1 for t in TIMEOUTS), dict(started.executor_events)


@pytest.mark.parametrize("task_id", TIMEOUTS)
def test_a_timed_out_wait_resumes_exactly_one_worker(started: Started, task_id: str) -> None:
    assert started.workers(task_id) == (1, 1), f"(audit-log starts, executor events) = {started.workers(task_id)}"


def test_a_timeout_without_soft_fail_fails_with_airflow_sensor_timeout(stack: Stack, started: Started) -> None:
    ti = started.tis["times_out"]
    log = stack.api.log_or_empty(DAG_ID, started.run_id, "times_out", 1)
    assert ti["state"] == "failed", f"state={ti['state']}; log tail: {log[-800:]}"
    assert "AirflowSensorTimeout" in log, f"log tail: {log[-800:]}"


def test_a_timeout_with_soft_fail_is_skipped(stack: Stack, started: Started) -> None:
    ti = started.tis["times_out_soft"]
    log = stack.api.log_or_empty(DAG_ID, started.run_id, "times_out_soft", 1)
    assert ti["state"] == "skipped", f"state={ti['state']}; log tail: {log[-800:]}"


def test_a_failed_execution_fails_the_task_in_the_triggerer_after_its_retry(stack: Stack, started: Started) -> None:
    states = [(attempt.get("try_number"), attempt.get("state")) for attempt in started.tries]
    ti = started.tis["fails"]
    folder = stack.task_log_folder(DAG_ID, started.run_id, "fails")
    trigger_logs = {p.name: p.read_text(errors="replace") for p in folder.glob("attempt=*.log.trigger.*.log")}
    assert ti["state"] == "failed", f"state={ti['state']}; tries {states}"
    assert int(ti["try_number"]) == 1 + OTHERS["fails"]["retries"], f"tries {states}"
    assert started.workers("fails") == (0, 0), f"(audit-log starts, executor events) = {started.workers('fails')}"
    tries_logged = {name.split(".", 1)[0] for name, text in trigger_logs.items() if "Failed" in text}
    assert tries_logged == {"attempt=1", "attempt=2"}, f"trigger logs naming the vendor status: {sorted(trigger_logs)}"
