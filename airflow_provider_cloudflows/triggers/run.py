"""The trigger of the start operators: the generic wait, plus a cancel when a user kills the deferred task.

Airflow 3.3 calls a trigger's ``on_kill()`` when a user acts on the deferred task (mark failed / success,
clear); it never calls it on a triggerer restart, a hand-over to another triggerer or the trigger's own
timeout, which all end in ``cleanup()`` only. So the cancel lives in ``on_kill()`` and ``cleanup()`` is left
to the base class: a restart must never stop billed work the task is still waiting on. On Airflow < 3.3
``on_kill()`` is never called, and a killed deferred task leaves its execution running (the worker-side
``on_kill`` covers the non-deferred wait only).

The kwargs carry the cancel as a registered spec name plus the wait's identifiers (no secret): the
credentials are read from the connection when the cancel runs, as for the wait itself.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions import get_cancel
from airflow_provider_cloudflows.actions.driver import acancel_until_accepted
from airflow_provider_cloudflows.hooks import hook_class
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

# Airflow bounds on_kill by [triggerer] on_kill_timeout (30 s by default); stop a little before it.
ON_KILL_BUDGET = 25.0


class CloudRunTrigger(CloudExecutionTrigger):
    """:class:`CloudExecutionTrigger` that cancels the started execution in :meth:`on_kill`.

    ``cancel`` is ``{"action": <registered cancel spec>, "identifiers": {...}}``, or None when the operator
    does not cancel on kill (``cancel_on_kill=False``) or the vendor has no cancel API.
    """

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
        try:
            spec = get_cancel(str(self.cancel["action"]))
            cls = hook_class(spec.vendor)
            hook = cls(**{cls.conn_name_attr: self.conn_id, **self.hook_overrides})
            client = await hook.aget_conn()
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
