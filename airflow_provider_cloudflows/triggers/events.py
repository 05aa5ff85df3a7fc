"""What a wait's trigger tells the task: a closed set of event types, and their JSON payloads.

Airflow carries a trigger event to the worker as a JSON dict (``TriggerEvent.payload``) and stores it in
between, so the dict is the wire format: its ``outcome`` key names the kind (``success``, ``failure``,
``timeout``, ``error``, ``memory``), and the other keys are the fields of that kind. The provider builds and
reads only the typed events below; :func:`event_from_payload` is the one place a dict becomes an event, and it
refuses anything that is not exactly one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

# The payload key naming the event's kind.
KIND_KEY = "outcome"


class EventPayloadError(ValueError):
    """A payload that is not one of the provider's trigger events (unknown kind, missing or mistyped field)."""


@dataclass(frozen=True)
class Succeeded:
    """The execution reached a success status; ``state`` is the task's return value (XCom)."""

    kind: ClassVar[str] = "success"
    state: dict[str, Any]
    message: str

    def to_payload(self) -> dict[str, Any]:
        """The JSON-serializable dict for ``TriggerEvent``."""
        return {KIND_KEY: self.kind, "state": dict(self.state), "message": self.message}


@dataclass(frozen=True)
class Failed:
    """The execution reached a failure status (failed, cancelled, timed out or blocked at the vendor)."""

    kind: ClassVar[str] = "failure"
    state: dict[str, Any]
    message: str

    def to_payload(self) -> dict[str, Any]:
        """The JSON-serializable dict for ``TriggerEvent``."""
        return {KIND_KEY: self.kind, "state": dict(self.state), "message": self.message}


@dataclass(frozen=True)
class TimedOut:
    """The wait's deadline passed first; ``state`` is the last one seen, if any."""

    kind: ClassVar[str] = "timeout"
    state: dict[str, Any] | None
    message: str

    def to_payload(self) -> dict[str, Any]:
        """The JSON-serializable dict for ``TriggerEvent``."""
        return {KIND_KEY: self.kind, "state": None if self.state is None else dict(self.state), "message": self.message}


@dataclass(frozen=True)
class Errored:
    """An error that no retry can cure ended the wait (bad credentials, unknown execution, bad connection)."""

    kind: ClassVar[str] = "error"
    error: dict[str, Any]
    message: str

    def to_payload(self) -> dict[str, Any]:
        """The JSON-serializable dict for ``TriggerEvent``."""
        return {KIND_KEY: self.kind, "error": dict(self.error), "message": self.message}


@dataclass(frozen=True)
class MemoryChanged:
    """Not an outcome: the wait learned what its process would forget (a spec's durable memory).

    The task defers again with ``memory`` in the new trigger's kwargs (the only thing that survives a triggerer
    restart) and the same absolute ``deadline``, so deferring again never extends the wait.
    """

    kind: ClassVar[str] = "memory"
    memory: dict[str, Any]
    deadline: float | None
    timeout: float | None
    message: str

    def to_payload(self) -> dict[str, Any]:
        """The JSON-serializable dict for ``TriggerEvent``."""
        return {
            KIND_KEY: self.kind,
            "memory": dict(self.memory),
            "deadline": self.deadline,
            "timeout": self.timeout,
            "message": self.message,
        }


WaitEvent: TypeAlias = Succeeded | Failed | TimedOut | Errored | MemoryChanged


def event_from_payload(payload: Any) -> WaitEvent:
    """The event a payload carries; :class:`EventPayloadError` for an unknown kind or a malformed field.

    A payload without ``message`` reads as its own text, as the task's message.
    """
    if not isinstance(payload, Mapping):
        raise EventPayloadError(f"a trigger event payload is a dict, got {type(payload).__name__}")
    kind = payload.get(KIND_KEY)
    message = payload.get("message", str(dict(payload)))
    if not isinstance(message, str):
        raise EventPayloadError(f"'message' must be text, got {type(message).__name__}")
    if kind == Succeeded.kind:
        return Succeeded(_mapping(payload, "state"), message)
    if kind == Failed.kind:
        return Failed(_mapping(payload, "state"), message)
    if kind == TimedOut.kind:
        return TimedOut(None if payload.get("state") is None else _mapping(payload, "state"), message)
    if kind == Errored.kind:
        return Errored(_mapping(payload, "error"), message)
    if kind == MemoryChanged.kind:
        return MemoryChanged(
            _mapping(payload, "memory"), _seconds(payload, "deadline"), _seconds(payload, "timeout"), message
        )
    known = ", ".join(cls.kind for cls in (Succeeded, Failed, TimedOut, Errored, MemoryChanged))
    raise EventPayloadError(f"unknown trigger event kind {kind!r} (known: {known})")


def _mapping(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, Mapping):
        kind = payload.get(KIND_KEY)
        raise EventPayloadError(f"{key!r} must be a dict in a {kind} event, got {type(value).__name__}")
    return dict(value)


def _seconds(payload: Mapping[str, Any], key: str) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventPayloadError(f"{key!r} must be a number of seconds, got {type(value).__name__}")
    return float(value)
