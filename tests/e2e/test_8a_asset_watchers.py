"""Asset watchers: DAGs scheduled on finished cloud executions, exactly once per execution, across a SIGKILL.

Two asset-scheduled DAGs (``dags/asset_watchers_dag.py``) are unpaused, which starts their watchers in the
triggerer: one reports the succeeded CloudFlow executions of a flow, the other the failed Batch jobs carrying a
tag. Executions end while the triggerer runs, then every running triggerer is killed with SIGKILL, more end
(one started before the kill) while none runs, and a new triggerer starts and adopts both watchers. A second
triggerer starts beside it (high availability); then the first is killed with SIGKILL, more executions end, and
the second adopts the watchers once the first's heartbeat is stale. Every execution the filters admit is
reported by exactly one asset event naming it, each event makes exactly one DAG run, and the run's task reads
the ids of its events; what the filters refuse, and what ended before the watch started, is never reported.
The module's name places it after the other phases that need a triggerer and before the canaries, which stop
the stack; the DAGs are paused again at the end, so their watchers stop, and one triggerer is left running.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.airflow_config import TRIGGERER_HEALTH_THRESHOLD
from tests.e2e.phase_dags import set_paused, wait_parsed
from tests.e2e.processes import Component
from tests.e2e.run_report import RunReport
from tests.e2e.specs import TERMINAL_RUN_STATES, WATCH_SPEC
from tests.e2e.stack import Stack
from tests.e2e.waiting import PhaseAborted, parse_time, progress, wait_until

FLOW: dict[str, Any] = WATCH_SPEC["cloudflow"]
BATCH: dict[str, Any] = WATCH_SPEC["batch"]
DAG_IDS = [FLOW["dag_id"], BATCH["dag_id"]]
ASSETS = {FLOW["asset"]: FLOW["dag_id"], BATCH["asset"]: BATCH["dag_id"]}
# The outage: long enough for the killed triggerer's heartbeat to go stale, so the new one adopts at once.
OUTAGE = float(TRIGGERER_HEALTH_THRESHOLD + 2)
# Sweeps of each watch after the last expected event before the events are counted: a duplicate would show.
SETTLING_SWEEPS = 3
# When a planned alerting Batch job ends, after its submission (``emulator_control.EMULATOR_PLANS``).
BATCH_END_SECONDS = 3.0
# The execution started just before the kill ends this long after it started, inside the outage.
SPAN_SECONDS = 3.0


def _flow_execution(name: str, end: str, at: float) -> dict[str, Any]:
    return {
        "builder": "cloudflow_execution",
        "args": {
            "flow_name": FLOW["flow_name"],
            "execution_name": name,
            "phases": [[0, "Running"], [at, end]],
            "output": {"execution": name},
        },
    }


@dataclass
class Expected:
    """The executions of the phase, by what the watchers must do with them."""

    reported: dict[str, set[str]] = field(default_factory=lambda: {FLOW["asset"]: set(), BATCH["asset"]: set()})
    refused: dict[str, set[str]] = field(default_factory=lambda: {FLOW["asset"]: set(), BATCH["asset"]: set()})
    before_watch: dict[str, set[str]] = field(default_factory=lambda: {FLOW["asset"]: set(), BATCH["asset"]: set()})
    before_kill: set[str] = field(default_factory=set)
    during_outage: set[str] = field(default_factory=set)
    before_handover: set[str] = field(default_factory=set)
    during_handover: set[str] = field(default_factory=set)


@dataclass
class HandOver:
    """Two triggerers: the one holding the CloudFlow watcher is killed, the other adopts every watcher."""

    holder_job: int
    other_job: int
    owners_before: dict[str, int | None]  # asset name -> triggerer job of its watcher, just before the kill
    owners_after: dict[str, int | None]  # the same once the other triggerer adopted
    killed: float
    adopted: float
    holder_returncode: int | None
    other_alive_at_end: bool


@dataclass
class Watched:
    """What the asset-watcher phase observed."""

    expected: Expected
    events: dict[str, list[dict[str, Any]]]  # asset name -> its asset events
    killed: float
    restarted: float
    killed_returncodes: list[int | None]  # of every triggerer that ran at the kill
    triggerer_alive_in_outage: bool
    span_running_at_kill: bool
    handover: HandOver
    runs: dict[str, dict[str, dict[str, Any]]]  # dag id -> run id -> run
    xcoms: dict[tuple[str, str], Any]  # (dag id, run id) -> the run's XCom

    def per_execution(self, asset: str) -> Counter[str]:
        """How many asset events name each execution id."""
        return Counter(_id(e) for e in self.events[asset])


def _asset_events(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {asset: [] for asset in ASSETS}
    for asset in ASSETS:
        body = stack.api.get("/api/v2/assets/events", name_pattern=asset, limit=100, order_by="timestamp")
        found[asset] = [e for e in body["asset_events"] if e.get("name") == asset]
    return found


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    """The payload the watcher's trigger event carried (the asset event's ``extra["payload"]``)."""
    payload = (event.get("extra") or {}).get("payload")
    return payload if isinstance(payload, dict) else {}


def _id(event: dict[str, Any]) -> str:
    return str(_payload(event).get("id"))


def _ids(events: list[dict[str, Any]]) -> set[str]:
    return {_id(e) for e in events}


def _watcher_owners(stack: Stack) -> dict[str, int | None]:
    """The triggerer job each watched asset's trigger is assigned to (read-only from the metadata DB)."""
    with stack.read_db() as db:
        rows = db.execute(
            "SELECT a.name, t.triggerer_id FROM asset_watcher w JOIN asset a ON a.id = w.asset_id "
            "JOIN trigger t ON t.id = w.trigger_id"
        ).fetchall()
    return {name: triggerer for name, triggerer in rows if name in ASSETS}


def _owned_by(stack: Stack, job: int) -> bool:
    owners = _watcher_owners(stack)
    return set(owners) == set(ASSETS) and set(owners.values()) == {job}


def _new_triggerer_job(stack: Stack, component: Component, known: set[int]) -> int | None:
    """The job id of a triggerer started after the jobs ``known`` were listed, once it heartbeats."""
    if component.popen.poll() is not None:
        raise PhaseAborted(f"a triggerer exited with {component.popen.returncode}")
    new = [int(job["id"]) for job in stack.triggerer_jobs() if int(job["id"]) not in known and job["latest_heartbeat"]]
    return new[0] if len(new) == 1 else None


def _sweeps_after(stack: Stack, since: float) -> dict[str, int]:
    """The watchers' list requests the emulator received after ``since``, per watch."""
    records = stack.control.requests()
    flow = sum(
        1
        for r in records
        if r["action"] == "ListExecutions"
        and list(r.get("key") or [])[:1] == [FLOW["flow_name"]]
        and r["received"] > since
    )
    batch = sum(1 for r in records if r["action"] == "DescribeJobs" and r["received"] > since)
    return {FLOW["asset"]: flow, BATCH["asset"]: batch}


@pytest.fixture(scope="module")
def watched(stack: Stack, connections: dict[str, dict[str, Any]], report: RunReport) -> Watched:
    """Unpause the watched DAGs, end executions before, during and after a triggerer outage, count events."""
    started = time.monotonic()
    emulator = stack.control
    expected = Expected()
    wait_parsed(stack, DAG_IDS, "asset_watchers_dag.py")

    # Executions that ended before the watch started: never reported. The first also makes the flow exist.
    emulator.add_executions([_flow_execution("ended_before_watch", "Succeeded", 0.2)])
    expected.before_watch[FLOW["asset"]].add("ended_before_watch")
    job_id = emulator.submit_batch_job(BATCH["failing_job_name"], BATCH["task_name"], BATCH["tags"])
    expected.before_watch[BATCH["asset"]].add(job_id)
    time.sleep(BATCH_END_SECONDS + 1.0)
    unpaused = time.time()
    set_paused(stack, DAG_IDS, paused=False)
    try:
        return _watch(stack, expected, unpaused, started, report)
    finally:
        set_paused(stack, DAG_IDS, paused=True)


def _submit(stack: Stack, expected: Expected, *, fails: bool, tagged: bool = True) -> str:
    name = BATCH["failing_job_name"] if fails else BATCH["succeeding_job_name"]
    job_id = stack.control.submit_batch_job(name, BATCH["task_name"], BATCH["tags"] if tagged else {"other": "on"})
    (expected.reported if fails and tagged else expected.refused)[BATCH["asset"]].add(job_id)
    return job_id


def _flows(stack: Stack, expected: Expected, plan: dict[str, tuple[str, float]]) -> None:
    stack.control.add_executions([_flow_execution(name, end, at) for name, (end, at) in plan.items()])
    for name, (end, _at) in plan.items():
        (expected.reported if end == "Succeeded" else expected.refused)[FLOW["asset"]].add(name)


def _watch(stack: Stack, expected: Expected, unpaused: float, started: float, report: RunReport) -> Watched:
    def both_polling() -> bool:
        return all(count >= 2 for count in _sweeps_after(stack, unpaused).values())

    wait_until("both watchers to poll the emulator", both_polling, 90, interval=0.5)
    report.timing("watchers: unpause -> both watchers polling", time.time() - unpaused)

    # While the triggerer runs: two successes, a failure; a failed tagged job, a succeeded one, an untagged one.
    _flows(stack, expected, {"ok_a1": ("Succeeded", 2), "ok_a2": ("Succeeded", 4), "failed_a": ("Failed", 3)})
    _submit(stack, expected, fails=True)
    _submit(stack, expected, fails=False)
    _submit(stack, expected, fails=True, tagged=False)
    first_wave = {asset: set(ids) for asset, ids in expected.reported.items()}

    def first_wave_reported() -> bool:
        events = _asset_events(stack)
        return all(first_wave[asset] <= _ids(events[asset]) for asset in ASSETS)

    wait_until("the first executions to be reported", first_wave_reported, 60, interval=0.5)
    for ids in first_wave.values():
        expected.before_kill |= ids
    time.sleep(1.0)

    # One execution still running at the kill, ending during the outage.
    span_registered = time.time()
    _flows(stack, expected, {"ok_span": ("Succeeded", SPAN_SECONDS)})
    # Every triggerer still running (an earlier phase may have left more than one, or not the newest).
    running = [c for c in stack.processes.components if c.name == "triggerer" and stack.processes.alive(c)]
    if not running:
        raise PhaseAborted("no triggerer runs: nothing to kill")
    for component in running:
        stack.processes.kill(component, signal.SIGKILL)
    killed = time.time()
    alive_in_outage = any(stack.processes.alive(c) for c in stack.processes.components if c.name == "triggerer")
    progress(f"triggerer killed; {OUTAGE:.0f}s without a triggerer while executions end")
    _flows(stack, expected, {"ok_b1": ("Succeeded", 2), "failed_b": ("Failed", 2)})
    outage_jobs = {_submit(stack, expected, fails=True), _submit(stack, expected, fails=False)}
    expected.during_outage = {"ok_span", "ok_b1", "failed_b"} | outage_jobs
    while time.time() < killed + OUTAGE:
        time.sleep(0.5)
    known = {int(job["id"]) for job in stack.triggerer_jobs()}
    first = stack.start_triggerer()
    restarted = first.started
    report.timing("watchers: triggerer outage (kill -> new triggerer started)", restarted - killed)
    first_job = wait_until("the new triggerer to heartbeat", lambda: _new_triggerer_job(stack, first, known), 60)
    # The second triggerer starts once the first holds both watchers: SQLite has no row locks, so two
    # triggerers starting together may both claim a trigger for a moment (a database with SKIP LOCKED cannot).
    wait_until("the new triggerer to adopt both watchers", lambda: _owned_by(stack, first_job), 60)
    second = stack.start_triggerer()
    second_job = wait_until(
        "the second triggerer to heartbeat", lambda: _new_triggerer_job(stack, second, known | {first_job}), 60
    )
    triggerers = {first_job: first, second_job: second}

    def all_reported() -> float | None:
        events = _asset_events(stack)
        if not all(expected.reported[asset] <= _ids(events[asset]) for asset in ASSETS):
            return None
        return time.time()

    def settled(since: float) -> None:
        wait_until(
            f"{SETTLING_SWEEPS} more sweeps of each watch",
            lambda: all(count >= SETTLING_SWEEPS for count in _sweeps_after(stack, since).values()),
            60,
        )

    reported_at = wait_until("every admitted execution to be reported", all_reported, 120, interval=0.5)
    report.timing("watchers: new triggerer started -> every outage execution reported", reported_at - restarted)
    settled(reported_at)

    # The hand-over: the triggerer holding the CloudFlow watcher (the first, unless a late heartbeat under load
    # let the second adopt it) dies while the other runs; executions end meanwhile.
    expected.before_handover = {i for ids in expected.reported.values() for i in ids}
    owners_before = _watcher_owners(stack)
    holder_job = owners_before.get(FLOW["asset"])
    if holder_job is None or holder_job not in triggerers:
        raise PhaseAborted(f"the CloudFlow watcher is held by triggerer job {holder_job}, not {sorted(triggerers)}")
    other_job = next(job for job in triggerers if job != holder_job)
    holder, other = triggerers[holder_job], triggerers[other_job]
    stack.processes.kill(holder, signal.SIGKILL)
    handed = time.time()
    progress(f"triggerer job {holder_job} killed; job {other_job} should adopt the watchers")
    _flows(stack, expected, {"ok_c1": ("Succeeded", 2)})
    expected.during_handover = {"ok_c1", _submit(stack, expected, fails=True)}
    adopted = wait_until(
        "the other triggerer to adopt both watchers",
        lambda: time.time() if _owned_by(stack, other_job) else None,
        TRIGGERER_HEALTH_THRESHOLD + 60,
        interval=0.5,
    )
    report.timing("watchers: holder killed -> the other triggerer adopted both watchers", adopted - handed)
    owners_after = _watcher_owners(stack)
    reported_at = wait_until("every hand-over execution to be reported", all_reported, 120, interval=0.5)
    report.timing("watchers: holder killed -> every hand-over execution reported", reported_at - handed)
    settled(reported_at)
    events: dict[str, list[dict[str, Any]]] = {}

    def runs_finished() -> dict[str, dict[str, dict[str, Any]]] | None:
        # An event names the run it made once the scheduler has made it: read the events again each time.
        events.update(_asset_events(stack))
        runs = {
            dag_id: {r["dag_run_id"]: r for r in stack.api.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]}
            for dag_id in DAG_IDS
        }
        if any(not e["created_dagruns"] for asset in ASSETS for e in events[asset]):
            return None
        made = {(r["dag_id"], r["run_id"]) for asset in ASSETS for e in events[asset] for r in e["created_dagruns"]}
        listed = {(dag_id, run_id) for dag_id, by_id in runs.items() for run_id in by_id}
        if not made <= listed:
            return None
        finished = all(run["state"] in TERMINAL_RUN_STATES for by_id in runs.values() for run in by_id.values())
        return runs if finished else None

    runs = wait_until("every triggered run to finish", runs_finished, 120, interval=1.0)
    handover = HandOver(
        holder_job=holder_job,
        other_job=other_job,
        owners_before=owners_before,
        owners_after=owners_after,
        killed=handed,
        adopted=adopted,
        holder_returncode=holder.popen.returncode,
        other_alive_at_end=stack.processes.alive(other),
    )
    xcoms = {
        (dag_id, run_id): stack.api.xcom_or_error(dag_id, run_id, "reported_ids")
        for dag_id, by_id in runs.items()
        for run_id in by_id
    }
    report.timing("watchers: phase", time.monotonic() - started)
    watched = Watched(
        expected=expected,
        events=events,
        killed=killed,
        restarted=restarted,
        killed_returncodes=[c.popen.returncode for c in running],
        triggerer_alive_in_outage=alive_in_outage,
        span_running_at_kill=killed < span_registered + SPAN_SECONDS,
        handover=handover,
        runs=runs,
        xcoms=xcoms,
    )
    for asset in ASSETS:
        counts = watched.per_execution(asset)
        admitted = sorted(expected.reported[asset])
        report.note(
            f"asset watcher {asset}: events per execution "
            + ", ".join(f"{execution}={counts.get(execution, 0)}" for execution in admitted)
            + f"; refused by the filters: {sum(counts.get(i, 0) for i in expected.refused[asset])} events for "
            f"{len(expected.refused[asset])} executions; "
            f"ended before the watch started: {sum(counts.get(i, 0) for i in expected.before_watch[asset])} events for "
            f"{len(expected.before_watch[asset])} executions; {len(runs[ASSETS[asset]])} DAG runs"
        )
    return watched


def _admitted() -> list[tuple[str, str]]:
    return [(FLOW["asset"], "cloudflow"), (BATCH["asset"], "batch")]


@pytest.mark.parametrize(("asset", "kind"), _admitted())
def test_every_admitted_finished_execution_is_exactly_one_asset_event(watched: Watched, asset: str, kind: str) -> None:
    counts = watched.per_execution(asset)
    wrong = {i: counts.get(i, 0) for i in watched.expected.reported[asset] if counts.get(i, 0) != 1}
    assert watched.expected.reported[asset], "no execution the filters admit"
    assert not wrong, f"{kind}: events per execution that should be 1: {wrong}; all: {dict(counts)}"


@pytest.mark.parametrize(("asset", "kind"), _admitted())
def test_no_event_names_an_execution_the_phase_did_not_end(watched: Watched, asset: str, kind: str) -> None:
    known = {*watched.expected.reported[asset], *watched.expected.refused[asset], *watched.expected.before_watch[asset]}
    unexpected = {i: n for i, n in watched.per_execution(asset).items() if i not in known}
    assert not unexpected, f"{kind}: {unexpected}"


@pytest.mark.parametrize(("asset", "kind"), _admitted())
def test_an_execution_of_a_filtered_out_status_or_tag_triggers_nothing(watched: Watched, asset: str, kind: str) -> None:
    counts = watched.per_execution(asset)
    refused = watched.expected.refused[asset]
    assert refused, "no execution the filters refuse"
    assert not {i: counts[i] for i in refused if counts.get(i)}, f"{kind}: refused executions reported"


@pytest.mark.parametrize(("asset", "kind"), _admitted())
def test_an_execution_that_ended_before_the_watch_started_is_not_reported(
    watched: Watched, asset: str, kind: str
) -> None:
    counts = watched.per_execution(asset)
    before = watched.expected.before_watch[asset]
    assert before, "no execution ended before the watch"
    assert not any(counts.get(i) for i in before), f"{kind}: {dict(counts)}"


def test_the_cloudflow_payload_names_the_execution_its_status_and_output(watched: Watched) -> None:
    problems = []
    for event in watched.events[FLOW["asset"]]:
        payload = _payload(event)
        want = {
            "id": payload.get("id"),
            "name": payload.get("id"),
            "flow_name": FLOW["flow_name"],
            "status": "SUCCEEDED",
            "vendor_status": "Succeeded",
            "output": {"execution": payload.get("id")},
        }
        wrong = {k: payload.get(k) for k, v in want.items() if payload.get(k) != v}
        if wrong or not isinstance(payload.get("finished_at"), (int, float)) or not payload.get("watch"):
            problems.append(f"{payload.get('id')}: {wrong}; payload {json.dumps(payload)[:400]}")
    assert watched.events[FLOW["asset"]], "no event"
    assert not problems, "; ".join(problems)


def test_the_batch_payload_names_the_failed_job_and_its_vendor_state(watched: Watched) -> None:
    problems = []
    for event in watched.events[BATCH["asset"]]:
        payload = _payload(event)
        failed = payload.get("status") == "FAILED" and payload.get("vendor_status") == "FAILED"
        if not failed or not isinstance(payload.get("finished_at"), (int, float)) or not payload.get("watch"):
            problems.append(json.dumps(payload)[:400])
    assert watched.events[BATCH["asset"]], "no event"
    assert not problems, "; ".join(problems)


def test_every_running_triggerer_dies_by_sigkill_and_none_runs_during_the_outage(watched: Watched) -> None:
    assert watched.killed_returncodes, "no triggerer was running"
    assert all(code == -signal.SIGKILL for code in watched.killed_returncodes), watched.killed_returncodes
    assert not watched.triggerer_alive_in_outage, "a triggerer process still runs after the kill"


def test_nothing_is_reported_while_no_triggerer_runs(watched: Watched) -> None:
    during = [
        (asset, _id(e), e["timestamp"])
        for asset in ASSETS
        for e in watched.events[asset]
        if watched.killed + 1.0 < (parse_time(e["timestamp"]) or 0) <= watched.restarted
    ]
    assert not during, during


def test_executions_ending_while_no_triggerer_runs_are_reported_once_after_the_restart(watched: Watched) -> None:
    late: dict[str, list[float]] = {}
    for asset in ASSETS:
        for event in watched.events[asset]:
            execution = _id(event)
            if execution in watched.expected.during_outage:
                late.setdefault(execution, []).append((parse_time(event["timestamp"]) or 0) - watched.restarted)
    admitted = {i for ids in watched.expected.reported.values() for i in ids} & watched.expected.during_outage
    wrong = {i: late.get(i, []) for i in admitted if len(late.get(i, [])) != 1 or late[i][0] <= 0}
    assert admitted >= {"ok_span", "ok_b1"}, sorted(admitted)
    assert not wrong, f"seconds after the restart of each event: {wrong}"


@pytest.mark.parametrize("kill", ["outage", "hand-over"])
def test_no_execution_reported_before_a_kill_is_reported_again_after_it(watched: Watched, kill: str) -> None:
    killed, before = (
        (watched.killed, watched.expected.before_kill)
        if kill == "outage"
        else (watched.handover.killed, watched.expected.before_handover)
    )
    again = {
        _id(e) for asset in ASSETS for e in watched.events[asset] if (parse_time(e["timestamp"]) or 0) > killed
    } & before
    assert before, f"nothing was reported before the {kill} kill"
    assert not again, sorted(str(i) for i in again)


def test_the_watchers_of_a_killed_triggerer_are_adopted_by_the_other_running_triggerer(watched: Watched) -> None:
    handover = watched.handover
    assert handover.holder_job != handover.other_job
    assert set(handover.owners_before) == set(ASSETS), handover  # both watched until the kill
    assert handover.owners_after == dict.fromkeys(ASSETS, handover.other_job), handover
    assert handover.holder_returncode == -signal.SIGKILL, handover
    assert handover.other_alive_at_end, "the adopting triggerer stopped before the end of the phase"


def test_executions_ending_during_the_hand_over_are_reported_once_after_the_kill(watched: Watched) -> None:
    during = watched.expected.during_handover
    after: dict[str, list[float]] = {i: [] for i in during}
    for asset in ASSETS:
        for event in watched.events[asset]:
            if _id(event) in during:
                after[_id(event)].append((parse_time(event["timestamp"]) or 0) - watched.handover.killed)
    assert len(during) == 2, sorted(during)
    assert all(len(seconds) == 1 and seconds[0] > 0 for seconds in after.values()), after


@pytest.mark.parametrize("asset", list(ASSETS))
def test_every_asset_event_makes_exactly_one_run_of_its_dag(watched: Watched, asset: str) -> None:
    wrong = {
        _id(e): [(r["dag_id"], r["run_id"]) for r in e["created_dagruns"]]
        for e in watched.events[asset]
        if [r["dag_id"] for r in e["created_dagruns"]] != [ASSETS[asset]]
    }
    assert not wrong, wrong


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_triggered_run_succeeds_and_its_task_reads_the_ids_its_events_name(watched: Watched, dag_id: str) -> None:
    asset = next(a for a, d in ASSETS.items() if d == dag_id)
    by_run: dict[str, set[str]] = {}
    for event in watched.events[asset]:
        for ref in event["created_dagruns"]:
            by_run.setdefault(ref["run_id"], set()).add(_id(event))
    runs = watched.runs[dag_id]
    problems = [
        f"{run_id}: state={run['state']}, read {watched.xcoms[(dag_id, run_id)]!r}, events name "
        f"{sorted(by_run.get(run_id, set()))}"
        for run_id, run in runs.items()
        if run["state"] != "success" or watched.xcoms[(dag_id, run_id)] != sorted(by_run.get(run_id, set()))
    ]
    assert runs, "no run"
    assert not problems, "; ".join(problems)


def test_the_execution_started_before_the_kill_was_still_running_when_the_triggerer_died(watched: Watched) -> None:
    assert watched.span_running_at_kill, "ok_span had ended before the kill"
