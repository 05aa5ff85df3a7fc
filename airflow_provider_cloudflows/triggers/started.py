"""The trigger of a sensor that starts in the triggerer: its templated fields are rendered there.

Airflow (3.3+) hands a task with ``start_from_trigger`` straight to the triggerer, which renders those of the
task's templated fields that are both kwargs and attributes of the trigger, under the same names. So the
kwargs carry each templated field of the sensor (ids, connection id, region, project id) unrendered under
its own name, and the trigger reads them only in :meth:`StartedWaitTrigger.run`, once rendered. The wait is
:class:`CloudExecutionTrigger`'s own loop; only its start (rendered fields, a deadline from the triggerer's
absolute timeout of the trigger, which survives a restart) and its last event (the task ended in the
triggerer where Airflow allows it, see :mod:`~airflow_provider_cloudflows.triggers.task_end`) differ.
The triggerer renders with Jinja's sandboxed defaults: a DAG's ``user_defined_macros`` and ``_filters``
(never serialized) and ``render_template_as_native_obj`` do not apply there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any

from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from airflow_provider_cloudflows.compat import TASK_END_EVENTS_RETRY, aextra_dejson, aget_connection
from airflow_provider_cloudflows.consoles import ConsoleLink
from airflow_provider_cloudflows.hooks import build_hook
from airflow_provider_cloudflows.hooks.base import extra_value
from airflow_provider_cloudflows.services import get_service
from airflow_provider_cloudflows.triggers.events import (
    Errored,
    EventPayloadError,
    Failed,
    Succeeded,
    WaitEvent,
    event_from_payload,
)
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from airflow_provider_cloudflows.triggers.from_scheduler import deadline_from, set_fields
from airflow_provider_cloudflows.triggers.task_end import ending_event
from airflow_provider_cloudflows.waiting import error_event

# Jinja's markers: a value still holding one was not rendered (the trigger did not start from the scheduler).
_TEMPLATE_MARKERS = ("{{", "{%")


def _unrendered(value: Any) -> bool:
    return isinstance(value, str) and any(marker in value for marker in _TEMPLATE_MARKERS)


class StartedWaitTrigger(CloudExecutionTrigger):
    """Wait for a cloud execution on behalf of a sensor started in the triggerer.

    ``fields`` (the remaining keyword arguments) are the sensor's templated fields by name;
    ``identifier_fields`` name the ids sent to the API, ``conn_id_field`` the connection id, and
    ``override_fields`` the per-task connection overrides (region, project id); any other field (a console
    link's cluster id) is only rendered. The deadline is the trigger's own timeout (``timeout_after``, set by
    the triggerer) less ``deadline_margin``, which the sensor chose so that the deadline is its timeout and
    this trigger's timeout event comes before Airflow's; without it (a trigger run by hand) it is ``timeout``
    seconds from the start of :meth:`run`.
    A failed execution ends the task in the triggerer unless ``end_failures_in_trigger`` is False (a sensor
    whose ``soft_fail`` or ``never_fail`` turns the failure into a skip, which only the worker does); a
    success unless ``end_successes_in_trigger`` is False (a sensor with ``outlets``: Airflow records their
    asset events only when a worker ends the task). ``push_return_value`` False (``do_xcom_push=False``)
    ends a success without the return value.
    A task ended here is never finalized on a worker, where Airflow resolves extra links: ``links``
    (:class:`~airflow_provider_cloudflows.consoles.ConsoleLink` as JSON) are computed from the rendered fields
    and the connection's extras, as the sensor's links are, and written with the task's end.
    """

    def __init__(
        self,
        *,
        service: str,
        identifier_fields: Iterable[str],
        conn_id_field: str,
        timeout: float,
        deadline_margin: float,
        override_fields: Iterable[str] = (),
        poll_interval: float = 30.0,
        success_states: list[str] | None = None,
        failure_states: list[str] | None = None,
        end_failures_in_trigger: bool = True,
        end_successes_in_trigger: bool = True,
        push_return_value: bool = True,
        links: Iterable[Mapping[str, Any]] = (),
        **fields: Any,
    ) -> None:
        identifier_fields, override_fields = list(identifier_fields), list(override_fields)
        missing = sorted({*identifier_fields, conn_id_field, *override_fields} - set(fields))
        if missing:
            raise ValueError(f"StartedWaitTrigger: no value for the field(s) {missing}")
        super().__init__(
            service=service,
            identifiers={name: fields[name] for name in identifier_fields},
            conn_id=fields[conn_id_field],
            deadline=None,
            timeout=timeout,
            poll_interval=poll_interval,
            success_states=success_states,
            failure_states=failure_states,
        )
        self.identifier_fields = identifier_fields
        self.conn_id_field = conn_id_field
        self.override_fields = override_fields
        self.deadline_margin = float(deadline_margin)
        self.end_failures_in_trigger = end_failures_in_trigger
        self.end_successes_in_trigger = end_successes_in_trigger
        self.push_return_value = push_return_value
        self.links = [ConsoleLink.from_json(link) for link in links]
        self.field_names = set_fields(self, fields, reserved=("timeout_after", "field_names"))
        # Set by the triggerer before run(): the trigger's absolute timeout (the task's ``trigger_timeout``).
        self.timeout_after: datetime | None = None

    def fields(self) -> dict[str, Any]:
        """The templated fields by name (rendered once the triggerer has rendered them)."""
        return {name: getattr(self, name) for name in self.field_names}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The fields under their own names, the roles of the fields, intervals: nothing here is a secret."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "service": self.service,
                "identifier_fields": list(self.identifier_fields),
                "conn_id_field": self.conn_id_field,
                "override_fields": list(self.override_fields),
                "timeout": self.timeout,
                "deadline_margin": self.deadline_margin,
                "poll_interval": self.poll_interval,
                "success_states": self.success_states,
                "failure_states": self.failure_states,
                "end_failures_in_trigger": self.end_failures_in_trigger,
                "end_successes_in_trigger": self.end_successes_in_trigger,
                "push_return_value": self.push_return_value,
                "links": [link.to_json() for link in self.links],
                **self.fields(),
            },
        )

    def absolute_deadline(self) -> float:
        """Epoch seconds: the triggerer's timeout of this trigger less the margin, else ``timeout`` from now."""
        return deadline_from(self.timeout_after, margin=self.deadline_margin, timeout=self.timeout)

    def _start(self) -> Errored | None:
        """Read the rendered fields into the wait's arguments; an error event naming a field left unusable."""
        for name, value in self.fields().items():
            if _unrendered(value):
                return error_event(
                    {"error_type": "ValueError", "field": name},
                    f"{name} was not rendered ({value!r}): this trigger renders its fields only when the "
                    "triggerer starts the task (start_from_trigger)",
                )
        conn_id = getattr(self, self.conn_id_field)
        if not isinstance(conn_id, str) or not conn_id.strip():
            return error_event(
                {"error_type": "ValueError", "field": self.conn_id_field},
                f"{self.conn_id_field} must name a connection, got {conn_id!r}",
            )
        self.conn_id = conn_id
        self.identifiers = {name: getattr(self, name) for name in self.identifier_fields}
        self.hook_overrides = {
            name: value for name in self.override_fields if (value := getattr(self, name)) not in (None, "")
        }
        self.deadline = self.absolute_deadline()
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The wait's loop on the rendered fields; its last event ends the task where the triggerer may."""
        refused = self._start()
        if refused is not None:
            yield self.ending(refused)
            return
        # The parent validates the ids with the service's rules (an error event naming the field).
        async for event in super().run():
            try:
                ended = event_from_payload(event.payload)
            except EventPayloadError:
                yield event
            else:
                xcoms = await self.console_links() if self.ends_in_trigger(ended) else {}
                yield self.ending(ended, xcoms)

    def ends_in_trigger(self, event: WaitEvent) -> bool:
        """Whether ``event`` ends the task here: a success or a failure, each unless the sensor said not to."""
        if not TASK_END_EVENTS_RETRY:
            return False
        if isinstance(event, Succeeded):
            return self.end_successes_in_trigger
        return isinstance(event, Failed) and self.end_failures_in_trigger

    def ending(self, event: WaitEvent, xcoms: Mapping[str, Any] | None = None) -> TriggerEvent:
        """The task's end in the triggerer with ``xcoms``, or the wait's event for the worker."""
        ends = self.ends_in_trigger(event)
        if ends and isinstance(event, Succeeded) and not self.push_return_value:
            # do_xcom_push=False: the links, but no return value, as a worker would push.
            self.log.info("%s", event.message)
            return TaskSuccessEvent(xcoms=dict(xcoms) if xcoms else None)
        return ending_event(event, self.log, xcoms=xcoms, ends_in_trigger=ends)

    async def console_links(self) -> dict[str, str]:
        """The links' XComs, as a worker's ``finalize()`` would write them for the sensor (empty ones left out;
        none when the connection cannot be read: a link never fails the task)."""
        if not self.links:
            return {}
        vendor = get_service(self.service).vendor
        hook = build_hook(vendor, self.conn_id, self.hook_overrides)
        try:
            extra = await aextra_dejson(await aget_connection(hook, self.conn_id))
        except Exception as exc:  # a link must render (or be absent), never fail the task
            self.log.info("console links left out: connection %s not read (%s)", self.conn_id, type(exc).__name__)
            return {}
        fields = self.fields()
        urls = {
            link.xcom_key: link.url(
                fields,
                region=fields.get("region") or extra_value(extra, hook.conn_type, "region"),
                endpoint=extra_value(extra, hook.conn_type, "endpoint"),
                console=extra_value(extra, hook.conn_type, "console"),
                site=extra_value(extra, hook.conn_type, "site"),
            )
            for link in self.links
        }
        return {key: url for key, url in urls.items() if url}
