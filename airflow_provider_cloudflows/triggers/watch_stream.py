"""The poll behind an asset watcher, and where its state is committed: only once Airflow stored the events.

Airflow 3.3 runs an event trigger that declares a shared stream in *ack mode*: a producer yields raw events, the
triggerer turns them into trigger events, stores them in the metadata database, and only then calls the
producer's ``advance()`` with the events it confirmed. The watch commits its state (``WatchState``: the horizon
and the ids seen) to the watched assets' state store there, and nowhere earlier. So an execution is never
lost: a triggerer killed before the confirmation reports it again from the last committed state. It is
reported twice only when the triggerer dies in the moment between Airflow storing the event and the commit
(one state sync, about a second): Airflow gives a trigger no way to make the two one transaction.

Below Airflow 3.3 there is no ack mode and no asset state store: the watch keeps its state in memory, starting
at the time the triggerer starts it, so a restarted watch never reports an execution twice but misses those
that finished while no triggerer ran it (at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.services.driver import adrive
from airflow_provider_cloudflows.services.watching import (
    FinalStatus,
    Finished,
    Sweep,
    WatchSpec,
    WatchState,
    WatchStateError,
)
from airflow_provider_cloudflows.transport.client import CloudClient

log = logging.getLogger(__name__)

# The key of a watch's state in each watched asset's state store.
STATE_KEY = "cloudflows_watch"
# Airflow links assets whose watchers have identical arguments to one trigger, whose state store then
# answers only by asset (a ValueError naming them): such a watch keeps its state in memory.
SHARED_TRIGGER = (
    "this watcher's trigger watches several assets (identical watcher arguments), so it keeps its state in "
    "memory: give each asset's watcher distinct arguments (e.g. another poll_interval)"
)
# One sweep (all its pages, retries included) spends at most this long.
SWEEP_BUDGET = 120.0
# Failed sweeps back off from the poll interval up to this long.
MAX_BACKOFF = 300.0
JITTER = 0.1


class StateStore(Protocol):
    """What a watch needs of an asset state store (Airflow's ``AssetStateStoreAccessors``)."""

    async def aget(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""

    async def aset(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON) under ``key``."""


class Sweeper:
    """Sweeps one watch's list at its interval, backing off while the vendor fails (never giving up: a
    watcher has no task to fail; every failure is logged, sparingly during a streak)."""

    def __init__(
        self,
        spec: WatchSpec,
        params: Mapping[str, Any],
        client: CloudClient[Any],
        *,
        poll_interval: float,
        logger: logging.Logger | Any = log,
    ) -> None:
        self.spec = spec
        self.params = dict(params)
        self.client = client
        self.poll_interval = poll_interval
        self.log = logger
        self.subject = spec.subject(self.params)
        self.failures = 0

    async def sweep(self, state: WatchState) -> Sweep | None:
        """One sweep from ``state``; None when it failed (logged)."""
        try:
            result = await adrive(
                self.spec.sweep(self.params, state.since(), state.resume_from),
                self.client,
                deadline=time.time() + SWEEP_BUDGET,
            )
        except CloudApiError as exc:
            self.failures += 1
            if self.failures & (self.failures - 1) == 0:  # the 1st, 2nd, 4th, 8th... failure of a streak
                level = logging.WARNING if exc.retryable else logging.ERROR
                self.log.log(level, "%s: sweep failed (%d in a row): %s", self.subject, self.failures, exc)
            return None
        if self.failures:
            self.log.info("%s: answering again after %d failed sweeps", self.subject, self.failures)
        self.failures = 0
        return result

    async def pause(self) -> None:
        """The wait before the next sweep: the interval with jitter, longer during a failure streak."""
        if self.failures:
            step = min(MAX_BACKOFF, self.poll_interval * 2.0 ** min(self.failures - 1, 16))
            delay = max(self.poll_interval, random.uniform(0.5, 1.0) * step)
        else:
            delay = self.poll_interval * random.uniform(1 - JITTER, 1 + JITTER)
        await asyncio.sleep(delay)


SweeperFactory = Callable[[], Awaitable[Sweeper]]


async def ready_sweeper(factory: SweeperFactory, logger: logging.Logger | Any = log) -> Sweeper:
    """The watch's sweeper, once its connection can be read (a missing connection or a bad endpoint is logged
    and tried again with backoff: a watcher has no task to fail)."""
    failures = 0
    while True:
        try:
            return await factory()
        except Exception as exc:
            failures += 1
            logger.error("the watch cannot read its connection (try %d): %s: %s", failures, type(exc).__name__, exc)
            await asyncio.sleep(min(MAX_BACKOFF, 2.0**failures))


async def follow_in_memory(factory: SweeperFactory, statuses: FinalStatus) -> AsyncIterator[Finished]:
    """Every execution that finishes from now on, once while this process runs (Airflow < 3.3)."""
    sweeper = await ready_sweeper(factory)
    state = WatchState.starting_at(time.time())
    while True:
        sweep = await sweeper.sweep(state)
        if sweep is not None:
            new, state = state.take(sweep, statuses)
            for item in new:
                yield item
        await sweeper.pause()


# --- ack mode (Airflow >= 3.3) -----------------------------------------------------------------------------

# The asset state stores of the watchers subscribed to each shared stream, by trigger id: the producer of a
# stream commits to every one of them. Filled by the subscribing triggers (which hold their stores) before the
# triggerer creates the stream's producer, which it builds from kwargs only.
_SUBSCRIBERS: dict[Hashable, dict[int | None, StateStore]] = {}


def subscribe(key: Hashable, trigger_id: int | None, store: StateStore) -> None:
    """A watcher with ``store`` joins the stream ``key``."""
    _SUBSCRIBERS.setdefault(key, {})[trigger_id] = store


def unsubscribe(key: Hashable, trigger_id: int | None) -> None:
    """A watcher leaves the stream ``key``."""
    stores = _SUBSCRIBERS.get(key)
    if stores is not None:
        stores.pop(trigger_id, None)
        if not stores:
            del _SUBSCRIBERS[key]


def subscribers(key: Hashable) -> list[StateStore]:
    """The stores of the watchers on the stream ``key``."""
    return list(_SUBSCRIBERS.get(key, {}).values())


async def load_state(stores: Iterable[StateStore], now: float, logger: logging.Logger | Any = log) -> WatchState:
    """The committed state of a stream: the earliest horizon and every id seen among its watchers' stores
    (a store that holds none starts at ``now``; one holding something else is logged and starts there too)."""
    states: list[WatchState] = []
    for store in stores:
        try:
            stored = await store.aget(STATE_KEY)
        except ValueError as exc:
            logger.error("%s; %s", exc, SHARED_TRIGGER)
            states.append(WatchState.starting_at(now))
            continue
        if stored is None:
            states.append(WatchState.starting_at(now))
            continue
        try:
            states.append(WatchState.from_json(stored))
        except WatchStateError as exc:
            logger.error("the stored watch state is not readable, starting from now: %s", exc)
            states.append(WatchState.starting_at(now))
    if not states:
        return WatchState.starting_at(now)
    seen: dict[str, float] = {}
    for state in states:
        seen.update(state.seen)
    starts = [s.resume_from for s in states if s.resume_from is not None]
    return WatchState(
        horizon=min(s.horizon for s in states),
        seen=seen,
        resume_from=min(starts) if starts else None,
        started=min(s.started for s in states),
    )


async def save_state(stores: Iterable[StateStore], state: WatchState) -> None:
    """Commit ``state`` to every watcher's store (one that cannot be addressed keeps nothing: see
    :data:`SHARED_TRIGGER`)."""
    value = state.to_json()
    for store in stores:
        with contextlib.suppress(ValueError):
            await store.aset(STATE_KEY, value)


class WatchProducer:
    """The broker side of a watch in ack mode: sweeps, yields each newly finished execution once, and
    commits the state as Airflow confirms the events (see the module docstring).

    It implements Airflow's ``SharedStreamProducer`` protocol (``open_stream``, ``advance``, ``aclose``);
    the trigger wraps it in that class, which exists only from 3.3.
    """

    def __init__(self, key: Hashable, watch: str, sweeper_factory: SweeperFactory, statuses: FinalStatus) -> None:
        self.key = key
        self.watch = watch
        self.sweeper_factory = sweeper_factory
        self.statuses = statuses
        # Yielded to Airflow, not yet confirmed stored: reported again after a restart.
        self.pending: dict[str, Finished] = {}
        self.state: WatchState | None = None
        self.committed: dict[str, Any] | None = None

    def _committable(self) -> WatchState:
        """The state without what Airflow has not confirmed yet."""
        assert self.state is not None
        if not self.pending:
            return self.state
        return replace(self.state, seen={i: t for i, t in self.state.seen.items() if i not in self.pending})

    async def _commit(self) -> None:
        state = self._committable()
        value = state.to_json()
        if value != self.committed:
            await save_state(subscribers(self.key), state)
            self.committed = value

    async def open_stream(self) -> AsyncIterator[tuple[dict[str, Any], str]]:
        """``(event payload, execution id)`` for each execution that finished, forever."""
        sweeper = await ready_sweeper(self.sweeper_factory)
        self.state = await load_state(subscribers(self.key), time.time(), sweeper.log)
        self.committed = self.state.to_json()
        while True:
            sweep = await sweeper.sweep(self.state)
            if sweep is not None:
                new, self.state = self.state.take(sweep, self.statuses)
                for item in new:
                    self.pending[item.id] = item
                    yield item.payload(self.watch), item.id
                await self._commit()  # what the statuses filtered out, and the horizon
            await sweeper.pause()

    async def advance(self, batch: Sequence[Any]) -> None:
        """Airflow resolved these events: commit the stored ones; report again those it failed to store."""
        assert self.state is not None
        retry: list[str] = []
        for item in batch:
            execution_id = str(item.broker_payload)
            if self.pending.pop(execution_id, None) is None:
                continue
            if not item.outcome.acked:  # failed to store, or no watcher was there to take it
                retry.append(execution_id)
        if retry:
            # Not stored: forgotten, so the next sweep reports them again.
            self.state = replace(self.state, seen={i: t for i, t in self.state.seen.items() if i not in retry})
        await self._commit()

    async def aclose(self) -> None:
        """Nothing to release: the client's pool is shared."""
