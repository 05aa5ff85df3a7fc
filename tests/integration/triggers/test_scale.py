"""Scale machinery: the benchmarks run at tiny sizes, identical waits share one request, and the
limiter adapts (AIMD) and never keeps a slot for a caller that left. Not timed: ratios are the benchmark's."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from airflow_provider_cloudflows.limits import Quota
from airflow_provider_cloudflows.transport import throttle
from airflow_provider_cloudflows.transport.throttle import RateLimiter
from airflow_provider_cloudflows.triggers.execution import COALESCER
from cloudflows_emulator import CloudEmulator, cynosdb_flow
from tests.helpers import run_trigger

BENCHMARKS = pathlib.Path(__file__).resolve().parents[3] / "benchmarks"


def test_scale_triggerer_runs_at_small_n() -> None:
    # 50 waits over the five services against the emulator in its own process, ~10 s of scripted executions.
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "scale_triggerer.py"),
            *("--waits", "50", "--min-run", "4", "--max-run", "8", "--ramp", "2"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ALL WAITS ENDED CORRECTLY" in done.stdout


def _bench_quick(seconds: float) -> tuple[int | None, str, str]:
    """Run ``bench_triggers.py --quick``; on a hang kill it with every process it started (its own session)."""
    proc = subprocess.Popen(
        [sys.executable, str(BENCHMARKS / "bench_triggers.py"), "--quick"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=seconds)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err


def test_bench_triggers_runs_quick() -> None:
    # About 50 s under CI load. Once in some fifteen CI runs the quick run hung (at Airflow 3.1.0, cause not
    # found yet): a hung run is reported and run once more, so a broken benchmark still fails and a hang shows.
    code, out, err = _bench_quick(130)
    if code is None:
        print(f"bench_triggers --quick hung for 130 s and was killed; it had printed:\n{out[-3000:]}\n{err[-3000:]}")
        code, out, err = _bench_quick(130)
    assert code == 0, out[-3000:] + err[-3000:]
    assert "Targets, " in out


@pytest.mark.usefixtures("connected_emulator")
async def test_identical_waits_share_one_request_each_gets_its_event(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(5, statuses=[(0, 2), (2.0, 0)]))
    before = COALESCER.requests
    events = await asyncio.gather(
        *(run_trigger("tencent_cynosdb_flow", {"flow_id": 5}, poll_interval=0.5) for _ in range(8))
    )
    assert [e["outcome"] for e in events] == ["success"] * 8
    requests = cloud_emulator.count("cynosdb", "DescribeFlow")
    # About one request per 0.5 s interval over ~2 s of script, not 8 per interval.
    assert requests <= 8, requests
    assert COALESCER.requests - before == requests


@pytest.mark.usefixtures("connected_emulator")
async def test_a_waiter_that_leaves_does_not_cancel_the_shared_request(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(6, statuses=[(0, 0)]))
    # The one request takes 1 s: the first waiter leaves while it is in flight.
    cloud_emulator.inject("slow", service="cynosdb", count=1, delay=1.0)
    tasks = [asyncio.create_task(run_trigger("tencent_cynosdb_flow", {"flow_id": 6})) for _ in range(3)]
    await asyncio.sleep(0.4)
    tasks[0].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert [r["outcome"] for r in results[1:]] == ["success", "success"]  # type: ignore[index]
    assert cloud_emulator.count("cynosdb", "DescribeFlow") == 1


async def test_cancelled_waiters_keep_no_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "START_FRACTION", 1.0)
    limiter = RateLimiter()
    await limiter.wait("k", Quota(1.1))  # the first slot at once; the next one 1 s later
    waiters = [asyncio.create_task(limiter.wait("k", Quota(1.1))) for _ in range(5)]
    await asyncio.sleep(0.05)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    started = time.monotonic()
    await limiter.wait("k", Quota(1.1))
    # Only the slot after the first one is waited for: one slot kept by a cancelled waiter would add 1 s.
    assert time.monotonic() - started < 1.7


async def test_a_waiter_cancelled_as_its_slot_is_granted_stays_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before Python 3.12, asyncio.wait_for returned normally when its caller was cancelled in the instant the
    # awaited future completed: a cancelled trigger would have sent its request and polled on.
    monkeypatch.setattr(throttle, "START_FRACTION", 1.0)
    limiter = RateLimiter()
    loop = asyncio.get_running_loop()
    await limiter.wait("k", Quota(0.275))  # the first slot at once; the next one 4 s later
    waiter = asyncio.create_task(limiter.wait("k", Quota(0.275), deadline=time.time() + 30))
    await asyncio.sleep(0)  # queued behind the limiter's timer
    bucket = limiter._buckets()["k"]
    bucket.next_at = time.monotonic()
    limiter._fire(bucket, loop)  # the timer grants the slot...
    waiter.cancel()  # ...and the wait is cancelled before it could run again
    with pytest.raises(asyncio.CancelledError):
        await waiter
    started = time.monotonic()
    await limiter.wait("k", Quota(0.275), deadline=time.time() + 30)
    assert time.monotonic() - started < 2.0  # the granted slot was handed back, not lost (4 s more)


async def test_a_queued_waiter_leaves_at_its_deadline_and_keeps_no_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "START_FRACTION", 1.0)
    limiter = RateLimiter()
    await limiter.wait("k", Quota(0.55))  # the next slot 2 s later
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await limiter.wait("k", Quota(0.55), deadline=time.time() + 0.1)
    assert 0.05 < time.monotonic() - started < 1.0  # at its deadline, not at the slot
    await limiter.wait("k", Quota(0.55), deadline=time.time() + 5)  # the slot 2 s after the first, not one more
    assert time.monotonic() - started < 3.0


async def test_waiters_are_served_in_order_at_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "START_FRACTION", 1.0)
    limiter = RateLimiter()
    order: list[int] = []

    async def one(i: int) -> None:
        await limiter.wait("k", Quota(11.0))  # 10 a second after SAFETY
        order.append(i)

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(6)))
    assert order == list(range(6))
    assert 0.4 < time.monotonic() - started < 3.0


def test_a_key_starts_low_and_reaches_its_limit_along_a_concave_curve() -> None:
    bucket = throttle._Bucket(10.0, now=0.0)
    assert bucket.current_rate(0.0) == pytest.approx(10.0 * throttle.START_FRACTION)
    # Concave: more than half the way within the first quarter of the regrowth.
    quarter = bucket.regain / 4
    assert bucket.current_rate(quarter) - 3.5 > (10.0 - 3.5) / 2
    assert bucket.current_rate(bucket.regain) == pytest.approx(10.0)
    assert bucket.current_rate(bucket.regain + 1000) == pytest.approx(10.0)  # never above the limit


def test_a_throttled_answer_decreases_once_per_epoch_then_the_rate_regrows_cubically() -> None:
    bucket = throttle._Bucket(10.0, now=0.0)
    now = bucket.regain + 1.0
    assert bucket.current_rate(now) == pytest.approx(10.0)
    bucket.throttled(now, sent_at=now - 0.1)
    bucket.throttled(now + 0.5, sent_at=now)  # the same congestion: no second decrease
    assert bucket.current_rate(now + 0.5) == pytest.approx(10.0 * throttle.DECREASE, rel=0.01)
    assert bucket.decreases == 1
    # Flat near the throttled rate, which it regains after REGAIN seconds.
    assert bucket.regain == pytest.approx(throttle.REGAIN)
    assert bucket.current_rate(now + throttle.REGAIN * 0.9) == pytest.approx(10.0, rel=0.01)
    # Throttled again below the limit (a share): the throttled rate is regained after its own, shorter K,
    # and the whole limit one REGAIN after that.
    later = now + 2.0
    share = bucket.current_rate(later)
    bucket.throttled(later, sent_at=later)
    assert bucket.regain < throttle.REGAIN
    assert bucket.current_rate(later + bucket.regain) == pytest.approx(share)
    assert bucket.current_rate(later + bucket.regain + throttle.REGAIN) == pytest.approx(10.0)


def test_a_token_bucket_quota_lets_its_burst_go_at_once_then_spaces_at_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(throttle, "START_FRACTION", 1.0)
    bucket = throttle._Bucket(5.0, now=0.0, burst=50)
    slots = [bucket.take(0.0) for _ in range(60)]
    assert slots[:50] == [0.0] * 50
    assert slots[50] > 0.0
    assert slots[59] - slots[50] == pytest.approx(9 / 5.0)


def test_bench_quota_runs_at_small_n() -> None:
    # 200 Batch job waits beside the bare loop, against the emulator in its own process (~15 s in all).
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_quota.py"),
            *("--targets", "batch", "--jobs", "200", "--spread", "6", "--interval", "2"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| N Batch job waits, one account | provider" in done.stdout
