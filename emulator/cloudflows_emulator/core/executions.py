"""Scripted executions and the store that plays them: what a status read sees at each instant.

An execution's clock starts at its first read, so a slow test setup does not eat into its script. The store
also keeps each product's scratch state between requests (submitted jobs, client tokens, plans), because
that state is reset together with the executions it creates.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Execution", "ExecutionKey", "ExecutionStore", "ExecutionView", "TimedItem"]

ExecutionKey = tuple[str, ...]
"""How an execution is addressed within its service, e.g. ``("job-abcdefgh", "A")`` for a Batch task."""

TimedItem = tuple[float, dict[str, Any]]
"""A ``(offset_seconds, payload)`` pair of a timeline or event log."""

# How long a long-poll sleeps at most before re-reading state, so that a reset, a replaced execution or
# advance() issued from another thread is noticed without waiting for the next scripted step.
_MAX_POLL_SLEEP = 0.25
# Wake just after a scripted step rather than exactly on it, so the re-read is not a hair too early.
_STEP_MARGIN = 0.002


@dataclass
class Execution:
    """A long-running cloud execution whose observable state follows a scripted timeline.

    ``timeline`` lists ``(offset_seconds, payload)`` steps, where ``payload`` holds the vendor-native response
    fields of that phase. The current payload is the last step whose offset is ``<=`` the elapsed time; the
    first step applies from time zero whatever its offset. The clock starts at the first request that reads
    the execution (so slow test setup does not eat into the script), or at registration when
    ``start_immediately`` is set.

    ``events`` is an optional timed event log (for APIs that expose an execution history): an event is
    visible once its offset has passed. ``aliases`` are additional keys that address the same execution.
    """

    service: str
    key: ExecutionKey
    timeline: list[TimedItem]
    events: list[TimedItem] = field(default_factory=list)
    aliases: tuple[ExecutionKey, ...] = ()
    start_immediately: bool = False
    started_at: float | None = field(default=None, compare=False)
    # Seconds added to the elapsed time by Emulator.advance(); it applies before and after the start.
    skipped: float = field(default=0.0, compare=False)
    # Wall-clock time a client stopped it (TerminateJob...), for tests and the control API; None if never.
    stopped_at: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.timeline:
            raise ValueError(f"execution {self.service}{list(self.key)}: the timeline is empty")
        self.key = tuple(str(part) for part in self.key)
        self.aliases = tuple(tuple(str(part) for part in alias) for alias in self.aliases)
        self.timeline = _sorted_items(self.timeline, "timeline")
        self.events = _sorted_items(self.events, "events")

    @property
    def keys(self) -> tuple[ExecutionKey, ...]:
        """The primary key followed by the aliases."""
        return (self.key, *self.aliases)

    def elapsed(self, now: float) -> float:
        """Seconds of script played at monotonic time ``now`` (0 before the clock starts)."""
        started = 0.0 if self.started_at is None else max(0.0, now - self.started_at)
        return started + self.skipped

    def payload_at(self, elapsed: float) -> dict[str, Any]:
        """A deep copy of the payload in force ``elapsed`` seconds into the script."""
        current = self.timeline[0][1]
        for offset, payload in self.timeline:
            if offset > elapsed:
                break
            current = payload
        return copy.deepcopy(current)

    def events_at(self, elapsed: float) -> list[dict[str, Any]]:
        """Deep copies of the events visible ``elapsed`` seconds into the script, in order."""
        return [copy.deepcopy(event) for offset, event in self.events if offset <= elapsed]

    def next_change_after(self, elapsed: float) -> float | None:
        """Offset of the first step or event strictly after ``elapsed``, or None when the script is over."""
        offsets = [offset for offset, _ in itertools.chain(self.timeline, self.events) if offset > elapsed]
        return min(offsets) if offsets else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (control API)."""
        return {
            "service": self.service,
            "key": list(self.key),
            "aliases": [list(alias) for alias in self.aliases],
            "timeline": [[offset, payload] for offset, payload in self.timeline],
            "events": [[offset, event] for offset, event in self.events],
            "start_immediately": self.start_immediately,
            "started": self.started_at is not None,
            "stopped_at": self.stopped_at,
        }


@dataclass(frozen=True)
class ExecutionView:
    """What a request sees of an execution at one instant: elapsed time, payload and visible events."""

    execution: Execution
    elapsed: float
    payload: dict[str, Any]
    events: list[dict[str, Any]]


class ExecutionStore:
    """Executions by ``(service, key)`` (aliases included) and per-product scratch state; thread-safe.

    ``clock`` (monotonic seconds) plays the timelines; ``wall_clock`` (unix seconds) stamps ``stopped_at``.
    """

    def __init__(self, clock: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        self.clock = clock
        self.wall_clock = wall_clock
        self._lock = threading.RLock()
        self._executions: dict[tuple[str, ExecutionKey], Execution] = {}
        self._scratch: dict[str, dict[str, Any]] = {}

    def add(self, execution: Execution) -> Execution:
        """Register ``execution`` under its key and aliases (replacing what they addressed) and return it."""
        with self._lock:
            if execution.start_immediately and execution.started_at is None:
                execution.started_at = self.clock()
            for key in execution.keys:
                self._executions[(execution.service, key)] = execution
        return execution

    def get(self, service: str, key: Sequence[str]) -> Execution | None:
        """The execution registered under ``key``, without starting its clock."""
        with self._lock:
            return self._executions.get((service, tuple(key)))

    def all(self) -> list[Execution]:
        """Every registered execution once (aliases folded)."""
        with self._lock:
            unique = {id(execution): execution for execution in self._executions.values()}
        return list(unique.values())

    def has_key_prefix(self, service: str, prefix: Sequence[str]) -> bool:
        """Whether any execution of ``service`` has a key starting with ``prefix``."""
        prefix = tuple(prefix)
        with self._lock:
            return any(svc == service and key[: len(prefix)] == prefix for svc, key in self._executions)

    def observe(self, service: str, key: Sequence[str]) -> ExecutionView | None:
        """Read an execution as a request does: start its clock if needed and return the current view."""
        with self._lock:
            execution = self._executions.get((service, tuple(key)))
            if execution is None:
                return None
            now = self.clock()
            if execution.started_at is None:
                execution.started_at = now
            elapsed = execution.elapsed(now)
            return ExecutionView(
                execution=execution,
                elapsed=elapsed,
                payload=execution.payload_at(elapsed),
                events=execution.events_at(elapsed),
            )

    async def wait_for(
        self,
        service: str,
        key: Sequence[str],
        done: Callable[[dict[str, Any]], bool],
        timeout: float,
    ) -> ExecutionView | None:
        """Long-poll: the view once ``done(payload)`` holds or ``timeout`` seconds have passed; None if the
        execution does not exist. Sleeps until the next scripted step without blocking the event loop."""
        deadline = self.clock() + timeout
        while True:
            view = self.observe(service, key)
            if view is None or done(view.payload):
                return view
            remaining = deadline - self.clock()
            if remaining <= 0:
                return view
            next_change = view.execution.next_change_after(view.elapsed)
            pause = min(remaining, _MAX_POLL_SLEEP)
            if next_change is not None:
                pause = min(pause, next_change - view.elapsed + _STEP_MARGIN)
            await asyncio.sleep(max(pause, 0.0))

    def stop(
        self,
        service: str,
        key: Sequence[str],
        update: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        after: float = 0.0,
    ) -> Execution | None:
        """Drop the rest of an execution's script and serve ``update(current payload)`` from ``after``
        seconds on, marking it ``stopped_at``; None if no such execution exists."""
        with self._lock:
            execution = self._executions.get((service, tuple(key)))
            if execution is None:
                return None
            now = self.clock()
            if execution.started_at is None:
                execution.started_at = now
            elapsed = execution.elapsed(now)
            current = execution.payload_at(elapsed)
            kept = [(offset, payload) for offset, payload in execution.timeline if offset <= elapsed]
            execution.timeline = [*kept, (elapsed + after, update(copy.deepcopy(current)))]
            execution.stopped_at = self.wall_clock()
            return execution

    def scratch(self, name: str) -> dict[str, Any]:
        """A product's mutable state between requests, reset with the executions."""
        with self._lock:
            return self._scratch.setdefault(name, {})

    def advance(self, seconds: float) -> None:
        """Move every execution's script ``seconds`` forward."""
        with self._lock:
            for execution in self.all():
                execution.skipped += seconds

    def clear(self) -> None:
        """Forget every execution and all scratch state."""
        with self._lock:
            self._executions.clear()
            self._scratch.clear()


def _sorted_items(items: Iterable[Sequence[Any]], what: str) -> list[TimedItem]:
    result: list[TimedItem] = []
    for item in items:
        if len(item) != 2:
            raise ValueError(f"{what}: each entry must be an (offset_seconds, payload) pair, got {item!r}")
        offset, payload = item
        if not isinstance(offset, int | float) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"{what}: offsets must be non-negative numbers, got {offset!r}")
        if not isinstance(payload, dict):
            raise ValueError(f"{what}: payloads must be dicts, got {type(payload).__name__}")
        result.append((float(offset), payload))
    # sorted() is stable: steps sharing an offset keep their order and the last one wins.
    return sorted(result, key=lambda item: item[0])
