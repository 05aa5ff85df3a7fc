"""The trigger of the start operators: the generic wait, plus a cancel when a user kills the deferred task.

The cancel is sent only once Airflow confirms the task instance left its deferral. Airflow 3.3 calls a
trigger's ``on_kill()`` when a user acts on the deferred task (mark failed / success, clear), and never on a
restart or the trigger's own timeout; but 3.3.0-3.3.2 also call it on a triggerer that resumes after a
stall and finds its triggers handed over to another one (apache/airflow#73454), while that other triggerer
still waits on the execution. A user's action has already changed the task instance's state when
``on_kill()`` runs; a hand-over has not (it is still DEFERRED). So ``on_kill()`` asks for that state and
cancels only when it is no longer DEFERRED; when it cannot tell, it leaves the execution running and says
why (a cancel can never be taken back; a missed one is visible in the log). ``cleanup()`` is left to the
base class. On Airflow < 3.3 ``on_kill()`` is never called: a killed deferred task leaves its execution
running (the worker-side ``on_kill`` covers the non-deferred wait only).

The kwargs carry the cancel as a registered spec name plus the wait's identifiers (no secret): the
credentials are read from the connection when the cancel runs, as for the wait itself.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions import get_cancel
from airflow_provider_cloudflows.actions.driver import acancel_until_accepted
from airflow_provider_cloudflows.compat import atask_instance_state
from airflow_provider_cloudflows.hooks import build_hook
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

# Airflow bounds on_kill by [triggerer] on_kill_timeout (30 s by default); stop a little before it.
ON_KILL_BUDGET = 25.0
# The task instance state of a wait that is still awaited (by this triggerer or the one it was handed to).
DEFERRED = "deferred"


class CloudRunTrigger(CloudExecutionTrigger):
    """:class:`CloudExecutionTrigger` that cancels the started execution in :meth:`on_kill`.

    ``cancel`` is ``{"action": <registered cancel spec>, "identifiers": {...}}``, or None when the operator
    does not cancel on kill (``cancel_on_kill=False``) or the vendor has no cancel API.
    """

    waiter = "operator"

    def __init__(self, *, cancel: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if cancel is not None:
            get_cancel(str(cancel["action"]))  # fail at construction for an unknown spec, not at kill time
        self.cancel = dict(cancel) if cancel is not None else None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The base kwargs plus the cancel spec's name and identifiers."""
        path, kwargs = super().serialize()
        return path, {**kwargs, "cancel": self.cancel}

    async def on_kill(self) -> None:
        """A user killed the deferred task: cancel the remote execution (errors are logged, never raised)."""
        if not self.cancel:
            self.log.info("%s: not cancelled on kill (cancel_on_kill is off)", self.identifiers)
            return
        still_awaited = await self._still_awaited()
        if still_awaited is not None:
            self.log.warning("%s: not cancelled: %s", self.identifiers, still_awaited)
            return
        try:
            spec = get_cancel(str(self.cancel["action"]))
            client = await build_hook(spec.vendor, self.conn_id, self.hook_overrides).aget_conn()
            outcome = await acancel_until_accepted(
                spec,
                self.cancel["identifiers"],
                client,
                deadline=time.time() + ON_KILL_BUDGET,
                log=self.log,
            )
        except Exception as exc:  # on_kill must not raise: Airflow only logs it, say it clearly ourselves
            self.log.error("%s: cancelling on kill failed: %s", self.identifiers, exc)
            return
        if outcome.accepted:
            self.log.info(
                "%s: cancelled on kill%s [RequestId: %s]",
                self.identifiers,
                f" ({outcome.reason})" if outcome.reason else "",
                outcome.request_id,
            )
        else:
            self.log.error("%s: cancel on kill not accepted: %s", self.identifiers, outcome.reason)

    async def _still_awaited(self) -> str | None:
        """Why the execution may still be awaited (then it must not be cancelled), or None once Airflow
        confirms the task instance left its deferral."""
        ti = self.task_instance
        if ti is None:
            return "the task instance is unknown to this trigger, so its deferral cannot be confirmed as over"
        try:
            state = await atask_instance_state(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        except Exception as exc:
            return f"could not confirm with Airflow that the task left its deferral ({exc})"
        if state == DEFERRED:
            return (
                "the task instance is still deferred (its wait was handed over to another triggerer, "
                "which goes on waiting on the execution)"
            )
        return None
