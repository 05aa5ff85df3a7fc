"""The one trigger: polls any registered service until a terminal status, an error or the deadline."""

from __future__ import annotations

import asyncio
import json
import random
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.hooks import hook_class
from airflow_provider_cloudflows.services.base import Snapshot
from airflow_provider_cloudflows.services.driver import arun_check
from airflow_provider_cloudflows.status import ExecutionStatus, Verdict
from airflow_provider_cloudflows.transport.client import CloudClient, bounded
from airflow_provider_cloudflows.transport.retry import DEADLINE_EXCEEDED
from airflow_provider_cloudflows.triggers.batching import BATCHER, wait_key
from airflow_provider_cloudflows.waiting import Wait, error_event

MAX_LONG_POLL = 60.0
# Long polls end a little before the deadline so the timeout event is not late by a whole request.
LONG_POLL_MARGIN = 1.0
JITTER = 0.1
# A coalesced answer is reused by a wait that polls within this fraction of its own interval after the shared
# request started (see _Coalescer).
REUSE_FRACTION = 0.5


class _Shared:
    """One check of an execution shared by the waits on it: its answer (a future) and when it started."""

    __slots__ = ("future", "started")

    def __init__(self, future: asyncio.Future[Snapshot], started: float) -> None:
        self.future = future
        self.started = started


class _LeaderLeft(Exception):
    """The wait doing a shared check left (cancelled) before it was answered: a follower asks itself."""


class _Coalescer:
    """K waits on the same execution (same account, region, endpoint, service, identifiers and options) in one
    event loop cost one request per interval, not K.

    A wait that polls while a check of its execution is in flight joins it; one that polls within
    ``REUSE_FRACTION`` of its interval after a check started reuses its answer, and schedules its next poll
    from that check's start, so identical waits fall into step and share every later check. Each wait still
    judges the snapshot and yields its own event. Waits join through ``asyncio.shield``, and a wait's first
    check, or any check while two or more waits on the execution are running, runs in a task of its own: a
    wait that leaves (finished, cancelled) never cancels the others' request. Later checks of a wait alone on
    its execution (the common case) run in its own coroutine: a task per poll (httpx's anyio backend sets up
    state per task) cost ~30% of a poll's CPU (issue 10); should such a wait be cancelled while a newly
    arrived one joined its check, that one is told at once and asks again. A failed check is never reused:
    the next poll asks again. Waits whose spec keeps per-wait memory (DWS) never share.
    """

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Shared]] = (
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

        No timer per poll forgets answers: at 40 polls a second a timer each woke the loop 40 more times.
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
                except _LeaderLeft:
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
            table[key] = _Shared(task, now)
            return await asyncio.shield(task), now
        future = loop.create_future()
        entry = table[key] = _Shared(future, now)
        try:
            snapshot = await arun_check(wait.check(wait_seconds=wait_seconds), client, deadline=deadline)
        except asyncio.CancelledError:
            future.set_exception(_LeaderLeft())
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


COALESCER = _Coalescer()


def _listed(wait: Wait, snapshot: Snapshot | None) -> Snapshot | None:
    """A list answer's snapshot, if it may stand for the wait's own check: still waiting, or succeeded. A
    failure (whose reasons only the wait's own check reads) or an unknown state is asked again by the wait."""
    if snapshot is None or snapshot.status is ExecutionStatus.UNKNOWN:
        return None
    return snapshot if wait.verdict(snapshot.vendor_status) is not Verdict.FAILURE else None


class CloudExecutionTrigger(BaseTrigger):
    """Wait for a cloud execution in the triggerer.

    The serialized kwargs hold only identifiers, the connection id, hook overrides (region, project id),
    intervals, state overrides, the wait's memory (``options["memory"]``) and an absolute wall-clock
    ``deadline`` (epoch seconds), so a trigger restarted on another triggerer keeps its deadline and what the
    wait learned. When a check changes the memory a spec declares durable, the trigger ends with a
    ``memory`` event instead of keeping it in its process; the sensor defers again with it. Credentials
    are read in :meth:`run` with the async connection API and never pass through the kwargs, which Airflow
    stores as plain JSON.
    """

    # Whose timeout the timeout event reports.
    waiter: ClassVar[str] = "sensor"

    def __init__(
        self,
        *,
        service: str,
        identifiers: Mapping[str, Any],
        conn_id: str,
        deadline: float | None,
        timeout: float | None = None,
        poll_interval: float = 30.0,
        hook_overrides: Mapping[str, Any] | None = None,
        success_states: list[str] | None = None,
        failure_states: list[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self.service = service
        self.identifiers = dict(identifiers)
        self.conn_id = conn_id
        self.deadline = deadline
        # The sensor's own timeout, for the message: after a restart the trigger's age says nothing.
        self.timeout = timeout
        self.poll_interval = float(poll_interval)
        self.hook_overrides = dict(hook_overrides or {})
        self.success_states = list(success_states) if success_states is not None else None
        self.failure_states = list(failure_states) if failure_states is not None else None
        self.options = dict(options or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Only ids, intervals and the deadline: nothing here is a secret."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "service": self.service,
                "identifiers": self.identifiers,
                "conn_id": self.conn_id,
                "deadline": self.deadline,
                "timeout": self.timeout,
                "poll_interval": self.poll_interval,
                "hook_overrides": self.hook_overrides,
                "success_states": self.success_states,
                "failure_states": self.failure_states,
                "options": self.options,
            },
        )

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()

    def _timeout_seconds(self, started: float) -> float:
        return self.timeout if self.timeout is not None else time.time() - started

    def _long_poll_seconds(self, wait: Wait) -> float:
        if not wait.spec.supports_long_polling:
            return 0.0
        remaining = self._remaining()
        budget = MAX_LONG_POLL if remaining is None else min(MAX_LONG_POLL, remaining - LONG_POLL_MARGIN)
        return max(0.0, float(int(budget)))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll with jitter until the execution is terminal; yield exactly one event."""
        try:
            wait = Wait(
                self.service,
                self.identifiers,
                success_states=self.success_states,
                failure_states=self.failure_states,
                options=self.options,
            )
        except ValueError as exc:
            yield TriggerEvent(error_event({"error_type": "ValueError"}, str(exc)))
            return
        if (remaining := self._remaining()) is not None and remaining <= 0:
            # Restarted past its deadline (the triggerer was down): no connection read, no request.
            yield TriggerEvent(wait.timeout_event(self._timeout_seconds(time.time()), waiter=self.waiter))
            return
        try:
            cls = hook_class(wait.spec.vendor)
            kwargs: dict[str, Any] = {cls.conn_name_attr: self.conn_id, **self.hook_overrides}
            # The hook is not kept: the client (shared by waits on the same connection) is all a poll needs.
            client = await cls(**kwargs).aget_conn()
        except Exception as exc:  # a missing connection or a bad endpoint: say which, then stop
            yield TriggerEvent(wait.error_event({"error_type": type(exc).__name__}, str(exc)))
            return
        shared = COALESCER.key(wait, client)
        if shared is not None:
            COALESCER.join(shared)
        batch = BATCHER.key(wait, client)
        if batch is not None:
            BATCHER.join(batch)
        # The polling loop is written out here, not in a coroutine of its own: every resume of a poll (about
        # seven per request, inside httpx) passes through each frame of the await chain (issue 10).
        try:
            started = time.time()
            outage = Outage()
            first = True
            log = self.log  # a property that looks the logger up on every access
            while True:
                remaining = self._remaining()
                if remaining is not None and remaining <= 0:
                    event = TriggerEvent(
                        wait.timeout_event(self._timeout_seconds(started), outage.describe(), waiter=self.waiter)
                    )
                    break
                poll_started = time.monotonic()
                try:
                    listed = None
                    if batch is not None and BATCHER.crowded(batch, wait.spec) and wait.spec.batch_ready(wait.memory):
                        listed = _listed(
                            wait, await BATCHER.read(batch, wait, client, self.deadline, self.poll_interval)
                        )
                    if listed is not None:
                        snapshot = listed
                    elif shared is None:
                        snapshot = await arun_check(
                            wait.check(wait_seconds=self._long_poll_seconds(wait)), client, deadline=self.deadline
                        )
                    else:
                        # Identical waits share one request; the interval then counts from the shared check's start.
                        snapshot, poll_started = await COALESCER.check(
                            shared,
                            wait,
                            client,
                            wait_seconds=self._long_poll_seconds(wait),
                            deadline=self.deadline,
                            interval=self.poll_interval,
                            first=first,
                        )
                        first = False
                except asyncio.TimeoutError:
                    continue  # a shared check outlived this wait's deadline: the loop reports the timeout
                except CloudApiError as exc:
                    if not exc.outage:
                        log.error("%s: %s", wait.subject, exc)
                        event = TriggerEvent(wait.error_event(exc.to_dict(), str(exc)))
                        break
                    outage.failed(log, wait.subject, exc)
                    await self._sleep(outage.backoff(self.poll_interval))
                    continue
                if outage.streak:  # the subject is a string built from the ids: only when it is logged
                    outage.recovered(log, wait.subject)
                verdict = wait.report(log, snapshot)
                if verdict is not Verdict.WAITING:
                    event = TriggerEvent(wait.event(snapshot, verdict))
                    break
                if wait.memory_changed():
                    # What this check learned (e.g. "the DWS action was seen running") would die with this process:
                    # hand it to the sensor, which defers again with it in the kwargs and the same deadline.
                    event = TriggerEvent(wait.memory_event(deadline=self.deadline, timeout=self.timeout))
                    break
                # The interval is measured from the start of the poll, so a long poll that waited server-side
                # is followed at once by the next one.
                await self._sleep(
                    self.poll_interval * random.uniform(1 - JITTER, 1 + JITTER) - (time.monotonic() - poll_started)
                )
        finally:
            if shared is not None:
                COALESCER.leave(shared)
            if batch is not None:
                BATCHER.leave(batch)
        yield event

    async def _sleep(self, delay: float) -> None:
        remaining = self._remaining()
        if remaining is not None:
            delay = min(delay, remaining)
        if delay > 0:
            await asyncio.sleep(delay)


class Outage:
    """A streak of failed polls (throttling, 5xx, network): logged sparingly, backed off, never a failure."""

    # Backoff between failed polls, from the poll interval up to this cap.
    MAX_BACKOFF = 300.0

    def __init__(self) -> None:
        self.streak = 0
        # Polls of the streak cut off by the wait's own deadline (never answered by the vendor).
        self.cut_off = 0
        self.last: CloudApiError | None = None

    def failed(self, log: Any, subject: str, exc: CloudApiError) -> None:
        """Count a failed poll; log the 1st, 2nd, 4th, 8th... so a long outage costs a few lines, not one a poll."""
        self.streak += 1
        if exc.code == DEADLINE_EXCEEDED:
            # A poll cut off by the wait's own deadline says nothing of the vendor: the timeout message names
            # only what the failed polls before it got.
            self.cut_off += 1
        else:
            self.last = exc
        if self.streak & (self.streak - 1) == 0:
            log.warning("%s: poll failed (%d in a row), waiting on: %s", subject, self.streak, exc)

    def recovered(self, log: Any, subject: str) -> None:
        """A poll answered again."""
        if self.streak:
            log.info("%s: answering again after %d failed polls", subject, self.streak)
        self.streak, self.cut_off, self.last = 0, 0, None

    def backoff(self, interval: float) -> float:
        """Exponential from the poll interval, full jitter, capped."""
        return random.uniform(0.5, 1.0) * min(self.MAX_BACKOFF, interval * 2.0 ** min(self.streak - 1, 16))

    def describe(self) -> str | None:
        """For the timeout message, when the deadline passed during an outage."""
        failed = self.streak - self.cut_off
        if failed <= 0 or self.last is None:
            return None
        return f"the last {failed} poll{'s' if failed > 1 else ''} failed, most recently: {self.last}"
