"""What a start operator keeps of its start across tries, and how a later try reads it.

The record is written to Airflow's ``task_state_store`` *before* the start is sent, so a try that dies while
the write is in flight (a lost answer, a worker killed mid-reply) leaves proof that a write may have been
applied: the next try then looks before it writes. Airflow clears a task instance's XComs when a new try
starts, so only the store carries this across tries (Airflow >= 3.3); without it an unknown outcome fails
the task without retry instead.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from airflow_provider_cloudflows.compat import AirflowException

if TYPE_CHECKING:
    from airflow_provider_cloudflows.actions.base import StartSpec

# task_state_store key of the record: survives into the next try (XComs do not).
STATE_KEY = "cloudflows_execution"


class TaskStateStore(Protocol):
    """The part of Airflow's ``task_state_store`` the operators use."""

    def get(self, key: str) -> Any: ...  # noqa: D102

    def set(self, key: str, value: Any) -> Any: ...  # noqa: D102

    def delete(self, key: str) -> Any: ...  # noqa: D102


class Phase(str, enum.Enum):
    """Where the start of the recorded execution stands."""

    # The start is being sent; until its answer is read, the write may or may not have been applied.
    SENDING = "sending"
    # The start answered with the execution's ids (the record then holds them).
    STARTED = "started"
    # A try failed the task without retry on the start's unknown outcome and told the user to check the
    # console: a later try can only come from a user clearing the task, which asks for a new start.
    REPORTED_UNKNOWN = "reported_unknown"


def phase_of(record: Mapping[str, Any]) -> Phase | None:
    """The record's phase; a record with ids and no phase is a started one."""
    value = record.get("phase")
    if value is None:
        return Phase.STARTED if isinstance(record.get("identifiers"), Mapping) else None
    try:
        return Phase(value)
    except ValueError:
        return None


def sending_record(
    *, start_action: str, call: str, try_number: int, client_token: str | None, sent_at: float
) -> dict[str, Any]:
    """The record written just before a start is sent."""
    return {
        "phase": Phase.SENDING.value,
        "start_action": start_action,
        "call": call,
        "try_number": try_number,
        "client_token": client_token,
        "sent_at": sent_at,
    }


def may_resend(spec: StartSpec, sending: Mapping[str, Any]) -> bool:
    """Whether a later try may send an unanswered start again: the same ClientToken, still honoured."""
    token, sent_at, ttl = sending.get("client_token"), sending.get("sent_at"), spec.client_token_ttl
    if not spec.takes_client_token or not isinstance(token, str) or not token:
        return False
    if ttl is None:
        return True
    return isinstance(sent_at, (int, float)) and time.time() - float(sent_at) < ttl


def write_sending(store: TaskStateStore, record: Mapping[str, Any], task_id: str) -> None:
    """Record that the start is being sent, before it is; a store that cannot take it stops the start unsent."""
    try:
        store.set(STATE_KEY, dict(record))
    except Exception as exc:
        raise AirflowException(
            f"{task_id}: could not record the start before sending it ({exc}); nothing was sent"
        ) from None


def mark_reported_unknown(store: TaskStateStore, sending: Mapping[str, Any], why: str, log: Any) -> None:
    """Say in the record that the start's unknown outcome failed the task (only a user's clear comes next)."""
    try:
        store.set(STATE_KEY, {**dict(sending), "phase": Phase.REPORTED_UNKNOWN.value, "reason": why})
    except Exception as exc:
        log.warning("could not record that the start's outcome was reported unknown: %s", exc)


def forget_refused_start(store: TaskStateStore, log: Any) -> None:
    """Drop the record of a start refused before it was applied."""
    try:
        store.delete(STATE_KEY)
    except Exception as exc:  # the next try would then refuse to start blindly: safe, and said
        log.warning("could not clear the record of a refused start: %s", exc)


def keep_started(store: TaskStateStore, record: Mapping[str, Any], log: Any) -> None:
    """Keep a started execution's record for a retry to reattach to."""
    try:
        store.set(STATE_KEY, dict(record))
    except Exception as exc:  # a store backend outage must not fail a started execution's wait
        log.warning("could not keep the execution ids for a retry to reattach: %s", exc)


def read_previous(store: TaskStateStore, task_id: str) -> Any:
    """The previous try's record, whatever it holds; a store that cannot say fails the task (no blind start)."""
    try:
        return store.get(STATE_KEY)
    except Exception as exc:
        raise AirflowException(
            f"{task_id}: could not read the previous try's record ({exc}); not starting blindly"
        ) from None


# What a retry does about the previous try's start.


@dataclass(frozen=True)
class StartAfresh:
    """Nothing to follow up (first try, no record, or an execution that ended and is not adopted)."""


@dataclass(frozen=True)
class WaitOn:
    """The previous try's execution is still running: wait on it (``record`` holds its ids)."""

    record: dict[str, Any]


@dataclass(frozen=True)
class Adopt:
    """The previous try's execution succeeded and ``on_retry="reattach"``: ``result`` is the task's return."""

    result: dict[str, Any]


@dataclass(frozen=True)
class Resend:
    """The previous try's start was never answered: send it again under the same idempotency key."""

    sending: Mapping[str, Any]


Previous: TypeAlias = StartAfresh | WaitOn | Adopt | Resend
