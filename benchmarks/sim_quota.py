"""A discrete-event model of several processes' AIMD limiters sharing one vendor quota.

The real quota benchmark (``bench_triggers.py``, section 4) takes 180 s of wall time per run, and its result
varies run to run with how the processes' send slots happen to line up. This model runs the same scenario
in virtual time, thousands of times a minute, so the limiter's constants can be chosen on the distribution
rather than on one run. It drives the real per-key rate logic (``throttle._Bucket``: slow start, additive
increase, multiplicative decrease once per epoch) and the emulator's real sliding one-second window
(``emulator.core._RateLimiter``); only the event loop around them is simulated: each wait polls, sleeps
``interval`` after its answer, and queues FIFO for a send slot of its process; a throttled request is
retried after the transport's back-off (0.5 s + up to 0.5 s jitter) and decreases its process's rate.

Run: ``.venv/bin/python benchmarks/sim_quota.py [--seeds 200] [--set RAMP=0.01 ...]``. It prints, per
scenario, the median / p90 / max share of throttled answers over the seeds and the requests per second;
``--write`` puts the output into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import statistics
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_cloudflows.limits import Quota
from airflow_provider_cloudflows.transport import throttle
from cloudflows_emulator.core.limits import RateLimiter as _RateLimiter

RETRY_BACKOFF = (0.5, 1.0)  # the transport's first retry after a throttled answer: 0.5 s + U(0, 0.5) s


@dataclass(frozen=True)
class Scenario:
    """Processes sharing one (account, action) quota, each with ``waits`` waits polling every ``interval``."""

    name: str
    processes: int = 3
    waits: int = 10
    interval: float = 5.0
    documented: float = 3.0  # requests per second, what the vendor grants and the limiter is told
    window: float = 180.0
    latency: tuple[float, float] = (0.001, 0.006)  # send to arrival at the vendor, uniform
    # A process's first request arrives later still (up to this, uniform): its client, connection and caches
    # are built after its slot was taken (0.19 s measured on the loaded benchmark machine, a TLS handshake
    # to a real endpoint more), so its second request reaches the vendor closer behind it than spaced.
    cold: float = 0.3
    # At this time every process but the first stops (killed); the survivor adopts their waits.
    leaves_at: float | None = None


# The benchmark's scenario first (3 processes, Batch DescribeTask at 3/s, 10 waits each every 5 s), then
# variations of it that the constants must also hold for.
SCENARIOS = (
    Scenario("batch, 3 processes (bench_triggers section 4)"),
    Scenario("batch, 3 processes, 1-30 ms latency", latency=(0.001, 0.03)),
    Scenario("batch, 2 processes", processes=2),
    Scenario("batch, 3 processes, 600 s", window=600.0),
    Scenario("emr, 3 processes (20/s, 60 waits each)", waits=60, documented=20.0),
    Scenario("batch, 3 processes, no cold start", cold=0.0),
    Scenario("batch, 1 process (no throttling possible)", processes=1),
    Scenario("batch, 2 processes, one killed at 120 s", processes=2, window=300.0, leaves_at=120.0),
    Scenario("batch, 3 processes, two killed at 120 s", processes=3, window=300.0, leaves_at=120.0),
)


@dataclass
class Result:
    """One run: answers, throttled answers, and how long after ``leaves_at`` the survivor's rate first
    reached 90% of the limit (None: no one left, or it never did within the window)."""

    answers: int
    throttled: int
    recovered_after: float | None = None


@dataclass
class _Process:
    bucket: throttle._Bucket
    queue: deque[float] = field(default_factory=deque)
    armed: bool = False


def run(scenario: Scenario, seed: int) -> tuple[int, int]:
    """One run in virtual time: (answers, throttled answers)."""
    result = run_detail(scenario, seed)
    return result.answers, result.throttled


def run_detail(scenario: Scenario, seed: int) -> Result:
    """One run in virtual time."""
    rnd = random.Random(seed)
    events: list[tuple[float, int, str, int, float]] = []
    order = itertools.count()

    def at(when: float, kind: str, who: int, sent: float = 0.0) -> None:
        heapq.heappush(events, (when, next(order), kind, who, sent))

    vendor = _RateLimiter()
    vendor.defaults[("svc", "Action")] = Quota(scenario.documented)
    limit = scenario.documented / throttle.SAFETY
    procs = [_Process(throttle._Bucket(limit, now=0.0)) for _ in range(scenario.processes)]
    for who in range(scenario.processes):
        for _ in range(scenario.waits):
            at(rnd.uniform(0, scenario.interval), "want", who)  # the waits start spread over one interval
    answers = throttled = 0
    cold = [True] * scenario.processes
    if scenario.leaves_at is not None:
        at(scenario.leaves_at, "leave", 0)
    alive = set(range(scenario.processes))
    recovered_after: float | None = None

    def arrival(now: float, who: int) -> float:
        late = rnd.uniform(0, scenario.cold) if cold[who] else 0.0
        cold[who] = False
        return now + late + rnd.uniform(*scenario.latency)

    while events:
        now, _, kind, who, sent = heapq.heappop(events)
        if now > scenario.window:
            break
        if kind == "leave":
            orphans = (len(alive) - 1) * scenario.waits
            alive = {0}
            for _ in range(orphans):  # adopted: first polled within one interval
                at(now + rnd.uniform(0, scenario.interval), "want", 0)
            continue
        if who not in alive:
            continue
        proc = procs[who]
        bucket = proc.bucket
        if (
            scenario.leaves_at is not None
            and recovered_after is None
            and now >= scenario.leaves_at
            and bucket.current_rate(now) >= 0.9 * limit
        ):
            recovered_after = now - scenario.leaves_at
        if kind == "want":  # RateLimiter.wait: free now and nobody ahead, else queue behind one timer
            if not proc.queue and now >= bucket.free_at(now):
                at(arrival(now, who), "arrive", who, bucket.take(now))
            else:
                proc.queue.append(now)
                if not proc.armed:
                    proc.armed = True
                    at(max(now, bucket.free_at(now)), "fire", who)
        elif kind == "fire":  # RateLimiter._fire / _release
            proc.armed = False
            if proc.queue and now >= bucket.free_at(now):
                proc.queue.popleft()
                at(arrival(now, who), "arrive", who, bucket.take(now))
            if proc.queue:
                proc.armed = True
                at(max(now, bucket.free_at(now)), "fire", who)
        elif kind == "arrive":
            answers += 1
            if vendor.admit("svc", "Action", now):
                at(now + scenario.interval, "want", who)
            else:
                throttled += 1
                bucket.throttled(now, sent)
                at(now + rnd.uniform(*RETRY_BACKOFF), "want", who)
    return Result(answers, throttled, recovered_after)


def summarize(scenario: Scenario, seeds: int) -> dict[str, float]:
    """Median, p90 and max throttled share (%) over ``seeds`` runs, and the mean requests per second."""
    results = [run_detail(scenario, seed) for seed in range(seeds)]
    shares = sorted(100.0 * r.throttled / max(r.answers, 1) for r in results)
    summary = {
        "median": statistics.median(shares),
        "p90": shares[int(0.9 * (len(shares) - 1))],
        "max": shares[-1],
        "rate": statistics.fmean(r.answers for r in results) / scenario.window,
    }
    if scenario.leaves_at is not None:
        # A survivor that never recovered counts as the rest of the window.
        late = sorted(
            scenario.window - scenario.leaves_at if r.recovered_after is None else r.recovered_after for r in results
        )
        summary["recovery_p50"] = statistics.median(late)
        summary["recovery_max"] = late[-1]
    return summary


@contextmanager
def constants(**values: float) -> Iterator[None]:
    """Temporarily set the limiter's module constants (``DECREASE``, ``REGAIN``, ...)."""
    saved = {name: getattr(throttle, name) for name in values}
    for name, value in values.items():
        setattr(throttle, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(throttle, name, value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--set", action="append", default=[], help="NAME=value of a throttle constant")
    # Imported here: the tests load this module by its path, without benchmarks/ on sys.path.
    from results import add_write_option, recording

    add_write_option(parser)
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if not hasattr(throttle, name):
            parser.error(f"--set: throttle has no constant {name!r}")
        overrides[name] = float(value)
    names = ("DECREASE", "DECREASE_EPOCH", "REGAIN", "MIN_FRACTION", "SAFETY")
    with recording("sim_quota", args.write, argv), constants(**overrides):
        print("constants: " + ", ".join(f"{name}={getattr(throttle, name)}" for name in names))
        print(f"throttled answers over {args.seeds} seeded runs: median / p90 / max, and requests per second")
        for scenario in SCENARIOS:
            s = summarize(scenario, args.seeds)
            recovery = (
                f"   survivor at 90% of the limit {s['recovery_p50']:.0f} s (max {s['recovery_max']:.0f} s) after"
                if "recovery_p50" in s
                else ""
            )
            print(
                f"  {scenario.name:<48} {s['median']:5.2f}% / {s['p90']:5.2f}% / {s['max']:5.2f}%"
                f"   {s['rate']:5.2f}/s of {scenario.documented:g}/s{recovery}"
            )


if __name__ == "__main__":
    main()
