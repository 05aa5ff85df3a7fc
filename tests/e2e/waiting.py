"""Polling the stack: a real deployment answers when it is ready, so every wait is a bounded poll.

A poll that runs out of time raises ``StackTimeout`` naming what it waited for and the last error seen, which is
what a failed test must say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx


class StackTimeout(AssertionError):
    """The stack did not reach an awaited state in time (a test failure, not an error of the test)."""


class PhaseAborted(AssertionError):
    """A phase cannot go on: the stack did something that makes the rest of the phase meaningless."""


def progress(message: str) -> None:
    """A progress line (shown with ``-s``, and in the captured output of a failed test)."""
    print(f"... {message}", flush=True)


def wait_until(what: str, predicate: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``predicate`` until it returns a truthy value; StackTimeout after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            suffix = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise StackTimeout(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")
        time.sleep(interval)


def parse_time(value: str | None) -> float | None:
    """An API timestamp (ISO 8601) as unix seconds."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
