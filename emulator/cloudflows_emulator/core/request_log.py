"""The request log: every request as the emulator answered it, for tests and the control API."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from cloudflows_emulator.core.executions import ExecutionKey

__all__ = ["RequestLog", "RequestRecord"]


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator answered it.

    ``error`` is the vendor error code, or None for a success. ``fault`` names the injected fault that hit
    the request, if any. ``time`` is when it was answered and ``received`` when it arrived, both wall-clock
    (unix seconds): a long poll is answered up to a minute after it was sent. A request a ``hang`` fault
    never answers is logged when it arrives, with ``status`` 0; a ``trickle`` or ``reset`` answer is logged
    with its real status when it starts to go out.
    """

    vendor: str
    service: str | None
    action: str | None
    key: ExecutionKey | None
    status: int
    error: str | None
    time: float
    fault: str | None = None
    key_id: str | None = None
    received: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (control API)."""
        return {
            "vendor": self.vendor,
            "service": self.service,
            "action": self.action,
            "key": None if self.key is None else list(self.key),
            "status": self.status,
            "error": self.error,
            "time": self.time,
            "fault": self.fault,
            "key_id": self.key_id,
            "received": self.received,
        }


class RequestLog:
    """Requests answered since the last clear, oldest first; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Log one answered request."""
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        """Every logged request, oldest first."""
        with self._lock:
            return list(self._records)

    def count(
        self,
        service: str | None = None,
        action: str | None = None,
        *,
        error: str | None = None,
        ok: bool | None = None,
    ) -> int:
        """How many logged requests match ``service`` / ``action`` (None: any), ``error`` (that code only)
        and ``ok`` (True: successes only, False: failures only)."""
        with self._lock:
            return sum(
                1
                for r in self._records
                if (service is None or r.service == service)
                and (action is None or r.action == action)
                and (error is None or r.error == error)
                and (ok is None or (r.error is None and r.fault is None and r.status < 400) is ok)
            )

    def clear(self) -> None:
        """Forget every logged request."""
        with self._lock:
            self._records.clear()
