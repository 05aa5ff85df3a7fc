"""Client-side throttling: never send faster than an API's documented rate limit.

Every trigger in a triggerer shares one process, so a hundred waits on Batch ``DescribeTask`` (3 requests a
second) would otherwise throttle each other and burn retries. The limiter spaces requests per account and
action across all callers in the process, sync and async alike.
"""

from __future__ import annotations

import asyncio
import threading
import time

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


class RateLimiter:
    """Hands out send slots spaced ``SAFETY / rate`` seconds apart per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def reserve(self, key: str, rate: float) -> float:
        """Reserve the next slot for ``key``; return how long to wait before sending."""
        now = time.monotonic()
        with self._lock:
            slot = max(now, self._next.get(key, now))
            self._next[key] = slot + SAFETY / rate
        return slot - now

    def wait_sync(self, key: str, rate: float | None) -> None:
        """Block until a slot is free (poke mode)."""
        if rate:
            delay = self.reserve(key, rate)
            if delay > 0:
                time.sleep(delay)

    async def wait(self, key: str, rate: float | None) -> None:
        """Sleep on the event loop until a slot is free (triggers)."""
        if rate:
            delay = self.reserve(key, rate)
            if delay > 0:
                await asyncio.sleep(delay)


LIMITER = RateLimiter()
