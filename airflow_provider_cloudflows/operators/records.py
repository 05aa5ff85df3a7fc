"""What a start operator keeps of its start across tries, and how a later try reads it.

The record is written to Airflow's ``task_state_store`` *before* the start is sent, so a try that dies while
the write is in flight (a lost answer, a worker killed mid-reply) leaves proof that a write may have been
applied: the next try then looks before it writes. Airflow clears a task instance's XComs when a new try
starts, so only the store carries this across tries (Airflow >= 3.3); without it an unknown outcome fails
the task without retry instead.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# task_state_store key of the record: survives into the next try (XComs do not).
STATE_KEY = "cloudflows_execution"


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


@dataclass(frozen=True)
class Previous:
    """What a retry does about the previous try's start: wait on its execution (``record``), adopt its
    success (``result``), or send the same start again under the same idempotency key (``resend``: the
    earlier try's record of it)."""

    record: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    resend: Mapping[str, Any] | None = None
