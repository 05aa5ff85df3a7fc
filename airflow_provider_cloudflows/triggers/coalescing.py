"""Identical waits in one triggerer share their checks: K waits on one execution cost one request per interval.

A crowd of tasks waiting on the same execution (fan-in DAGs, sensors on a shared job) would otherwise poll it
K times an interval against one rate limit; the trigger asks its question through :data:`COALESCER` instead.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from typing import Any

from airflow_provider_cloudflows.services.base import Snapshot
from airflow_provider_cloudflows.services.driver import arun_check
from airflow_provider_cloudflows.transport.client import CloudClient, bounded
from airflow_provider_cloudflows.triggers.batching import wait_key
from airflow_provider_cloudflows.waiting import Wait

# A coalesced answer is reused by a wait that polls within this fraction of its own interval after the shared
# request started (see :class:`Coalescer`).
REUSE_FRACTION = 0.5


class SharedCheck:
    """One check of an execution shared by the waits on it: its answer (a future) and when it started."""

    __slots__ = ("future", "started")

    def __init__(self, future: asyncio.Future[Snapshot], started: float) -> None:
        self.future = future
        self.started = started


class LeaderLeft(Exception):
    """The wait doing a shared check left (cancelled) before it was answered: a follower asks itself."""


class Coalescer:
    """K waits on the same execution (same account, region, endpoint, service, identifiers and options) in one
    event loop cost one request per interval, not K.

    A wait that polls while a check of its execution is in flight joins it; one that polls within
    ``REUSE_FRACTION`` of its interval after a check started reuses its answer, and schedules its next poll
    from that check's start, so identical waits fall into step and share every later check. Each wait still
    judges the snapshot and yields its own event. Waits join through ``asyncio.shield``, and a wait's first
    check, or any check while two or more waits on the execution are running, runs in a task of its own: a
    wait that leaves (finished, cancelled) never cancels the others' request. Later checks of a wait alone on
    its execution (the common case) run in its own coroutine: a task per poll is costly (httpx's anyio backend
    sets up state per task); should such a wait be cancelled while a newly arrived one joined its check, that
    one is told at once and asks again. A failed check is never reused:
    the next poll asks again. Waits whose spec keeps per-wait memory (DWS) never share.
    """

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], SharedCheck]] = (
            weakref.WeakKeyDictionary()
        )
        # Running waits per key (any loop: keys of waits on different loops never meet in _loops anyway).
        self._members: dict[tuple[Any, ...], int] = {}
        self.requests = 0  # checks actually run (tests and benchmarks read it)
        self.shared = 0  # polls answered by another wait's check

    @staticmethod
    def key(wait: Wait, client: CloudClient[Any]) -> tuple[Any, ...] | None:
        """What makes two waits the same question, or None if this wait must not share."""
        if getattr(wait.spec, "durable_memory", ()) or wait.memory:
            return None
        try:
            what = json.dumps([wait.identifiers, wait.options], sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None
        return wait_key(wait, client, what)

    def join(self, key: tuple[Any, ...]) -> None:
        """A wait on ``key`` starts polling."""
        self._members[key] = self._members.get(key, 0) + 1

    def leave(self, key: tuple[Any, ...]) -> None:
        """A wait on ``key`` ended (event, error, cancellation); the last one out forgets the key's check.

        No timer per poll forgets answers: a timer each would wake the loop once more per poll.
        """
        left = self._members.get(key, 0) - 1
        if left > 0:
            self._members[key] = left
            return
        self._members.pop(key, None)
        try:
            table = self._loops.get(asyncio.get_running_loop())
        except RuntimeError:
            return
        entry = table.pop(key, None) if table is not None else None
        if entry is not None and entry.future.done() and not entry.future.cancelled():
            entry.future.exception()  # retrieved: a failure every joined wait already saw is not "never retrieved"

    async def check(
        self,
        key: tuple[Any, ...],
        wait: Wait,
        client: CloudClient[Any],
        *,
        wait_seconds: float,
        deadline: float | None,
        interval: float,
        first: bool = False,
    ) -> tuple[Snapshot, float]:
        """The snapshot, and the monotonic time the check that produced it started."""
        loop = asyncio.get_running_loop()
        table = self._loops.get(loop)
        if table is None:
            table = self._loops[loop] = {}
        entry = table.get(key)
        if entry is not None:
            future = entry.future
            if not future.done():
                self.shared += 1
                try:
                    return await _within(asyncio.shield(future), deadline), entry.started
                except LeaderLeft:
                    pass  # ask ourselves
            elif (
                time.monotonic() - entry.started < interval * REUSE_FRACTION
                and not future.cancelled()
                and future.exception() is None
            ):
                self.shared += 1
                return future.result(), entry.started
        now = time.monotonic()
        self.requests += 1
        if first or self._members.get(key, 0) > 1:
            # Others wait on this execution: the request is theirs too and outlives this wait.
            task = loop.create_task(arun_check(wait.check(wait_seconds=wait_seconds), client, deadline=deadline))
            table[key] = SharedCheck(task, now)
            return await asyncio.shield(task), now
        future = loop.create_future()
        entry = table[key] = SharedCheck(future, now)
        try:
            snapshot = await arun_check(wait.check(wait_seconds=wait_seconds), client, deadline=deadline)
        except asyncio.CancelledError:
            future.set_exception(LeaderLeft())
            future.exception()  # retrieved: nobody may be joined
            if table.get(key) is entry:
                del table[key]
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        future.set_result(snapshot)
        return snapshot, now


async def _within(awaitable: Any, deadline: float | None) -> Snapshot:
    """Wait for a shared check, but never past this wait's own deadline (``asyncio.TimeoutError``)."""
    if deadline is None:
        result: Snapshot = await awaitable
        return result
    return await bounded(awaitable, max(0.0, deadline - time.time()))


COALESCER = Coalescer()
