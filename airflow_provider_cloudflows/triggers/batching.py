"""Many waits of one account read in one list call, where the vendor's API can.

A quota counts requests, not executions: Batch ``DescribeJobs`` reads a hundred jobs for the price of one
``DescribeJob``. Waits whose spec declares a ``batch_size`` queue their poll per (account, region, endpoint,
spec, group); one flusher task per queue sends the list call for up to ``batch_size`` queued executions,
through the client's limiter, while the next ones queue behind it. So the calls a crowd costs follow the
quota, not the number of waits: the more waits, the fuller each call.

A list answer proves less than a single one: only a documented state of an item naming the very execution
asked for counts. An item the answer leaves out, repeats, or gives an unknown state is no snapshot: that
wait asks with its own check, as does one whose list read failed for any reason but an outage (one
malformed id must not fail a hundred waits).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.services.base import ServiceSpec, Snapshot
from airflow_provider_cloudflows.services.driver import adrive
from airflow_provider_cloudflows.transport.client import CloudClient, bounded
from airflow_provider_cloudflows.waiting import Wait

log = logging.getLogger(__name__)

# A list call's own deadline: it serves waits with different deadlines (each stops waiting at its own).
CALL_BUDGET = 60.0
# A list answer serves the polls of its key made within this fraction of their interval after the call
# started: polls spread over an interval then share about two calls, as identical waits share one check.
REUSE_FRACTION = 0.5

Key = tuple[Any, ...]


def wait_key(wait: Wait, client: CloudClient[Any], *what: Any) -> Key:
    """Who asks and about what kind of execution (account, region, endpoint, spec), then ``what``: the start
    of every key by which waits share a request, a check (triggers/execution.py) or a list call (here)."""
    api = client.api
    return (type(api), api.account, api.region, api.endpoint, wait.spec.name, *what)


_Waiters = list[asyncio.Future[Snapshot | None]]


class _Queue:
    """The executions of one key waiting for the next list call, in arrival order."""

    __slots__ = ("flusher", "pending")

    def __init__(self) -> None:
        self.pending: dict[str, _Waiters] = {}
        self.flusher: asyncio.Task[None] | None = None


class _Answer:
    """The last list answer of a key: when its call started, what it was asked, what it proved."""

    __slots__ = ("asked", "snapshots", "started")

    def __init__(self, started: float, asked: frozenset[str], snapshots: Mapping[str, Snapshot]) -> None:
        self.started = started
        self.asked = asked
        self.snapshots = snapshots


class Batcher:
    """Queues polls per key and sends one list call per ``batch_size`` of them (see the module doc)."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Key, _Queue]] = (
            weakref.WeakKeyDictionary()
        )
        self._members: dict[Key, int] = {}
        # Running waits per key without its group: the spec's waits on one account and region.
        self._accounts: dict[Key, int] = {}
        self._answers: dict[Key, _Answer] = {}
        self.calls = 0  # list calls sent (tests and benchmarks read them)
        self.items = 0  # executions those calls covered
        self.reused = 0  # polls answered by an earlier list call

    @staticmethod
    def key(wait: Wait, client: CloudClient[Any]) -> Key | None:
        """What makes two waits readable in one call, or None if this wait's spec has no list read."""
        spec = wait.spec
        if not spec.batch_size:
            return None
        return wait_key(wait, client, spec.batch_group(wait.identifiers))

    def join(self, key: Key) -> None:
        """A wait on ``key`` starts polling."""
        for counts, counted in ((self._members, key), (self._accounts, key[:-1])):
            counts[counted] = counts.get(counted, 0) + 1

    def leave(self, key: Key) -> None:
        """A wait on ``key`` ended."""
        for counts, counted in ((self._members, key), (self._accounts, key[:-1])):
            left = counts.get(counted, 0) - 1
            if left > 0:
                counts[counted] = left
            else:
                counts.pop(counted, None)
        if key not in self._members:
            self._answers.pop(key, None)

    def crowded(self, key: Key, spec: ServiceSpec) -> bool:
        """Whether enough waits share ``key`` (and its account) for a list call to pay: a lone wait asks
        with its own, richer check."""
        return (
            self._members.get(key, 0) >= spec.batch_crowd
            and self._accounts.get(key[:-1], 0) >= spec.batch_account_crowd
        )

    async def read(
        self, key: Key, wait: Wait, client: CloudClient[Any], deadline: float | None, interval: float
    ) -> Snapshot | None:
        """This wait's snapshot from a recent list answer of its key, or from the next list call; None when
        the list proves nothing about it (the wait then asks itself). Outages reach the caller as the list
        call's typed error; past the wait's own deadline, ``asyncio.TimeoutError``."""
        spec = wait.spec
        item = spec.batch_item(wait.identifiers)
        answer = self._answers.get(key)
        if (
            answer is not None
            and time.monotonic() - answer.started < interval * REUSE_FRACTION
            and (spec.batch_lists_group or item in answer.asked)
        ):
            self.reused += 1
            return answer.snapshots.get(item)
        loop = asyncio.get_running_loop()
        queues = self._loops.get(loop)
        if queues is None:
            queues = self._loops[loop] = {}
        queue = queues.get(key)
        if queue is None:
            queue = queues[key] = _Queue()
        future: asyncio.Future[Snapshot | None] = loop.create_future()
        queue.pending.setdefault(item, []).append(future)
        if queue.flusher is None:
            queue.flusher = loop.create_task(self._flush(queues, key, queue, spec, client))
        return await bounded(future, None if deadline is None else max(0.0, deadline - time.time()))

    async def _flush(
        self, queues: dict[Key, _Queue], key: Key, queue: _Queue, spec: ServiceSpec, client: CloudClient[Any]
    ) -> None:
        try:
            while queue.pending:
                taken = list(itertools.islice(queue.pending, spec.batch_size))
                waiters = {item: queue.pending.pop(item) for item in taken}
                # Items whose waits all left (finished, cancelled, past their deadline) are not asked for.
                waiters = {item: live for item, fs in waiters.items() if (live := [f for f in fs if not f.done()])}
                if not waiters:
                    continue
                self.calls += 1
                self.items += len(waiters)
                started = time.monotonic()
                try:
                    snapshots = await adrive(
                        spec.read_many(key[-1], list(waiters)), client, deadline=time.time() + CALL_BUDGET
                    )
                except CloudApiError as exc:
                    _answer(waiters, error=exc if exc.outage else None)
                except Exception:
                    log.warning("%s: a list read failed; each wait asks itself", spec.title, exc_info=True)
                    _answer(waiters)
                else:
                    if key in self._members:
                        self._answers[key] = _Answer(started, frozenset(waiters), snapshots)
                    _answer(waiters, snapshots)
        finally:
            queue.flusher = None
            if not queue.pending and queues.get(key) is queue:
                del queues[key]


def _answer(
    waiters: dict[str, _Waiters],
    snapshots: Any = None,
    *,
    error: CloudApiError | None = None,
) -> None:
    for item, futures in waiters.items():
        snapshot = snapshots.get(item) if snapshots is not None else None
        for future in futures:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(snapshot)


BATCHER = Batcher()
