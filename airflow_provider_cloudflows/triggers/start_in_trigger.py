"""The trigger of a start operator that starts from the triggerer: send the start, then wait as deferred.

The start is sent here only for a start whose request carries a key derived from the task instance
(``actions/task_requests.py``): a triggerer restarted mid-start, or mid-wait, builds the same request from
the same kwargs and task instance, and the vendor answers with the execution the first one started. The
try number is part of that key, so a retry starts afresh where the worker path would (CloudFlow: the first
try's name is adopted or reattached per ``on_retry``, as on the worker). Nothing is kept between the start
and the wait but this process's memory: a restart sends the start again, which is why only such starts
qualify.

The kwargs are the operator's templated fields under their own names (the triggerer renders the operator's
template fields that are also trigger kwargs and attributes), the connection field, the wait's settings and
no secret. The deadline is the task's ``timeout_after`` (absolute, the same after a restart) less a margin,
so the wait's own timeout event comes first and resumes the worker, which fails the task as the deferred
path does (cancelling what was started). The wait is :class:`CloudRunTrigger`'s (cancel on a user's kill
included); its end goes through :func:`ending_event`, and every event that resumes a worker carries the
start's record, which the worker keeps as if it had started the execution itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from airflow_provider_cloudflows.actions import get_start
from airflow_provider_cloudflows.actions.base import Started, StartSpec
from airflow_provider_cloudflows.actions.driver import arun_action
from airflow_provider_cloudflows.actions.task_requests import (
    FROM_TRIGGER,
    TaskKey,
    request_token,
    started_record,
)
from airflow_provider_cloudflows.compat import TASK_END_EVENTS_RETRY
from airflow_provider_cloudflows.errors import CloudApiError, WriteOutcomeUnknown
from airflow_provider_cloudflows.hooks import build_hook
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.triggers.events import (
    Errored,
    Failed,
    Succeeded,
    TimedOut,
    WaitEvent,
    event_from_payload,
)
from airflow_provider_cloudflows.triggers.execution import Outage
from airflow_provider_cloudflows.triggers.from_scheduler import deadline_from, set_fields
from airflow_provider_cloudflows.triggers.run import CloudRunTrigger
from airflow_provider_cloudflows.triggers.task_end import ending_event
from airflow_provider_cloudflows.waiting import error_event

# The payload key of the start's record in an event that resumes the worker.
RECORD_KEY = "record"
# Airflow's timeout of the deferral is the operator's timeout plus this; the wait's own deadline is that
# absolute moment less this, so the wait's timeout event (which cancels) comes before Airflow's.
START_TIMEOUT_MARGIN = 30.0


class StartInTriggerTrigger(CloudRunTrigger):
    """Start the execution (idempotently, by a key derived from the task instance), then wait for it.

    :param start_action: a start spec that may be sent from a trigger (``FROM_TRIGGER``).
    :param conn_field: the name of the kwarg holding the connection id (``tencentcloud_conn_id``...).
    :param hook_fields: the names of the kwargs holding connection overrides (``region``...).
    :param timeout: the operator's timeout (for the timeout's message; the deadline is ``timeout_after``).
    :param cancel_on_kill: cancel the started execution when a user kills the deferred task.
    :param on_retry: the operator's ``on_retry`` (what a later try does with an ended execution).
    :param xcom_key: the XCom the execution's record goes to (what the console links read).
    :param end_failures_in_trigger: end the task in the triggerer on a failed execution (where Airflow
        allows it); False resumes the worker, which fetches the failure's details (a Batch job's logs).
    :param fields: the operator's templated fields the request is built from, by their own names.
    """

    waiter = "operator"

    def __init__(
        self,
        *,
        start_action: str,
        conn_field: str,
        hook_fields: Sequence[str] = (),
        timeout: float,
        poll_interval: float = 30.0,
        cancel_on_kill: bool = True,
        on_retry: str = "reattach",
        xcom_key: str,
        end_failures_in_trigger: bool = True,
        **fields: Any,
    ) -> None:
        spec = get_start(start_action)
        request = FROM_TRIGGER.get(start_action)
        if request is None:
            raise ValueError(f"{start_action} cannot be started from a trigger")
        names = (conn_field, *hook_fields, *request.fields)
        missing = sorted(set(names) - set(fields))
        unknown = sorted(set(fields) - set(names))
        if missing or unknown:
            raise ValueError(f"{start_action}: missing fields {missing}, unknown fields {unknown}")
        super().__init__(
            service=spec.service,
            identifiers={},
            conn_id=str(fields[conn_field]),
            deadline=None,
            timeout=timeout,
            poll_interval=poll_interval,
            cancel=None,
        )
        self.start_action = start_action
        self.conn_field = conn_field
        self.hook_fields = tuple(hook_fields)
        self.cancel_on_kill = cancel_on_kill
        self.on_retry = on_retry
        self.xcom_key = xcom_key
        self.end_failures_in_trigger = end_failures_in_trigger
        self.field_names = set_fields(self, {name: fields[name] for name in names})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The start's kwargs as built (the fields as they are: rendered once the triggerer rendered them)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "start_action": self.start_action,
                "conn_field": self.conn_field,
                "hook_fields": list(self.hook_fields),
                "timeout": self.timeout,
                "poll_interval": self.poll_interval,
                "cancel_on_kill": self.cancel_on_kill,
                "on_retry": self.on_retry,
                "xcom_key": self.xcom_key,
                "end_failures_in_trigger": self.end_failures_in_trigger,
                **{name: getattr(self, name) for name in self.field_names},
            },
        )

    def start_deadline(self) -> float:
        """The absolute end of start and wait: Airflow's ``timeout_after`` less the margin, else (a trigger run
        without one) the operator's timeout from now."""
        return deadline_from(getattr(self, "timeout_after", None), margin=START_TIMEOUT_MARGIN, timeout=self.timeout)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Send the start, then yield the wait's one event (the task's end where Airflow allows it)."""
        spec = get_start(self.start_action)
        deadline = self.deadline = self.start_deadline()
        ti = self.task_instance
        if ti is None:
            yield self._refused(error_event({"error_type": "ValueError"}, "no task instance to derive the key from"))
            return
        task = TaskKey.of(ti)
        token = request_token(spec, task)
        key = f"ClientToken {token}" if token else "its execution name"
        if deadline <= time.time():
            message = f"{task.task_id}: the operator's timeout ({self.timeout:.0f}s) passed before the start was sent"
            yield TriggerEvent(TimedOut(None, message).to_payload())
            return
        self.conn_id = str(getattr(self, self.conn_field))
        self.hook_overrides = {k: v for k in self.hook_fields if (v := getattr(self, k)) is not None}
        try:
            fields = {name: getattr(self, name) for name in FROM_TRIGGER[self.start_action].fields}
            params = FROM_TRIGGER[self.start_action].build(fields, task, self.on_retry)
            client = await build_hook(spec.vendor, self.conn_id, self.hook_overrides).aget_conn()
        except Exception as exc:  # bad input or a bad connection: nothing was sent
            yield self._refused(error_event({"error_type": type(exc).__name__}, f"{task.task_id}: {exc}"))
            return
        try:
            started = await self._send(spec, params, token, client, deadline, task)
        except CloudApiError as exc:  # refused before it was applied: nothing was started
            yield self._refused(error_event(exc.to_dict(), f"{task.task_id}: starting failed: {exc}"))
            return
        if started is None:
            message = (
                f"{task.task_id}: the operator's timeout ({self.timeout:.0f}s) passed while {spec.name}'s answer "
                f"was lost; it may have started an execution: look for {key} in the console"
            )
            yield TriggerEvent(TimedOut(None, message).to_payload())
            return
        self.log.info(
            "started %s: %s%s [RequestId: %s]",
            spec.service,
            dict(started.identifiers),
            f" ({key})" if token else "",
            started.request_id,
        )
        record = started_record(spec, started, try_number=task.try_number, token=token, api=client.api, link_params={})
        self.service = str(record["service"])
        self.identifiers = dict(record["identifiers"])
        self.options = dict(record["wait_options"])
        if self.cancel_on_kill and spec.cancel is not None:
            self.cancel = {"action": spec.cancel, "identifiers": dict(self.identifiers)}
        async for event in super().run():
            yield self._ending(event_from_payload(event.payload), record)

    async def _send(
        self,
        spec: StartSpec,
        params: Mapping[str, Any],
        token: str | None,
        client: CloudClient[Any],
        deadline: float,
        task: TaskKey,
    ) -> Started | None:
        """The start's answer, sent again while it is lost (safe: the request carries its key) until the
        deadline (then None); a refusal is raised."""
        outage = Outage()
        while True:
            try:
                started: Started = await arun_action(spec.start(params, token), client, deadline=deadline)
            except CloudApiError as exc:
                if not _lost(exc):
                    raise
                outage.failed(self.log, f"{task.task_id}: {spec.name}", exc)
                pause = min(outage.backoff(self.poll_interval), deadline - time.time())
                if pause <= 0:
                    return None
                await asyncio.sleep(pause)
                continue
            if outage.streak:
                outage.recovered(self.log, f"{task.task_id}: {spec.name}")
            return started

    def _ending(self, event: WaitEvent, record: Mapping[str, Any]) -> TriggerEvent:
        """The task's end where the triggerer may end it, else the wait's event with the start's record."""
        if isinstance(event, Succeeded) or (isinstance(event, Failed) and self.end_failures_in_trigger):
            result = {**dict(record.get("output") or {}), **event.state}
            final = ending_event(event, self.log, return_value=result, xcoms={self.xcom_key: dict(record)})
            if isinstance(final, (TaskSuccessEvent, TaskFailedEvent)):
                return final
        return TriggerEvent({**event.to_payload(), RECORD_KEY: dict(record)})

    def _refused(self, event: Errored) -> TriggerEvent:
        """A start that could not be sent or was refused: the task fails (retries honoured) in the triggerer
        where Airflow allows it, else on the worker, which raises the message."""
        if TASK_END_EVENTS_RETRY:
            self.log.error("%s", event.message)
            return TaskFailedEvent()
        return TriggerEvent(event.to_payload())

    async def on_kill(self) -> None:
        """Cancel as the run trigger does once started; before, nothing known was started."""
        if not self.identifiers:
            self.log.warning("killed before the start was answered: no execution is known to cancel")
            return
        await super().on_kill()


def _lost(exc: CloudApiError) -> bool:
    """Whether a start's failure left its answer unknown (or the vendor busy): worth sending again, because
    the request carries its idempotency key. An answer that was read and proved nothing is not."""
    if isinstance(exc, WriteOutcomeUnknown):
        return exc.field is None and exc.code != "UndocumentedAnswer"
    return exc.outage
