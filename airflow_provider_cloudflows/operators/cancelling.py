"""Cancelling a started execution from the worker, and the words the task's failure message uses for it.

A cancel never raises: its outcome is reported (stopped or not, and why), because it always runs on the way
to failing the task for another reason (a kill, the operator's timeout, a retry that starts anew).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_cloudflows.actions import get_cancel
from airflow_provider_cloudflows.actions.driver import cancel_until_accepted

if TYPE_CHECKING:
    from airflow_provider_cloudflows.transport.client import CloudClient


@dataclass(frozen=True)
class CancelReport:
    """What a cancel did: whether the execution is stopped (or had ended), and the words for a message."""

    stopped: bool
    text: str


def cancel_execution(
    cancel: str | None, record: Mapping[str, Any], client: CloudClient[Any], why: str, *, deadline: float, log: Any
) -> CancelReport:
    """Cancel the recorded execution with the ``cancel`` spec (None: the vendor has none), by ``deadline``."""
    ids = record["identifiers"]
    if cancel is None:
        log.warning("%s: %s, but the vendor has no cancel API for it: it keeps running", ids, why)
        return CancelReport(False, "the vendor has no cancel API for it: it keeps running")
    try:
        outcome = cancel_until_accepted(get_cancel(cancel), ids, client, deadline=deadline, log=log)
    except Exception as exc:
        log.error("%s: %s, and cancelling it failed: %s", ids, why, exc)
        return CancelReport(
            False, f"cancelling it failed ({exc}): the execution may still be running, check the console"
        )
    if outcome.accepted:
        log.warning(
            "%s: %s: cancelled%s [RequestId: %s]",
            ids,
            why,
            f" ({outcome.reason})" if outcome.reason else "",
            outcome.request_id,
        )
        return CancelReport(True, f"it was cancelled [RequestId: {outcome.request_id or 'none'}]")
    log.error("%s: %s, and the cancel was not accepted: %s", ids, why, outcome.reason)
    return CancelReport(
        False,
        f"the cancel was not accepted ({outcome.reason}): the execution may still be running, check the console",
    )
