"""How a trigger that started from the scheduler ends its task: in the triggerer where Airflow allows it.

A finished wait that needs no worker ends the task with ``TaskSuccessEvent`` / ``TaskFailedEvent``, its
XComs (the return value, console links) written by Airflow from the event: no worker process is started to
resume the task. Only from Airflow 3.3.1, where a ``TaskFailedEvent`` honours the task's ``retries``
(:data:`~airflow_provider_cloudflows.compat.TASK_END_EVENTS_RETRY`); before, and for every outcome the worker
must still turn into an exception of its own (the sensor's timeout, which ``soft_fail`` turns into a skip; an
error; a deferral again with the wait's memory), the event resumes the task on a worker as in the deferred
path. A failure's message is logged by the trigger first: it shows in the task's log, from the triggerer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from airflow_provider_cloudflows.compat import TASK_END_EVENTS_RETRY
from airflow_provider_cloudflows.triggers.events import Failed, Succeeded, WaitEvent

# The XCom key of a task's return value.
RETURN_VALUE = "return_value"


def ending_event(
    event: WaitEvent,
    log: logging.Logger | Any,
    *,
    return_value: Any = None,
    xcoms: Mapping[str, Any] | None = None,
    ends_in_trigger: bool = TASK_END_EVENTS_RETRY,
) -> TriggerEvent:
    """The trigger's last event: the task's end where the triggerer may end it, else the wait's event.

    ``return_value`` is the task's XCom on success (the event's state when None); ``xcoms`` are written on
    success and on failure alike (console links).
    """
    extra = dict(xcoms or {})
    if ends_in_trigger and isinstance(event, Succeeded):
        log.info("%s", event.message)
        value = event.state if return_value is None else return_value
        return TaskSuccessEvent(xcoms={RETURN_VALUE: value, **extra})
    if ends_in_trigger and isinstance(event, Failed):
        log.error("%s", event.message)
        return TaskFailedEvent(xcoms=extra or None)
    return TriggerEvent(event.to_payload())
