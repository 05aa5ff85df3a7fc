"""The one trigger: polls any registered service until a terminal status, an error or the deadline."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.hooks import build_hook
from airflow_provider_cloudflows.services.base import Snapshot
from airflow_provider_cloudflows.services.driver import arun_check
from airflow_provider_cloudflows.status import ExecutionStatus, Verdict
from airflow_provider_cloudflows.transport.retry import DEADLINE_EXCEEDED
from airflow_provider_cloudflows.triggers.batching import BATCHER
from airflow_provider_cloudflows.triggers.coalescing import COALESCER
from airflow_provider_cloudflows.triggers.events import WaitEvent
from airflow_provider_cloudflows.waiting import Wait, error_event

MAX_LONG_POLL = 60.0
# Long polls end a little before the deadline so the timeout event is not late by a whole request.
LONG_POLL_MARGIN = 1.0
JITTER = 0.1


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
            yield TriggerEvent(error_event({"error_type": "ValueError"}, str(exc)).to_payload())
            return
        if (remaining := self._remaining()) is not None and remaining <= 0:
            # Restarted past its deadline (the triggerer was down): no connection read, no request.
            yield TriggerEvent(wait.timeout_event(self._timeout_seconds(time.time()), waiter=self.waiter).to_payload())
            return
        try:
            # The hook is not kept: the client (shared by waits on the same connection) is all a poll needs.
            client = await build_hook(wait.spec.vendor, self.conn_id, self.hook_overrides).aget_conn()
        except Exception as exc:  # a missing connection or a bad endpoint: say which, then stop
            yield TriggerEvent(wait.error_event({"error_type": type(exc).__name__}, str(exc)).to_payload())
            return
        shared = COALESCER.key(wait, client)
        if shared is not None:
            COALESCER.join(shared)
        batch = BATCHER.key(wait, client)
        if batch is not None:
            BATCHER.join(batch)
        # The polling loop is written out here, not in a coroutine of its own: every resume of a poll (about
        # seven per request, inside httpx) passes through each frame of the await chain.
        event: WaitEvent
        try:
            started = time.time()
            outage = Outage()
            first = True
            log = self.log  # a property that looks the logger up on every access
            while True:
                remaining = self._remaining()
                if remaining is not None and remaining <= 0:
                    event = wait.timeout_event(self._timeout_seconds(started), outage.describe(), waiter=self.waiter)
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
                        event = wait.error_event(exc.to_dict(), str(exc))
                        break
                    outage.failed(log, wait.subject, exc)
                    await self._sleep(outage.backoff(self.poll_interval))
                    continue
                if outage.streak:  # the subject is a string built from the ids: only when it is logged
                    outage.recovered(log, wait.subject)
                verdict = wait.report(log, snapshot)
                if verdict is not Verdict.WAITING:
                    event = wait.event(snapshot, verdict)
                    break
                if wait.memory_changed():
                    # What this check learned (e.g. "the DWS action was seen running") would die with this process:
                    # hand it to the sensor, which defers again with it in the kwargs and the same deadline.
                    event = wait.memory_event(deadline=self.deadline, timeout=self.timeout)
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
        yield TriggerEvent(event.to_payload())

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
