"""The fault matrix: every service under every fault, through the trigger and through the poke path.

Each row of ``CASES`` is one fault scripted in the emulator (real HTTP on 127.0.0.1) for all five services at
once, run concurrently so the matrix stays fast:

- ``trigger``: a ``CloudExecutionTrigger`` rebuilt from its serialized kwargs (as a triggerer does), run with
  ``async for event in trigger.run()``; a ``memory`` hand-back (DWS) re-defers from the serialized kwargs.
- ``poke``: the sensor in ``mode="poke"`` run by its own ``execute()`` (the provider's poke loop), one thread
  per service. The same loop through Airflow's task runner (``dag.test()``: soft_fail, never_fail,
  exponential backoff, reschedule) is checked at the end of this module.

Asserted per service: the outcome (the timeout when an outage outlasts the deadline, success after a short
one, an error at once for auth and not-found), the number of requests the emulator saw (bounded; an auth
failure is never retried: exactly one), and the overshoot past the deadline (under ``MAX_OVERSHOOT``).
``CLOUDFLOWS_FAULT_MATRIX_TABLE=path`` writes the measured table there (markdown).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.utils.state import TaskInstanceState

from airflow_provider_cloudflows.compat import AirflowException, AirflowSensorTimeout
from airflow_provider_cloudflows.errors import CloudExecutionFailed
from airflow_provider_cloudflows.sensors import (
    AlibabaCloudFlowExecutionSensor,
    HuaweiDwsClusterTaskSensor,
    TencentBatchTaskSensor,
    TencentCynosdbFlowSensor,
    TencentEmrFlowSensor,
)
from airflow_provider_cloudflows.sensors.base import CloudExecutionSensor
from airflow_provider_cloudflows.transport import client as client_module
from airflow_provider_cloudflows.transport import throttle as throttle_module
from airflow_provider_cloudflows.transport.throttle import RateLimiter
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from cloudflows_emulator import (
    BatchPhase,
    CloudEmulator,
    EmrPhase,
    Execution,
    batch_task,
    cloudflow_execution,
    cynosdb_flow,
    dws_task,
    emr_flow,
)
from cloudflows_emulator.server import EmulatorServer
from tests.dags import sensor_dags
from tests.helpers import dag_test, use_connections

POLL = 0.2
# An outage that outlasts the wait: a short deadline. A short outage or an immediate error: room to spare
# (DWS's throttle-short takes Huawei's 3 s back-off plus the task's 1.75 s run: about 4.9 s).
STORM = 2.0
ROOMY = 8.0
# The target: the outcome within a second of the deadline.
MAX_OVERSHOOT = 1.0
# Errors that must come "at once": not retried (the request count shows it) and not waited out until the
# deadline (ROOMY). Half of it keeps the margin on a machine running twice as many processes as cores.
AT_ONCE = ROOMY / 2
CLUSTER = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"


@dataclass(frozen=True)
class Service:
    """One awaited API: how to script an execution that succeeds shortly, and the ids of one that is absent."""

    key: str
    spec: str
    emulated: str
    conn_id: str
    sensor: type[CloudExecutionSensor]
    identifiers: dict[str, Any]
    missing: dict[str, Any]
    succeeding: Callable[[], Execution]


SERVICES = (
    Service(
        "emr",
        "tencent_emr_flow",
        "emr",
        "tencentcloud_default",
        TencentEmrFlowSensor,
        {"instance_id": "emr-fm", "flow_id": "7"},
        {"instance_id": "emr-absent", "flow_id": "7"},
        lambda: emr_flow("emr-fm", flow_id=7, phases=[EmrPhase(at=0, status=1, stage=1), EmrPhase(at=0.3, status=2)]),
    ),
    Service(
        "cynosdb",
        "tencent_cynosdb_flow",
        "cynosdb",
        "tencentcloud_default",
        TencentCynosdbFlowSensor,
        {"flow_id": "77"},
        {"flow_id": "78"},
        lambda: cynosdb_flow(77, statuses=[(0, 2), (0.3, 0)]),
    ),
    Service(
        "batch",
        "tencent_batch_task",
        "batch",
        "tencentcloud_default",
        TencentBatchTaskSensor,
        {"job_id": "job-fm000001", "task_name": "A"},
        {"job_id": "job-fm000002", "task_name": "A"},
        lambda: batch_task(
            "job-fm000001", "A", phases=[BatchPhase(at=0, state="RUNNING"), BatchPhase(at=0.3, state="SUCCEED")]
        ),
    ),
    Service(
        "cloudflow",
        "alibaba_cloudflow_execution",
        "fnf",
        "alibabacloud_default",
        AlibabaCloudFlowExecutionSensor,
        {"flow_name": "fm_flow", "execution_name": "fm_run"},
        {"flow_name": "fm_flow", "execution_name": "fm_absent"},
        lambda: cloudflow_execution("fm_flow", "fm_run", phases=[(0, "Running"), (0.3, "Succeeded")]),
    ),
    Service(
        "dws",
        "huawei_dws_cluster_task",
        "dws",
        "huaweicloud_default",
        HuaweiDwsClusterTaskSensor,
        {"cluster_id": CLUSTER, "action_name": "SNAPSHOTTING"},
        {"cluster_id": "0b3e5c1a-6d7f-4a8b-9c0d-1e2f3a4b5c6d", "action_name": "SNAPSHOTTING"},
        # Running long enough to be seen after a short outage: a DWS task that ends unseen is never a success.
        # Its clock starts at the first request that reaches the handler (a reset cuts a real answer), so
        # three resets and their back-off come out of this time: 1.0 s was too short for a loaded CI machine.
        lambda: dws_task(CLUSTER, phases=[(0, "RUNNING", 20)], end_at=1.75),
    ),
)


@dataclass(frozen=True)
class Case:
    """One fault, scripted for every service alike.

    ``requests`` bounds what the emulator sees per service (``per_service`` overrides it where a vendor's
    rule makes the count differ, e.g. Huawei's 3 s back-off on throttling or DWS's two views per check).
    """

    id: str
    outcome: str
    timeout: float
    requests: tuple[int, int]
    fault: dict[str, Any] | None = None
    wrong_secret: bool = False
    missing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    per_service: dict[str, tuple[int, int]] = field(default_factory=dict)
    per_outcome: dict[str, str] = field(default_factory=dict)
    # Fault arguments overridden for one service (e.g. a shorter outage where each retry waits 3 s).
    per_service_fault: dict[str, dict[str, Any]] = field(default_factory=dict)

    def bounds(self, service: Service) -> tuple[int, int]:
        return self.per_service.get(service.key, self.requests)

    def expected(self, service: Service) -> str:
        return self.per_outcome.get(service.key, self.outcome)

    def fault_for(self, service: Service) -> dict[str, Any] | None:
        if self.fault is None:
            return None
        return {**self.fault, **self.per_service_fault.get(service.key, {})}


def storm(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"kind": kind, "count": None, **kwargs}


def short(kind: str, count: int = 3, **kwargs: Any) -> dict[str, Any]:
    return {"kind": kind, "count": count, **kwargs}


# A storm's request count is bounded by the back-off: per-call retries (initial back-off 0.05 s, doubling)
# and between failed polls (from the poll interval, doubling). A few dozen in 2 s at most.
STORM_REQUESTS = (2, 40)
# Huawei throttling is retried after 3 s (APIG sends no hint), longer than the whole 2 s deadline.
HUAWEI_THROTTLE = {"dws": (1, 2)}
# Batch DescribeTask (3/s) cuts its rate on a throttled answer (AIMD in transport/throttle.py) on top of the
# retry back-off; at so low a rate that leaves fewer requests in the case's time.
BATCH_THROTTLED = {"batch": (1, 12)}
# A DWS check is one request while the task runs (1.75 s, polled every 0.2 s), two or three when it has ended.
DWS_SUCCESS = {"dws": (2, 20)}

CASES = (
    # Huawei throttling is retried after 3 s: one throttled answer is its short outage.
    Case(
        "throttle-short",
        "success",
        ROOMY,
        (4, 12),
        short("throttle"),
        per_service={**DWS_SUCCESS, **BATCH_THROTTLED},
        per_service_fault={"dws": {"count": 1}, "batch": {"count": 1}},
    ),
    Case(
        "throttle-storm",
        "timeout",
        STORM,
        STORM_REQUESTS,
        storm("throttle"),
        per_service={**HUAWEI_THROTTLE, **BATCH_THROTTLED},
    ),
    Case("5xx-short", "success", ROOMY, (4, 12), short("server_error"), per_service=DWS_SUCCESS),
    Case("5xx-storm", "timeout", STORM, STORM_REQUESTS, storm("server_error")),
    # A poke with a large max_attempts under a 5xx storm must still end (20 is the hook's cap).
    Case("5xx-storm-20-attempts", "timeout", STORM, STORM_REQUESTS, storm("server_error"), extra={"max_attempts": 20}),
    Case("reset-short", "success", ROOMY, (4, 12), short("reset"), per_service=DWS_SUCCESS),
    Case("reset-storm", "timeout", STORM, STORM_REQUESTS, storm("reset")),
    Case("malformed-short", "success", ROOMY, (4, 12), short("malformed"), per_service=DWS_SUCCESS),
    Case("malformed-storm", "timeout", STORM, STORM_REQUESTS, storm("malformed")),
    # A body that keeps coming (no read timeout ever fires) and a server that never answers: only the wait's
    # deadline can end the request, so there is exactly one.
    Case("trickle", "timeout", STORM, (1, 1), storm("trickle", interval=0.25)),
    Case("hang", "timeout", STORM, (1, 1), storm("hang")),
    Case("auth", "error", ROOMY, (1, 1), wrong_secret=True),
    Case("not-found", "error", ROOMY, (1, 1), missing=True),
    # An hour off: every vendor's own "signature expired" auth error, never retried.
    Case("clock-skew", "error", ROOMY, (1, 1), storm("clock_skew", skew=3600)),
    # Alibaba re-signs every attempt with a fresh nonce; TC3 and SDK-HMAC carry no nonce (answered normally).
    Case(
        "nonce-reuse",
        "success",
        ROOMY,
        (1, 8),
        short("nonce_reuse", count=1),
        per_service={"cloudflow": (2, 8), **DWS_SUCCESS},
    ),
)


@dataclass
class Result:
    """One service's run under one case."""

    outcome: str
    elapsed: float
    overshoot: float
    requests: int
    detail: str


RESULTS: dict[tuple[str, str, str], Result] = {}
_RESULTS_LOCK = threading.Lock()


@pytest.fixture(scope="module", autouse=True)
def _table() -> Any:
    yield
    path = os.environ.get("CLOUDFLOWS_FAULT_MATRIX_TABLE")
    if path and RESULTS:
        lines = [
            "| case | mode | " + " | ".join(s.key for s in SERVICES) + " |",
            "|---|---|" + "---|" * len(SERVICES),
        ]
        for case in CASES:
            for mode in ("trigger", "poke"):
                cells = []
                for service in SERVICES:
                    result = RESULTS.get((case.id, mode, service.key))
                    if result is None:
                        cells.append("")
                        continue
                    timing = f"{result.overshoot:+.2f}s" if result.outcome == "timeout" else f"in {result.elapsed:.2f}s"
                    cells.append(f"{result.outcome} {timing}, {result.requests} req")
                lines.append(f"| {case.id} | {mode} | " + " | ".join(cells) + " |")
        with open(path, "w") as table:
            table.write("\n".join(lines) + "\n")


@pytest.fixture
def emulator(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> CloudEmulator:
    return cloud_emulator


def _arrange(
    case: Case, emulator: CloudEmulator, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> list[Service]:
    use_connections(monkeypatch, server, secret="not-the-secret" if case.wrong_secret else None, **case.extra)
    # A fresh client-side rate limiter per case: what one case taught it (a rate lowered by throttled
    # answers) must not slow the next. It starts at the documented rate: the slow start that protects a
    # restarting HA pair (triggers/test_scale.py) would leave a 5 s Batch case (3/s) only a few requests.
    monkeypatch.setattr(throttle_module, "START_FRACTION", 1.0)
    monkeypatch.setattr(client_module, "LIMITER", RateLimiter())
    for service in SERVICES:
        emulator.add_execution(service.succeeding())
        fault = case.fault_for(service)
        if fault is not None:
            emulator.inject(service=service.emulated, **fault)
    return list(SERVICES)


def _record(case: Case, mode: str, service: Service, emulator: CloudEmulator, result: Result) -> None:
    with _RESULTS_LOCK:
        RESULTS[(case.id, mode, service.key)] = result


def _check(case: Case, mode: str, emulator: CloudEmulator, results: dict[str, Result]) -> None:
    problems = []
    for service in SERVICES:
        result = results[service.key]
        low, high = case.bounds(service)
        expected = case.expected(service)
        where = f"{case.id}/{mode}/{service.key}"
        if result.outcome != expected:
            problems.append(f"{where}: {result.outcome}, expected {expected}: {result.detail}")
        if not low <= result.requests <= high:
            problems.append(f"{where}: {result.requests} requests, expected {low}..{high}")
        if expected == "timeout" and not -0.05 <= result.overshoot < MAX_OVERSHOOT:
            problems.append(f"{where}: ended {result.overshoot:+.2f}s from the deadline")
        if expected == "error" and result.elapsed >= AT_ONCE:
            problems.append(f"{where}: an error after {result.elapsed:.2f}s, not at once")
    assert not problems, "\n".join(problems)


# --- the trigger path -------------------------------------------------------------------------------------


async def _run_trigger(case: Case, service: Service) -> tuple[dict[str, Any], float, float]:
    deadline = time.time() + case.timeout
    trigger = CloudExecutionTrigger(
        service=service.spec,
        identifiers=service.missing if case.missing else service.identifiers,
        conn_id=service.conn_id,
        deadline=deadline,
        timeout=case.timeout,
        poll_interval=POLL,
    )
    started = time.time()
    kwargs = trigger.serialize()[1]
    while True:
        # As a triggerer does: a trigger built from the stored kwargs, nothing else.
        events = [event.payload async for event in CloudExecutionTrigger(**kwargs).run()]
        assert len(events) == 1, events
        event: dict[str, Any] = events[0]
        if event["outcome"] != "memory":
            return event, time.time() - started, time.time() - deadline
        kwargs = {**kwargs, "options": {"memory": event["memory"]}}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_trigger(
    case: Case,
    emulator: CloudEmulator,
    cloud_emulator_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = _arrange(case, emulator, cloud_emulator_server, monkeypatch)
    runs = await asyncio.gather(*(_run_trigger(case, service) for service in services))
    results = {}
    for service, (event, elapsed, overshoot) in zip(services, runs, strict=True):
        result = Result(
            event["outcome"], elapsed, overshoot, emulator.count(service.emulated), str(event.get("message"))[:300]
        )
        results[service.key] = result
        _record(case, "trigger", service, emulator, result)
    _check(case, "trigger", emulator, results)


# --- the poke path ----------------------------------------------------------------------------------------


def _run_poke(case: Case, service: Service) -> tuple[str, float, float, str]:
    sensor = service.sensor(
        task_id=f"fm_{service.key}",
        mode="poke",
        deferrable=False,
        poke_interval=POLL,
        timeout=case.timeout,
        **(service.missing if case.missing else service.identifiers),
    )
    started = time.time()
    try:
        sensor.execute({})  # type: ignore[arg-type]
        outcome, detail = "success", ""
    except AirflowSensorTimeout as exc:
        outcome, detail = "timeout", str(exc)
    except CloudExecutionFailed as exc:
        outcome, detail = "failure", str(exc)
    except AirflowException as exc:
        outcome, detail = "error", str(exc)
    ended = time.time()
    return outcome, ended - started, ended - (started + case.timeout), detail[:300]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_poke(
    case: Case,
    emulator: CloudEmulator,
    cloud_emulator_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = _arrange(case, emulator, cloud_emulator_server, monkeypatch)
    with ThreadPoolExecutor(len(services)) as pool:
        runs = list(pool.map(lambda service: _run_poke(case, service), services))
    results = {}
    for service, (outcome, elapsed, overshoot, detail) in zip(services, runs, strict=True):
        result = Result(outcome, elapsed, overshoot, emulator.count(service.emulated), detail)
        results[service.key] = result
        _record(case, "poke", service, emulator, result)
    _check(case, "poke", emulator, results)


# --- the poke-mode deadline through Airflow (dag.test()) ----------------------------------------------------


def _running(emulator: CloudEmulator, *later: EmrPhase) -> None:
    emulator.add_execution(emr_flow("emr-123", flow_id=42, phases=[EmrPhase(at=0, status=1, stage=1), *later]))


@dataclass(frozen=True)
class Ran:
    """How long a sensor ran, bounded from both sides: its timeout counts from a moment between the task's
    start (``ti.start_date``, which also counts the task runner's start-up) and its first request's arrival
    (which a loaded machine delays), so it ran between ``at_least`` and ``at_most`` seconds."""

    at_most: float
    at_least: float

    def ended_at_timeout(self, timeout: float) -> bool:
        """Not before ``timeout``, and within ``MAX_OVERSHOOT`` of it."""
        return self.at_most >= timeout - 0.05 and self.at_least < timeout + MAX_OVERSHOOT


def _dag_run(dag_id: str, emulator: CloudEmulator) -> tuple[Any, Ran]:
    """The task instance and how long the sensor ran, to the end Airflow recorded."""
    run = dag_test(getattr(sensor_dags, dag_id), run_conf={"flow": "42"})
    ti = run.get_task_instance("wait")
    first = min(record.received or record.time for record in emulator.requests)
    end = ti.end_date.timestamp()
    return ti, Ran(at_most=end - ti.start_date.timestamp(), at_least=end - first)


@pytest.mark.parametrize(
    ("dag_id", "state"),
    [
        # poke_interval 5 > timeout 2: Airflow's loop would sleep 5 s and time out at about 5 s.
        ("sensor_poke_timeout", TaskInstanceState.FAILED),
        ("sensor_poke_soft_fail", TaskInstanceState.SKIPPED),
        # exponential_backoff: Airflow's own interval (at least 1 s), still cut at the deadline.
        ("sensor_poke_backoff", TaskInstanceState.FAILED),
    ],
)
def test_poke_mode_ends_at_the_timeout_through_airflow(
    airflow_db: None,
    emulator: CloudEmulator,
    cloud_emulator_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dag_id: str,
    state: TaskInstanceState,
) -> None:
    use_connections(monkeypatch, cloud_emulator_server)
    _running(emulator)
    ti, ran = _dag_run(dag_id, emulator)
    text = capsys.readouterr().out
    assert ti.state == state, text
    timeout = sensor_dags.DEADLINE_VARIANTS[dag_id]["timeout"]
    assert ran.ended_at_timeout(timeout), ran
    if state == TaskInstanceState.FAILED:
        assert "AirflowSensorTimeout" in text
        assert "last seen RUNNING (FlowTotalStatus=1)" in text


def test_poke_mode_outage_ends_at_the_timeout_through_airflow(
    airflow_db: None,
    emulator: CloudEmulator,
    cloud_emulator_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A server that never answers: the one request is cut at the deadline; the timeout names the outage.
    use_connections(monkeypatch, cloud_emulator_server, max_attempts=20)
    _running(emulator)
    emulator.inject("hang", service="emr", count=None)
    ti, ran = _dag_run("sensor_poke_timeout", emulator)
    text = capsys.readouterr().out
    assert ti.state == TaskInstanceState.FAILED, text
    assert ran.ended_at_timeout(2), ran
    assert "the last 1 checks failed" in text
    assert emulator.count("emr") == 1


def test_reschedule_mode_caps_each_check_by_the_timeout(
    airflow_db: None,
    emulator: CloudEmulator,
    cloud_emulator_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Reschedule stays on Airflow's machinery; a check that hangs is still cut where the timeout ends.
    use_connections(monkeypatch, cloud_emulator_server)
    _running(emulator)
    emulator.inject("hang", service="emr", count=None)
    ti, ran = _dag_run("sensor_reschedule_timeout", emulator)
    text = capsys.readouterr().out
    assert ti.state == TaskInstanceState.FAILED, text
    assert "AirflowSensorTimeout" in text
    # From the hung check's request to the outcome, so dag.test()'s start-up (which a busy machine stretches)
    # is not counted: an uncut check would hang for the 30 s read timeout.
    assert ran.at_least < 2 + 8.0, ran
    assert emulator.count("emr") == 1


def test_poke_mode_never_fail_skips_a_failed_execution(
    airflow_db: None,
    emulator: CloudEmulator,
    cloud_emulator_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_connections(monkeypatch, cloud_emulator_server)
    _running(emulator, EmrPhase(at=0.3, status=-1, stage=2, failed_reason="disk full"))
    ti, _ = _dag_run("sensor_poke_never_fail", emulator)
    assert ti.state == TaskInstanceState.SKIPPED
