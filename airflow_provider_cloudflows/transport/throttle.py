"""Client-side throttling: never send faster than an API's documented quota.

Every trigger in a triggerer shares one process, so a hundred waits on Batch ``DescribeTask`` (3 requests a
second) would otherwise throttle each other and burn retries. The limiter spaces requests per account and
action across all callers in the process, sync and async alike, at the quota of
:mod:`airflow_provider_cloudflows.limits` (a token bucket's burst included). Several processes may share one
account (Airflow HA runs several triggerers; workers poke too) with no shared store, so each process adapts
its rate to the throttled answers it gets: a multiplicative decrease, then a cubic regrowth (as TCP CUBIC)
that stays flat near the rate that was throttled and accelerates once nothing throttles, so a process whose
partners left regains the whole quota within about a minute while partners still present probe rarely.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections import deque

from airflow_provider_cloudflows.limits import Quota

# A little under the limit, so clock granularity on either side never tips a window over it.
SAFETY = 1.1
# On a throttled answer the rate is multiplied by DECREASE, at most once per DECREASE_EPOCH seconds (vendors
# count requests in one-second windows: answers to requests sent in the same window report the same
# congestion). It then grows back along w_max + CUBIC x limit x (t - K)^3, t seconds after the decrease, w_max
# the rate that was throttled and K the time to regain it (REGAIN seconds for a process that held the whole
# limit): flat near w_max, where the partners' shares meet, steep after it. With no shared store, the time to
# regain the quota after partners left is also the time between probes while they stay: a shorter REGAIN
# recovers faster and is throttled more often. The values are chosen on benchmarks/sim_quota.py (the real
# bucket and the emulator's real window in virtual time); docs/design/quotas.md has the trade-off's numbers.
DECREASE = 0.75
DECREASE_EPOCH = 1.0
REGAIN = 60.0
# A key starts as if just throttled at the limit, at START_FRACTION of it: processes that start together (an
# HA pair restarting) cross the vendor's limit on the flat part of the curve, each throttled about once. Never
# below MIN_FRACTION of the documented rate.
START_FRACTION = 0.35
MIN_FRACTION = 0.05


class _Bucket:
    """One (account, action) key: its adapted rate and when the next send may go (GCRA: ``next_at`` is the
    theoretical arrival time, and a bucket quota's burst lets sends go up to ``tolerance`` before it)."""

    __slots__ = (
        "burst",
        "decreased_at",
        "decreases",
        "limit",
        "next_at",
        "queues",
        "rate",
        "regain",
        "throttled_rate",
        "timers",
    )

    def __init__(self, limit: float, now: float | None = None, burst: int | None = None) -> None:
        self.limit = limit  # the most this process ever sends: the documented rate over SAFETY
        self.burst = burst or 1
        self.next_at = -math.inf
        self.decreases = 0
        self.rate = self.throttled_rate = limit
        self.decreased_at = -math.inf
        self.regain = 0.0
        self._decrease(time.monotonic() if now is None else now, limit * START_FRACTION)
        # Async callers queue per event loop (a future belongs to its loop), FIFO; one timer per loop.
        self.queues: dict[asyncio.AbstractEventLoop, deque[asyncio.Future[None]]] = {}
        self.timers: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}

    def current_rate(self, now: float) -> float:
        """The cubic regrowth since the last decrease, capped at the limit."""
        if self.rate < self.limit:
            grown = self.throttled_rate + _cubic() * self.limit * (now - self.decreased_at - self.regain) ** 3
            self.rate = min(self.limit, max(self.limit * MIN_FRACTION, grown))
        return self.rate

    def tolerance(self, now: float) -> float:
        """How far ahead of ``next_at`` a send may go: the burst's worth, shrunk with the adapted rate."""
        return 0.0 if self.burst == 1 else max(0.0, self.burst / self.limit - 1.0 / self.current_rate(now))

    def free_at(self, now: float) -> float:
        """When the next send may go."""
        return self.next_at - self.tolerance(now)

    def take(self, now: float) -> float:
        """Take the next slot (now or later); return when it is, and book the one after it."""
        slot = max(now, self.free_at(now))
        self.next_at = max(self.next_at, slot) + 1.0 / self.current_rate(now)
        return slot

    def give_back(self, now: float) -> None:
        """A slot taken but not used: the next caller may have it."""
        self.next_at = max(now, self.next_at - 1.0 / self.current_rate(now))

    def throttled(self, now: float, sent_at: float) -> None:
        """Multiplicative decrease for a throttled answer at ``now`` to a request sent at ``sent_at``.

        Only the first throttled answer of an epoch decreases the rate (answers to requests sent before the
        last decrease, or within ``DECREASE_EPOCH`` of it, report congestion already acted on).
        """
        if sent_at < self.decreased_at or now - self.decreased_at < DECREASE_EPOCH:
            return
        old = self.current_rate(now)
        self._decrease(now, old * DECREASE)
        self.decreases += 1
        # The slot already booked was spaced at the old rate: space it at the new one.
        if self.next_at > now:
            self.next_at += 1.0 / self.rate - 1.0 / old

    def _decrease(self, now: float, rate: float) -> None:
        """Go down to ``rate`` from the current one, and set the cubic curve back to it."""
        old = self.rate
        self.throttled_rate = old
        self.rate = min(old, max(self.limit * MIN_FRACTION, rate))
        cubic = _cubic()
        self.regain = ((old - self.rate) / (cubic * self.limit)) ** (1 / 3) if cubic > 0 else 0.0
        self.decreased_at = now


def _cubic() -> float:
    """The regrowth's constant (per limit, per s³): a process that held the whole limit regains it in REGAIN s."""
    return (1 - DECREASE) / REGAIN**3


def _expire(future: asyncio.Future[None]) -> None:
    """A queued wait's deadline came before its slot: it leaves the queue with ``asyncio.TimeoutError``."""
    if not future.done():
        future.set_exception(asyncio.TimeoutError())


class RateLimiter:
    """Hands out send slots per key (account, region, action), spaced at the key's adapted rate.

    The rate ramps up to the documented limit (over ``SAFETY``) and adapts per process, with no shared store,
    to what the vendor actually grants (several triggerers may share one account): additive increase,
    multiplicative decrease on a throttled answer (:meth:`answered`); see ``START_FRACTION`` and ``PROBE``.
    Async callers wait in a FIFO queue woken by one timer, so a caller cancelled while it waits (a finished
    or killed wait) leaves the queue and never holds a slot that later callers must wait behind; a slot
    granted to a caller cancelled before it could use it is handed back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Sync callers share one set of buckets per process; async callers one per event loop (a triggerer
        # runs one loop, so per loop is per process; a test's fresh loop starts with fresh rates).
        self._sync: dict[str, _Bucket] = {}
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Bucket]] = (
            weakref.WeakKeyDictionary()
        )

    def _buckets(self) -> dict[str, _Bucket]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._sync
        buckets = self._async.get(loop)
        if buckets is None:
            buckets = self._async[loop] = {}
        return buckets

    def _bucket(self, key: str, quota: Quota) -> _Bucket:
        buckets = self._buckets()
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = _Bucket(quota.rate / SAFETY, burst=quota.burst)
        return bucket

    def rate(self, key: str) -> float | None:
        """The current adapted rate of ``key`` (requests per second) for the caller's loop (or sync callers)."""
        bucket = self._buckets().get(key)
        return None if bucket is None else bucket.current_rate(time.monotonic())

    def reserve(self, key: str, quota: Quota) -> float:
        """Reserve the next slot for ``key``; return how long to wait before sending (sync callers)."""
        now = time.monotonic()
        with self._lock:
            return self._bucket(key, quota).take(now) - now

    def wait_sync(self, key: str, quota: Quota | None) -> None:
        """Block until a slot is free (poke mode)."""
        if quota is not None:
            delay = self.reserve(key, quota)
            if delay > 0:
                time.sleep(delay)

    async def wait(self, key: str, quota: Quota | None, deadline: float | None = None) -> None:
        """Wait on the event loop until a slot is free (triggers); FIFO, cancellation-safe.

        A wait that would outlast ``deadline`` (epoch seconds) leaves the queue then, with
        ``asyncio.TimeoutError``: a slow rate never holds a wait past its deadline.
        """
        if quota is None:
            return
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        with self._lock:
            bucket = self._bucket(key, quota)
            queue = bucket.queues.get(loop)
            if not queue and now >= bucket.free_at(now):
                bucket.take(now)  # free now and nobody ahead: no future, no timer
                return
            future: asyncio.Future[None] = loop.create_future()
            if queue is None:
                queue = bucket.queues[loop] = deque()
            queue.append(future)
            if loop not in bucket.timers:
                self._arm(bucket, loop, now)
        # The deadline fails the future itself rather than going through asyncio.wait_for: before Python 3.12,
        # wait_for returns normally when the caller is cancelled in the instant its future is granted, so the
        # cancellation is lost and a cancelled trigger polls on (a triggerer could not stop it).
        expiry = None if deadline is None else loop.call_later(max(0.0, deadline - time.time()), _expire, future)
        try:
            await future
        except (asyncio.CancelledError, asyncio.TimeoutError):
            with self._lock:
                if future.done() and not future.cancelled() and future.exception() is None:
                    # Granted, but the caller is gone: give the slot back to whoever is next.
                    bucket.give_back(time.monotonic())
                    self._release(bucket, loop)
                elif future in queue:
                    queue.remove(future)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def _arm(self, bucket: _Bucket, loop: asyncio.AbstractEventLoop, now: float) -> None:
        bucket.timers[loop] = loop.call_later(max(0.0, bucket.free_at(now) - now), self._fire, bucket, loop)

    def _fire(self, bucket: _Bucket, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            bucket.timers.pop(loop, None)
            self._release(bucket, loop)

    def _release(self, bucket: _Bucket, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the first live waiter of ``loop`` if its slot has come, and arm the timer for the next one."""
        queue = bucket.queues.get(loop)
        while queue and queue[0].done():
            queue.popleft()  # cancelled while waiting
        if not queue:
            bucket.queues.pop(loop, None)
            timer = bucket.timers.pop(loop, None)
            if timer is not None:
                timer.cancel()
            return
        now = time.monotonic()
        if now >= bucket.free_at(now):
            bucket.take(now)
            queue.popleft().set_result(None)
        if queue and loop not in bucket.timers:
            self._arm(bucket, loop, now)
        elif not queue:
            bucket.queues.pop(loop, None)

    def answered(self, key: str, *, throttled: bool, sent_at: float) -> None:
        """Adapt ``key``'s rate to an answer: multiplicative decrease when the vendor throttled the request
        (see :meth:`_Bucket.throttled`). Successful answers need no bookkeeping: the additive increase is a
        function of time.
        """
        if not throttled:
            return
        bucket = self._buckets().get(key)
        if bucket is None:
            return
        with self._lock:
            bucket.throttled(time.monotonic(), sent_at)

    def reset(self) -> None:
        """Forget every adapted rate (tests: a throttled test must not slow the next one in its process)."""
        with self._lock:
            self._sync.clear()
            self._async.clear()

    def stats(self) -> dict[str, dict[str, float]]:
        """Per key: the documented ceiling, the current rate and how often it was decreased (benchmarks)."""
        now = time.monotonic()
        with self._lock:
            return {
                key: {"limit": b.limit, "rate": b.current_rate(now), "decreases": b.decreases}
                for key, b in self._buckets().items()
            }


LIMITER = RateLimiter()
