"""The worker side of a wait, shared by sensors and operators: one bounded check, the deferral's own timeout,
and the trigger's event turned into the task's outcome.

A sensor and an operator differ only in what an outcome costs them (an operator returns the start reply's
fields with the state, reports a failure's details, cancels on its timeout); everything else is here, once,
and each says what differs through an :class:`Ending`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from airflow_provider_cloudflows.compat import AirflowException
from airflow_provider_cloudflows.errors import CloudApiError, CloudExecutionFailed
from airflow_provider_cloudflows.services.driver import run_check
from airflow_provider_cloudflows.triggers.events import (
    Errored,
    EventPayloadError,
    Failed,
    MemoryChanged,
    Succeeded,
    TimedOut,
    WaitEvent,
    event_from_payload,
)

if TYPE_CHECKING:
    from airflow_provider_cloudflows.hooks.base import CloudHook
    from airflow_provider_cloudflows.services.base import Snapshot
    from airflow_provider_cloudflows.status import Verdict
    from airflow_provider_cloudflows.waiting import LogSink, Wait

# A worker-side check (the first one before deferring, a poke, a poll) spends at most this long, retries
# included, and never more than what is left of the task's own timeout.
CHECK_BUDGET = 60.0
# Airflow's own defer timeout fires this long after the trigger's deadline, so that the provider's timeout
# event (naming the last state seen, cancelling for an operator) wins the race; Airflow's stays the backstop
# when no triggerer runs.
DEFER_TIMEOUT_MARGIN = 30.0


@dataclass(frozen=True)
class Observation:
    """A check that answered: the snapshot, and what the wait makes of it."""

    snapshot: Snapshot
    verdict: Verdict


@dataclass(frozen=True)
class CheckFailed:
    """A check that failed transiently (throttled, 5xx, network): not an outcome, the wait goes on."""

    error: CloudApiError


def check_deadline(cap: float | None, *, budget: float = CHECK_BUDGET) -> float:
    """The deadline of one check: ``budget`` seconds from now, never past ``cap`` (the task's own deadline)."""
    end = time.time() + budget
    return end if cap is None else min(end, cap)


def check_once(wait: Wait, hook: CloudHook, *, deadline: float, log: LogSink) -> Observation | CheckFailed:
    """One check from the worker; an error no retry cures fails the task, naming the execution.

    A transient failure (of the check, or of the client's setup, e.g. a project lookup) is logged and
    returned: the worker's rate limiter knows nothing of the triggerer's traffic, so a first check may well
    be throttled when hundreds of waits share an account.
    """
    try:
        snapshot = run_check(wait.check(wait_seconds=0.0), hook.get_conn(), deadline=deadline)
    except CloudApiError as exc:
        if exc.retryable:
            log.warning("%s: check failed transiently, waiting on: %s", wait.subject, exc)
            return CheckFailed(exc)
        raise AirflowException(f"{wait.subject}: {exc}") from None
    return Observation(snapshot, wait.report(log, snapshot))


def defer_timeout(remaining: float) -> timedelta:
    """Airflow's own timeout of a deferral whose trigger ends in ``remaining`` seconds.

    Airflow enforces it even if the trigger were lost. Counted from the wait's absolute deadline by the
    caller, so deferring again never extends the task's timeout.
    """
    return timedelta(seconds=max(0.0, remaining) + DEFER_TIMEOUT_MARGIN)


def read_event(payload: Any) -> WaitEvent:
    """The trigger's event; anything else fails the task, naming what came."""
    try:
        return event_from_payload(payload)
    except EventPayloadError as exc:
        raise AirflowException(f"unexpected trigger event ({exc}): {payload!r}") from None


class Ending(Protocol):
    """What a task does with each outcome of its deferred wait."""

    def succeeded(self, state: dict[str, Any]) -> Any:
        """The task's return value (XCom) for the final state."""

    def failed(self, state: dict[str, Any]) -> None:
        """Called before the task fails on a failed execution (e.g. to fetch its logs)."""

    def timed_out(self, message: str) -> NoReturn:
        """Fail the task on the wait's own timeout."""

    def defer_again(self, memory: dict[str, Any], deadline: float) -> None:
        """Defer again with the memory the trigger handed back, ending at the same absolute ``deadline``."""


def conclude(event: WaitEvent, ending: Ending, log: LogSink) -> Any:
    """Turn the trigger's event into the task's outcome: the return value, a deferral, or an exception."""
    if isinstance(event, Succeeded):
        log.info("%s", event.message)
        return ending.succeeded(event.state)
    if isinstance(event, Failed):
        ending.failed(event.state)
        raise CloudExecutionFailed(event.message)
    if isinstance(event, TimedOut):
        ending.timed_out(event.message)
    if isinstance(event, Errored):
        raise AirflowException(event.message)
    if isinstance(event, MemoryChanged):
        if event.deadline is None:
            raise AirflowException(f"unexpected trigger event (a memory event needs a deadline): {event!r}")
        return ending.defer_again(event.memory, event.deadline)
    raise AirflowException(f"unexpected trigger event: {event!r}")
