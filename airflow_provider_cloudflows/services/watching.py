"""Watching a vendor list for executions that finished: the sans-IO sweep contract and the exactly-once state.

A watch spec answers one question per poll, "which executions matching these filters may have finished since
``since``?", as a :class:`Sweep` read as strictly as a wait's answer: an item proves a finished execution only
when its id, a documented final status and its end time are all there, of the documented type. What a sweep
cannot prove is left out of it (and logged by the spec), never guessed.

The generic :class:`WatchState` turns sweeps into "newly finished" exactly once: an execution is reported when
it ended after the watch first started, within the settle window behind the ``horizon``, and is not among the
ids ``seen``. The horizon follows the newest end time reported; the settle window (:data:`SETTLE_SECONDS`) is
the time a vendor's list may take to show an execution that ended (and a clock's skew); ids are kept while
their end is within it. The state is JSON, so it can live in Airflow's asset state store across triggerer
restarts.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeGuard

from airflow_provider_cloudflows.status import ExecutionStatus
from airflow_provider_cloudflows.transport.messages import ApiResponse

__all__ = [
    "SETTLE_SECONDS",
    "FinalStatus",
    "Finished",
    "Sweep",
    "WatchSpec",
    "WatchState",
    "WatchStateError",
]

# An execution that shows up in its vendor's list this long after its end time is still reported once.
SETTLE_SECONDS = 600.0
# The state keeps at most this many ids (the newest ends): a sweep bigger than this is reported, not lost,
# but the oldest ids may then be reported again if the vendor keeps listing them inside the settle window.
MAX_SEEN = 5000


class FinalStatus(str, enum.Enum):
    """Which finished executions a watch reports."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ANY = "any"

    def admits(self, status: ExecutionStatus) -> bool:
        """Whether an execution that ended with ``status`` is reported."""
        if self is FinalStatus.ANY:
            return True
        succeeded = status is ExecutionStatus.SUCCEEDED
        return succeeded if self is FinalStatus.SUCCEEDED else not succeeded

    @classmethod
    def parse(cls, value: Any) -> FinalStatus:
        """The filter named by ``value``, or a ValueError naming the parameter and the choices."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(s.value) for s in cls)
            raise ValueError(f"statuses must be one of {choices}, got {value!r}") from None


@dataclass(frozen=True)
class Finished:
    """One execution a list answer proves finished."""

    id: str
    status: ExecutionStatus  # a final status: SUCCEEDED, FAILED, CANCELLED, TIMED_OUT or BLOCKED
    vendor_status: str
    finished_at: float  # epoch seconds, as the vendor reports the end
    # JSON-safe fields worth handing to the triggered DAG (name, start time, CloudFlow's Output...).
    details: Mapping[str, Any] = field(default_factory=dict)

    def payload(self, watch: str) -> dict[str, Any]:
        """The event's payload: what the triggered DAG run reads from its asset event's ``extra``."""
        return {
            "watch": watch,
            "id": self.id,
            "status": self.status.value,
            "vendor_status": self.vendor_status,
            "finished_at": self.finished_at,
            **dict(self.details),
        }


@dataclass(frozen=True)
class Sweep:
    """What one poll proved: the finished executions it saw, and where the next poll must start listing.

    ``resume_from`` is the earliest start time (epoch seconds) of an execution the sweep saw still running,
    for APIs that filter by start time (an execution started long ago may end later); None when none runs.
    """

    finished: tuple[Finished, ...] = ()
    resume_from: float | None = None


class WatchSpec(abc.ABC):
    """One vendor list API, read for executions that finished."""

    name: ClassVar[str]
    vendor: ClassVar[str]
    title: ClassVar[str]

    @abc.abstractmethod
    def normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the watch's filters, returning their canonical JSON-safe form; a ValueError names the
        offending parameter."""

    @abc.abstractmethod
    def sweep(
        self, params: Mapping[str, Any], since: float, resume_from: float | None
    ) -> Generator[Any, ApiResponse, Sweep]:
        """Yield the calls (every page) listing what may have finished at or after ``since``; return the sweep.

        ``resume_from`` is the previous sweep's; None on the first sweep of a watch.
        """

    def subject(self, params: Mapping[str, Any]) -> str:
        """A human name of what is watched, for messages."""
        return f"{self.title} " + ", ".join(f"{k}={v}" for k, v in params.items() if v not in (None, "", [], {}))


class WatchStateError(ValueError):
    """A stored watch state that is not one this provider wrote."""


@dataclass(frozen=True)
class WatchState:
    """Where a watch stands: everything that ended before ``horizon`` was handled, and so were ``seen``; nothing
    that ended before ``started`` (when the watch first started) is reported."""

    horizon: float
    seen: Mapping[str, float] = field(default_factory=dict)  # id -> end time
    resume_from: float | None = None
    started: float = 0.0

    VERSION: ClassVar[int] = 1

    @classmethod
    def starting_at(cls, now: float) -> WatchState:
        """A new watch: executions that ended before ``now`` are not reported."""
        return cls(horizon=now, started=now)

    def since(self) -> float:
        """The earliest end time a sweep must still list."""
        return self.horizon - SETTLE_SECONDS

    def take(self, sweep: Sweep, statuses: FinalStatus) -> tuple[list[Finished], WatchState]:
        """The executions of ``sweep`` to report now (oldest end first), and the state once they are handled."""
        since = max(self.since(), self.started)
        fresh: dict[str, Finished] = {}
        for item in sweep.finished:
            if item.id in self.seen or item.finished_at < since or item.id in fresh:
                continue
            fresh[item.id] = item
        new = sorted(fresh.values(), key=lambda f: (f.finished_at, f.id))
        return [f for f in new if statuses.admits(f.status)], self.handled(new, resume_from=sweep.resume_from)

    def handled(self, items: Iterable[Finished], *, resume_from: float | None = None) -> WatchState:
        """The state once ``items`` are reported (or filtered out), the horizon following the newest end."""
        seen = dict(self.seen)
        newest = self.horizon
        for item in items:
            seen[item.id] = item.finished_at
            newest = max(newest, item.finished_at)
        keep_from = newest - SETTLE_SECONDS
        kept = sorted(((t, i) for i, t in seen.items() if t >= keep_from), reverse=True)[:MAX_SEEN]
        return replace(self, horizon=newest, seen={i: t for t, i in kept}, resume_from=resume_from)

    def to_json(self) -> dict[str, Any]:
        """The state as stored (plain JSON)."""
        return {
            "version": self.VERSION,
            "horizon": self.horizon,
            "seen": dict(self.seen),
            "resume_from": self.resume_from,
            "started": self.started,
        }

    @classmethod
    def from_json(cls, value: Any) -> WatchState:
        """A stored state; a WatchStateError when ``value`` is not one this provider wrote."""
        if not isinstance(value, Mapping) or value.get("version") != cls.VERSION:
            raise WatchStateError(f"not a watch state of version {cls.VERSION}: {str(value)[:200]}")
        horizon, seen, resume_from = value.get("horizon"), value.get("seen"), value.get("resume_from")
        started = value.get("started")
        if not _is_number(horizon) or not _is_number(started) or not isinstance(seen, Mapping):
            raise WatchStateError(f"a watch state needs a numeric horizon, a start and a seen map: {str(value)[:200]}")
        if resume_from is not None and not _is_number(resume_from):
            raise WatchStateError(f"resume_from is not a number: {resume_from!r}")
        if not all(isinstance(k, str) and _is_number(t) for k, t in seen.items()):
            raise WatchStateError("the seen map must map ids (strings) to end times (numbers)")
        return cls(
            horizon=float(horizon),
            seen={k: float(t) for k, t in seen.items()},
            resume_from=None if resume_from is None else float(resume_from),
            started=float(started),
        )


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
