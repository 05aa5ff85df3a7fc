"""A configured wait, shared by the trigger and the sensors: classify, report changes, build events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from airflow_provider_cloudflows.services import get_service
from airflow_provider_cloudflows.services.base import Check, CheckContext, ServiceSpec, Snapshot
from airflow_provider_cloudflows.status import ExecutionStatus, Verdict, show
from airflow_provider_cloudflows.triggers.events import Errored, Failed, MemoryChanged, Succeeded, TimedOut


class LogSink(Protocol):
    """Anything that logs like ``logging.Logger`` (Airflow hands out structlog-backed loggers)."""

    def info(self, event: Any, *args: Any, **kw: Any) -> Any: ...  # noqa: D102

    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...  # noqa: D102


class Wait:
    """One service, one execution, the user's state overrides: everything but I/O."""

    def __init__(
        self,
        service: str | ServiceSpec,
        identifiers: Mapping[str, Any],
        *,
        success_states: Iterable[Any] | None = None,
        failure_states: Iterable[Any] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.spec = get_service(service) if isinstance(service, str) else service
        self.identifiers = self.spec.normalize(identifiers)
        table = self.spec.table
        self.success_states = table.validate_overrides("success_states", success_states)
        self.failure_states = table.validate_overrides("failure_states", failure_states)
        if self.success_states and self.failure_states and self.success_states & self.failure_states:
            raise ValueError(
                f"success_states and failure_states overlap: {sorted(self.success_states & self.failure_states)}"
            )
        self.options = {k: v for k, v in (options or {}).items() if k != "memory"}
        self.memory: dict[str, Any] = dict((options or {}).get("memory") or {})
        # What the kwargs already hold of the memory a spec declares decisive (``durable_memory``): a change
        # to it is handed back to the sensor (one task resume), everything else is a per-process convenience.
        self._durable_keys: tuple[str, ...] = tuple(getattr(self.spec, "durable_memory", ()))
        self._durable_sent = self.durable_memory()
        self._unknown_warned: set[str] = set()
        # The last observation, so that each check logs only what changed since the one before.
        self.last: Snapshot | None = None

    @property
    def subject(self) -> str:
        """E.g. ``Tencent EMR flow instance_id=emr-123, flow_id=42``."""
        return self.spec.subject(self.identifiers)

    def trigger_options(self) -> dict[str, Any]:
        """Options plus the memory gathered so far, for the trigger's kwargs."""
        return {**self.options, "memory": dict(self.memory)} if self.memory else dict(self.options)

    def durable_memory(self) -> dict[str, Any]:
        """The part of the memory that must survive a triggerer restart (declared by the spec)."""
        return {key: self.memory[key] for key in self._durable_keys if key in self.memory}

    def memory_changed(self) -> bool:
        """Whether a check changed the durable memory since the kwargs were written."""
        return self.durable_memory() != self._durable_sent

    def memory_event(self, *, deadline: float | None, timeout: float | None) -> MemoryChanged:
        """The trigger event handing the memory back; ``deadline`` travels so re-deferring never extends it."""
        return MemoryChanged(
            memory=dict(self.memory),
            deadline=deadline,
            timeout=timeout,
            message=f"{self.subject}: memory changed ({sorted(self.durable_memory())}), deferring again",
        )

    def verdict(self, vendor_status: Any) -> Verdict:
        """Success, failure or keep waiting, after the user's overrides."""
        return self.spec.table.verdict(vendor_status, self.success_states, self.failure_states)

    def check(self, *, wait_seconds: float = 0.0) -> Check:
        """A fresh sans-IO check of the execution."""
        ctx = CheckContext(verdict=self.verdict, wait_seconds=wait_seconds, options=self.options, memory=self.memory)
        return self.spec.check(self.identifiers, ctx)

    def report(self, log: LogSink, current: Snapshot) -> Verdict:
        """Log transitions (not one line per poll), warnings and an unknown vendor value once; judge ``current``."""
        previous, self.last = self.last, current
        for line in self.spec.changes(previous, current):
            log.info("%s: %s", self.subject, line)
        if previous is None or previous.vendor_status != current.vendor_status:
            for warning in self.spec.warnings(current):
                log.warning("%s: %s", self.subject, warning)
        if current.status is ExecutionStatus.UNKNOWN and current.vendor_status is not None:
            key = show(current.vendor_status)
            if key not in self._unknown_warned:
                self._unknown_warned.add(key)
                log.warning(
                    "%s: %s %s is not a documented state; treating it as not finished and waiting on (RequestId %s)",
                    self.subject,
                    self.spec.table.vendor_field,
                    key,
                    current.request_id,
                )
        return self.verdict(current.vendor_status)

    def state(self, snapshot: Snapshot) -> dict[str, Any]:
        """The execution's state as a JSON-safe dict: the sensor's return value (XCom)."""
        return {
            "service": self.spec.name,
            "identifiers": dict(self.identifiers),
            "status": snapshot.status.value,
            "vendor_status": snapshot.vendor_status,
            "progress": snapshot.progress,
            "reason": snapshot.reason,
            "request_id": snapshot.request_id,
            **snapshot.details,
        }

    def event(self, snapshot: Snapshot, verdict: Verdict) -> Succeeded | Failed:
        """The trigger event for a terminal observation (``verdict`` success or failure)."""
        if verdict is Verdict.WAITING:
            raise ValueError(f"{self.subject}: a waiting observation ends nothing")
        ending = Succeeded if verdict is Verdict.SUCCESS else Failed
        return ending(state=self.state(snapshot), message=self.describe(snapshot))

    def describe(self, snapshot: Snapshot) -> str:
        """One line naming the vendor status, the reason and the RequestId."""
        text = (
            f"{self.subject} is {snapshot.status.value} ({self.spec.table.vendor_field}={show(snapshot.vendor_status)})"
        )
        if snapshot.reason:
            text += f": {snapshot.reason}"
        return text + f" [RequestId: {snapshot.request_id or 'none'}]"

    def timeout_event(self, waited: float, outage: str | None = None, *, waiter: str = "sensor") -> TimedOut:
        """The trigger event when the wait's deadline passes first (``outage``: why the last polls failed;
        ``waiter``: whose timeout it is, a sensor's or an operator's)."""
        last = self.last
        message = f"{self.subject} did not finish within the {waiter}'s timeout ({waited:.0f}s)"
        if last is not None:
            message += f"; last seen {last.status.value} ({self.spec.table.vendor_field}={show(last.vendor_status)})"
        if outage:
            message += f"; {outage}"
        return TimedOut(state=self.state(last) if last else None, message=message)

    def error_event(self, error: Mapping[str, Any], message: str) -> Errored:
        """The trigger event when an API error ends the wait."""
        return error_event(error, f"{self.subject}: {message}")


def error_event(error: Mapping[str, Any], message: str) -> Errored:
    """An error event; also used before a :class:`Wait` exists (invalid identifiers)."""
    return Errored(error=dict(error), message=message)
