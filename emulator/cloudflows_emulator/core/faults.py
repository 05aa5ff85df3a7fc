"""Injected faults: what they are and the queue that hands them to requests in injection order.

Which services a fault may name is the facade's knowledge (the handlers it serves), not this module's.
"""

from __future__ import annotations

import contextvars
import enum
import itertools
import threading
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_TRICKLE_INTERVAL",
    "TRICKLE_CHUNK",
    "Fault",
    "FaultKind",
    "FaultQueue",
    "signature_skew",
]

# A trickled body sends this many bytes per pause, and a skewed clock is an hour off (past Tencent's
# 5-minute and Alibaba's and Huawei's 15-minute windows).
TRICKLE_CHUNK = 4
DEFAULT_TRICKLE_INTERVAL = 0.25
DEFAULT_CLOCK_SKEW = 3600.0

signature_skew: contextvars.ContextVar[float] = contextvars.ContextVar("cloudflows_emulator_skew", default=0.0)
"""A ``clock_skew`` fault's offset for the request being answered (set by the handler around authentication)."""


class FaultKind(str, enum.Enum):
    """Injectable failure modes.

    ``throttle``, ``internal_error`` and ``nonce_reuse`` are answered in the vendor's own error envelope;
    ``clock_skew`` makes the vendor's own signature-time rule reject the request; the others are
    transport-level and look the same for every vendor.
    """

    THROTTLE = "throttle"
    SERVER_ERROR = "server_error"
    INTERNAL_ERROR = "internal_error"
    SLOW = "slow"
    MALFORMED = "malformed"
    DROP = "drop"
    # The real answer, sent TRICKLE_CHUNK bytes at a time with ``interval`` seconds between them.
    TRICKLE = "trickle"
    # The request is read and never answered (until the client goes away).
    HANG = "hang"
    # The real answer's status line, headers and first half of its body, then the connection is closed.
    RESET = "reset"
    # The server's clock is ``skew`` seconds off while it checks the signature's timestamp.
    CLOCK_SKEW = "clock_skew"
    # The vendor says the signature nonce was used already (Alibaba ``SignatureNonceUsed``); vendors whose
    # signatures carry no nonce (Tencent TC3, Huawei SDK-HMAC) answer normally.
    NONCE_REUSE = "nonce_reuse"
    # The vendor's own invalid-parameter error, after the signature was checked: the request was refused.
    INVALID = "invalid"


@dataclass
class Fault:
    """A scripted failure consumed, in injection order, by the requests it matches.

    ``service`` / ``action`` of None match anything. ``remaining`` counts the requests still to be hit
    (None: until reset). ``delay`` seconds pass before the fault is answered (for ``slow`` that is the whole
    effect: the request is then served normally). ``retry_after`` (milliseconds) is sent by vendors that
    support a retry hint on throttling. ``interval`` is a ``trickle`` fault's pause between chunks and
    ``skew`` a ``clock_skew`` fault's offset of the server clock (seconds; negative: behind the client).
    """

    id: int
    kind: FaultKind
    service: str | None = None
    action: str | None = None
    remaining: int | None = 1
    delay: float = 0.0
    retry_after: int | None = None
    interval: float = DEFAULT_TRICKLE_INTERVAL
    skew: float = DEFAULT_CLOCK_SKEW

    def matches(self, service: str | None, action: str | None) -> bool:
        """Whether a request for ``service`` / ``action`` is hit by this fault."""
        return (self.service is None or self.service == service) and (self.action is None or self.action == action)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (control API)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "service": self.service,
            "action": self.action,
            "remaining": self.remaining,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "interval": self.interval,
            "skew": self.skew,
        }


class FaultQueue:
    """Pending faults, consumed in injection order by the requests they match; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: FaultKind,
        *,
        service: str | None,
        action: str | None,
        count: int | None,
        delay: float,
        retry_after: int | None,
        interval: float,
        skew: float,
    ) -> Fault:
        """Queue a fault for the next ``count`` matching requests (None: every one until cleared)."""
        if count is not None and count < 1:
            raise ValueError("inject: count must be at least 1 (or None for unlimited)")
        if delay < 0:
            raise ValueError("inject: delay must not be negative")
        if interval <= 0:
            raise ValueError("inject: a trickle interval must be positive")
        if kind is FaultKind.SLOW and delay <= 0:
            raise ValueError("inject: a 'slow' fault needs a positive delay")
        with self._lock:
            fault = Fault(
                id=next(self._ids),
                kind=kind,
                service=service,
                action=action,
                remaining=count,
                delay=delay,
                retry_after=retry_after,
                interval=float(interval),
                skew=float(skew),
            )
            self._faults.append(fault)
        return fault

    def consume(self, service: str | None, action: str | None) -> Fault | None:
        """Take one use of the first pending fault matching the request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(service, action):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        """Faults still pending, in the order they will be consumed."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()
