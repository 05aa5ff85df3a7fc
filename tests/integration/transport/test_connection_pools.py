"""Connection pools under load: long polls never starve short polls, a full pool is never an error.

Real HTTP against the emulator. New TCP connections are counted at the socket layer httpx uses
(``anyio.connect_tcp``); long polls in flight are counted where the emulator holds them (``wait_for``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest

from airflow_provider_cloudflows.limits import QUOTAS, Quota
from airflow_provider_cloudflows.services.driver import arun_check
from airflow_provider_cloudflows.transport import pool, throttle
from airflow_provider_cloudflows.transport.alibaba import AlibabaApi
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from airflow_provider_cloudflows.waiting import Wait
from cloudflows_emulator import (
    DEFAULT_ALIBABA_CREDENTIALS,
    BatchPhase,
    CloudEmulator,
    EmrPhase,
    batch_task,
    cloudflow_execution,
    cynosdb_flow,
    emr_flow,
)
from cloudflows_emulator.server import EmulatorServer
from tests.helpers import run_trigger

CLOUDFLOW = "alibaba_cloudflow_execution"
# More long polls than the old shared pool's 100 connections.
LONG_POLLS = 150


@pytest.fixture(autouse=True)
def _unlimited_cloudflow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pooling is measured here, not CloudFlow's documented bucket (50 at 5/s): the client lifts it too.
    monkeypatch.setitem(QUOTAS["alibabacloud"], "fnf:DescribeExecution", Quota(1_000_000))


pytestmark = pytest.mark.usefixtures("connected_emulator")


class Connects:
    """Counts the TCP connections httpx opens (its network backend calls ``anyio.connect_tcp``)."""

    def __init__(self) -> None:
        self.opened = 0
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Connects:
        original = anyio.connect_tcp

        async def counting(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.opened += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(anyio, "connect_tcp", counting)
        return self


class HeldLongPolls:
    """Long polls the emulator holds right now, and the most it ever held (wraps its ``wait_for``)."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.low_since_mark: int | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch, emulator: CloudEmulator) -> HeldLongPolls:
        original: Callable[..., Awaitable[Any]] = emulator.wait_for

        async def held(*args: Any, **kwargs: Any) -> Any:
            # The emulator's handlers run on its server thread's single event loop: no lock needed.
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                return await original(*args, **kwargs)
            finally:
                self.now -= 1
                if self.low_since_mark is not None:
                    self.low_since_mark = min(self.low_since_mark, self.now)

        monkeypatch.setattr(emulator, "wait_for", held)
        return self

    def mark(self) -> None:
        """Start tracking the lowest number held from now on."""
        self.low_since_mark = self.now


@contextlib.contextmanager
def no_pool_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_cloudflows"):
        yield
    assert "PoolTimeout" not in caplog.text


async def _wait_until(predicate: Callable[[], bool], within: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            raise AssertionError(f"condition not reached within {within}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def _cloudflow_ids(i: int) -> dict[str, str]:
    return {"flow_name": "nightly_etl", "execution_name": f"run_{i:04d}"}


async def test_long_polls_never_starve_short_polls(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    # Pooling is measured, not the quota: 150 first polls in a second are fine here.
    cloud_emulator.set_rate_limit("fnf", "DescribeExecution", None)
    connects = Connects().install(monkeypatch)
    held = HeldLongPolls().install(monkeypatch, cloud_emulator)
    failing = {i for i in range(LONG_POLLS) if i % 15 == 0}
    for i in range(LONG_POLLS):
        end = "Failed" if i in failing else "Succeeded"
        ids = _cloudflow_ids(i)
        # They run for a minute of script; advance() ends them once the short polls are done.
        cloud_emulator.add_execution(
            cloudflow_execution(ids["flow_name"], ids["execution_name"], [(0, "Running"), (60, end)])
        )
    cloud_emulator.add_execution(cynosdb_flow(0, statuses=[(0, 0)]))
    await run_trigger("tencent_cynosdb_flow", {"flow_id": 0})  # this loop's short-poll client exists now
    built = pool.POOL.clients_built
    started = time.monotonic()
    with no_pool_errors(caplog):
        long_waits = [
            asyncio.create_task(run_trigger(CLOUDFLOW, _cloudflow_ids(i), poll_interval=30, timeout=120))
            for i in range(LONG_POLLS)
        ]
        ramp = await _wait_until(lambda: held.now == LONG_POLLS, within=30)
        held.mark()

        # Every long poll now holds a connection. Short polls on three services must run as if alone.
        for i in range(8):
            cloud_emulator.add_execution(
                emr_flow(
                    f"emr-{i:03d}", flow_id=i, phases=[EmrPhase(at=0, status=1, stage=1), EmrPhase(at=1.5, status=2)]
                )
            )
        for flow in range(1, 8):
            cloud_emulator.add_execution(cynosdb_flow(flow, statuses=[(0, 2), (1.5, 1 if flow == 7 else 0)]))
        for i in range(3):
            cloud_emulator.add_execution(
                batch_task(f"job-0000000{i}", "A", phases=[BatchPhase(at=0), BatchPhase(at=1.5, state="SUCCEED")])
            )
        short_started = time.monotonic()
        short = await asyncio.wait_for(
            asyncio.gather(
                *(
                    run_trigger("tencent_emr_flow", {"instance_id": f"emr-{i:03d}", "flow_id": i}, poll_interval=0.5)
                    for i in range(8)
                ),
                *(run_trigger("tencent_cynosdb_flow", {"flow_id": flow}, poll_interval=0.5) for flow in range(1, 8)),
                *(
                    run_trigger(
                        "tencent_batch_task", {"job_id": f"job-0000000{i}", "task_name": "A"}, poll_interval=0.5
                    )
                    for i in range(3)
                ),
            ),
            timeout=30,
        )
        short_elapsed = time.monotonic() - short_started
        still_held = held.low_since_mark

        # Now end every CloudFlow execution; each long poll answers within the emulator's 0.25 s re-read.
        ended = time.monotonic()
        cloud_emulator.advance(60)
        long = await asyncio.wait_for(asyncio.gather(*long_waits), timeout=30)
        long_elapsed = time.monotonic() - ended

    outcomes = [e["outcome"] for e in short]
    print(
        f"\n{LONG_POLLS} long polls held after {ramp:.2f}s (peak {held.peak}, lowest while short polls ran "
        f"{still_held}); {len(short)} short-poll waits done in {short_elapsed:.2f}s (scripted 1.5s); long polls "
        f"answered {long_elapsed:.2f}s after the end; {connects.opened} TCP connections opened; "
        f"{pool.POOL.clients_built - built} client(s) built; "
        f"{cloud_emulator.count('fnf', 'DescribeExecution')} DescribeExecution requests; "
        f"total {time.monotonic() - started:.1f}s"
    )
    assert outcomes == ["success"] * 14 + ["failure"] + ["success"] * 3, [e["message"] for e in short]
    # Short polls finished while all 150 long polls still held their connections, in about their script.
    assert still_held == LONG_POLLS
    assert short_elapsed < 12.0
    for i, event in enumerate(long):
        assert event["outcome"] == ("failure" if i in failing else "success"), event
    assert held.peak == LONG_POLLS
    assert long_elapsed < 15.0
    # One long-poll client for the loop, no client per poll; about one connection per concurrent request.
    assert pool.POOL.clients_built - built == 1
    assert connects.opened <= LONG_POLLS + 40
    assert cloud_emulator.count(ok=False) == 0


async def test_a_full_pool_is_waited_out_never_an_error(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    # Two connections for this loop's short polls, and attempts that give up on the pool after 0.2 s.
    monkeypatch.setattr(pool, "SHORT_POLL_LIMITS", httpx.Limits(max_connections=2, max_keepalive_connections=2))
    monkeypatch.setattr(pool, "POOL_WAIT", 0.2)
    # The documented EMR rate at once (no start-up ramp): the eight requests must meet at the pool, not be
    # spaced out by the rate limiter before it.
    monkeypatch.setattr(throttle, "START_FRACTION", 1.0)
    for i in range(8):
        cloud_emulator.add_execution(emr_flow(f"emr-{i:03d}", flow_id=i, phases=[EmrPhase(at=0, status=2)]))
    # Every EMR reply takes 0.6 s: eight waits queue for two connections for about 2.4 s.
    cloud_emulator.inject("slow", service="emr", count=None, delay=0.6)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_cloudflows"):
        started = time.monotonic()
        events = await asyncio.gather(
            *(run_trigger("tencent_emr_flow", {"instance_id": f"emr-{i:03d}", "flow_id": i}) for i in range(8))
        )
        elapsed = time.monotonic() - started
    pool_waits = caplog.text.count("no free connection yet")
    print(f"\n8 waits over 2 connections: {elapsed:.2f}s, {pool_waits} pool waits retried")
    assert [e["outcome"] for e in events] == ["success"] * 8, events
    # More pool waits than the five attempts a call may use: a pool wait never uses one up.
    assert pool_waits > RetryPolicy.max_attempts
    assert cloud_emulator.count("emr") == 8  # every request that went out was answered

    # Both connections held for 3 s: a wait with 1.5 s left never gets one and ends in its timeout.
    cloud_emulator.clear_faults()
    cloud_emulator.inject("slow", service="cynosdb", count=2, delay=3.0)
    cloud_emulator.add_execution(cynosdb_flow(1, statuses=[(0, 0)]))
    cloud_emulator.add_execution(cynosdb_flow(2, statuses=[(0, 0)]))
    cloud_emulator.add_execution(batch_task("job-00000000", "A", phases=[BatchPhase(at=0)]))
    holders = [asyncio.create_task(run_trigger("tencent_cynosdb_flow", {"flow_id": f})) for f in (1, 2)]
    # Both holders' requests reached the emulator (each took a slow fault): they hold the two connections.
    await _wait_until(lambda: not cloud_emulator.faults, within=10)
    started = time.monotonic()
    starved = await run_trigger("tencent_batch_task", {"job_id": "job-00000000", "task_name": "A"}, timeout=1.5)
    elapsed = time.monotonic() - started
    print(f"starved wait: {starved['outcome']} after {elapsed:.2f}s")
    assert starved["outcome"] == "timeout", starved
    assert 1.3 <= elapsed < 1.5 + 2.0
    assert cloud_emulator.count("batch") == 0  # it never had a connection
    assert [e["outcome"] for e in await asyncio.gather(*holders)] == ["success", "success"]


async def test_the_deadline_bounds_a_request_in_flight(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(emr_flow("emr-123", flow_id=42, phases=[EmrPhase(at=0, status=2)]))
    cloud_emulator.inject("slow", service="emr", count=1, delay=5.0)
    started = time.monotonic()
    event = await run_trigger("tencent_emr_flow", {"instance_id": "emr-123", "flow_id": 42}, timeout=1.5)
    elapsed = time.monotonic() - started
    assert event["outcome"] == "timeout", event
    assert 1.3 <= elapsed < 4.0  # not the 5 s the reply takes, nor the 30 s read timeout


async def _bursts(server: EmulatorServer, bursts: int, size: int) -> None:
    api = AlibabaApi(DEFAULT_ALIBABA_CREDENTIALS, region="cn-hangzhou", endpoint=server.url)
    client = CloudClient(api, RetryPolicy(max_attempts=1))
    for _ in range(bursts):
        checks = [Wait(CLOUDFLOW, _cloudflow_ids(i)).check(wait_seconds=0) for i in range(size)]
        snapshots = await asyncio.gather(*(arun_check(check, client) for check in checks))
        assert all(s.status.value == "RUNNING" for s in snapshots), snapshots


@contextlib.asynccontextmanager
async def _burst_setup(emulator: CloudEmulator, size: int) -> AsyncIterator[None]:
    emulator.set_rate_limit("fnf", "DescribeExecution", None)
    for i in range(size):
        ids = _cloudflow_ids(i)
        emulator.add_execution(cloudflow_execution(ids["flow_name"], ids["execution_name"], [(0, "Running")]))
    # Each reply takes 0.3 s, so all the requests of a burst are in flight together.
    emulator.inject("slow", service="fnf", count=None, delay=0.3)
    yield
    emulator.clear_faults()


async def test_bursts_reuse_kept_alive_connections(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    size, bursts = 40, 4
    connects = Connects().install(monkeypatch)
    async with _burst_setup(cloud_emulator, size):
        await _bursts(cloud_emulator_server, bursts, size)
        opened = connects.opened
        # The same bursts with the old limits (20 kept alive), on a loop of their own (so a client of its own).
        monkeypatch.setattr(
            pool,
            "SHORT_POLL_LIMITS",
            httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0),
        )
        connects.opened = 0
        await asyncio.to_thread(asyncio.run, _bursts(cloud_emulator_server, bursts, size))
        churned = connects.opened
    print(f"\n{bursts} bursts of {size} concurrent short polls: {opened} TCP connections (old limits: {churned})")
    assert opened <= size + 5
    assert churned >= size + (bursts - 1) * 10  # the check can see churn: ~20 reopened per burst
