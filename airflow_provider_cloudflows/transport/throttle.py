"""Client-side throttling: never send faster than an API's documented rate limit.

Every trigger in a triggerer shares one process, so a hundred waits on Batch ``DescribeTask`` (3 requests a
second) would otherwise throttle each other and burn retries. The limiter spaces requests per account and
action across all callers in the process, sync and async alike. Several processes may share one account
(Airflow HA runs several triggerers; workers poke too) with no shared store, so each process adapts its rate
to the throttled answers it gets (AIMD: additive increase, multiplicative decrease).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections import deque

# Documented per-action limits (requests per second), reads and the operators' writes alike.
DOCUMENTED_RATE_LIMITS: dict[str, float] = {
    "tencentcloud emr:DescribeClusterFlowStatusDetail": 20.0,
    "tencentcloud emr:ScaleOutCluster": 20.0,
    "tencentcloud emr:TerminateClusterNodes": 20.0,
    "tencentcloud cynosdb:DescribeFlow": 20.0,
    "tencentcloud cynosdb:PauseServerless": 20.0,
    "tencentcloud cynosdb:ResumeServerless": 20.0,
    "tencentcloud cynosdb:CreateBackup": 20.0,
    "tencentcloud batch:DescribeTask": 3.0,
    "tencentcloud batch:DescribeJob": 2.0,
    "tencentcloud batch:SubmitJob": 7.0,
    "tencentcloud batch:TerminateJob": 2.0,
    "tencentcloud batch:DescribeTaskLogs": 20.0,
}
# A little under the limit, so clock granularity on either side never tips a window over it.
SAFETY = 1.1
# AIMD adaptation of the per-process rate (see RateLimiter). With no shared store, each process sharing a key
# must learn its share from a throttled answer of its own, so start-up costs at least one throttled answer per
# process; the constants keep it at about that. A key starts at START_FRACTION of its documented rate and
# ramps up by RAMP x that rate per second (full in about 3.5 minutes), so processes that start together (an
# HA triggerer pair restarting) cross the vendor's limit slowly: each is then throttled about once, while a
# fast ramp keeps the others climbing past the limit after the first has backed off, and the one that backed
# off is throttled again (15 s to full: 5 to 6 throttled answers among three Batch processes, not 3).
# On a throttled answer the rate is multiplied by DECREASE (halving left three Batch processes using 55% of
# the limit for minutes, since growing back is slow, see PROBE), at most once per DECREASE_EPOCH seconds
# (vendors count requests in one-second windows: answers to requests sent in the same window report the same
# congestion); it then grows back additively by PROBE x rate² per second (requests/s per second). Processes
# sharing a key probe above their shares together, and every probe costs about one throttled answer per
# process; growing back by the decrease takes (1 - DECREASE) / (processes x PROBE) answers whatever the
# limit (3/s for Batch as 20/s for EMR), so with three processes the probes come ~800 answers apart (~0.4%
# throttled). After QUIET seconds without a throttled answer the key ramps again (whoever shared it seems
# gone). QUIET must outlast the probing period: a 60 s QUIET made processes sharing a key ramp together again
# between probes (6% throttled for Batch, issue 10). The values were chosen on the distribution over seeded
# runs of benchmarks/sim_quota.py (the real _Bucket and the emulator's window in virtual time): three Batch
# processes, 180 s, median 0.68% / p90 0.69% throttled (1.09% / 2.19% with a 15 s ramp and DECREASE 0.7).
# Never above the documented rate over SAFETY, never below MIN_FRACTION of it.
START_FRACTION = 0.35
RAMP = 0.003
DECREASE = 0.75
DECREASE_EPOCH = 1.0
PROBE = 0.0001
QUIET = 600.0
MIN_FRACTION = 0.05


class _Bucket:
    """One (account, action) key: its adapted rate and the time the next send may go."""

    __slots__ = ("decreased_at", "decreases", "grown_at", "limit", "next_at", "queues", "rate", "timers")

    def __init__(self, limit: float, now: float | None = None) -> None:
        self.limit = limit  # the most this process ever sends: the documented rate over SAFETY
        self.rate = limit * START_FRACTION
        self.next_at = -math.inf
        self.grown_at = time.monotonic() if now is None else now
        self.decreased_at = -math.inf
        self.decreases = 0
        # Async callers queue per event loop (a future belongs to its loop), FIFO; one timer per loop.
        self.queues: dict[asyncio.AbstractEventLoop, deque[asyncio.Future[None]]] = {}
        self.timers: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}

    def current_rate(self, now: float) -> float:
        """Additive increase, applied lazily: the rate grows with the time since it was last updated."""
        if self.rate < self.limit:
            quiet = now - self.decreased_at > QUIET
            slope = RAMP * self.limit if quiet else PROBE * self.limit * self.limit
            self.rate = min(self.limit, self.rate + slope * (now - self.grown_at))
        self.grown_at = now
        return self.rate

    def take(self, now: float) -> float:
        """Take the next slot (now or later); return when it is, and book the one after it."""
        slot = max(now, self.next_at)
        self.next_at = slot + 1.0 / self.current_rate(now)
        return slot

    def throttled(self, now: float, sent_at: float) -> None:
        """Multiplicative decrease for a throttled answer at ``now`` to a request sent at ``sent_at``.

        Only the first throttled answer of an epoch decreases the rate (answers to requests sent before the
        last decrease, or within ``DECREASE_EPOCH`` of it, report congestion already acted on).
        """
        if sent_at < self.decreased_at or now - self.decreased_at < DECREASE_EPOCH:
            return
        old = self.current_rate(now)
        self.rate = max(self.limit * MIN_FRACTION, old * DECREASE)
        self.decreased_at = now
        self.decreases += 1
        # The slot already booked was spaced at the old rate: space it at the new one.
        if self.next_at > now:
            self.next_at += 1.0 / self.rate - 1.0 / old


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

    def _bucket(self, key: str, rate: float) -> _Bucket:
        buckets = self._buckets()
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = _Bucket(rate / SAFETY)
        return bucket

    def rate(self, key: str) -> float | None:
        """The current adapted rate of ``key`` (requests per second) for the caller's loop (or sync callers)."""
        bucket = self._buckets().get(key)
        return None if bucket is None else bucket.current_rate(time.monotonic())

    def reserve(self, key: str, rate: float) -> float:
        """Reserve the next slot for ``key``; return how long to wait before sending (sync callers)."""
        now = time.monotonic()
        with self._lock:
            return self._bucket(key, rate).take(now) - now

    def wait_sync(self, key: str, rate: float | None) -> None:
        """Block until a slot is free (poke mode)."""
        if rate:
            delay = self.reserve(key, rate)
            if delay > 0:
                time.sleep(delay)

    async def wait(self, key: str, rate: float | None, deadline: float | None = None) -> None:
        """Wait on the event loop until a slot is free (triggers); FIFO, cancellation-safe.

        A wait that would outlast ``deadline`` (epoch seconds) leaves the queue then, with
        ``asyncio.TimeoutError``: a slow rate never holds a wait past its deadline.
        """
        if not rate:
            return
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        with self._lock:
            bucket = self._bucket(key, rate)
            queue = bucket.queues.get(loop)
            if not queue and now >= bucket.next_at:
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
                    bucket.next_at = time.monotonic()
                    self._release(bucket, loop)
                elif future in queue:
                    queue.remove(future)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def _arm(self, bucket: _Bucket, loop: asyncio.AbstractEventLoop, now: float) -> None:
        bucket.timers[loop] = loop.call_later(max(0.0, bucket.next_at - now), self._fire, bucket, loop)

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
        if now >= bucket.next_at:
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
