"""Answers a test queues for the next Huawei requests, counted rather than timed.

An answer queued here comes from the service behind the gateway, so the protocol hands it out only after
its own checks (a bad signature still wins). Queues live in the emulator's scratch and reset with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.handler import ApiError

__all__ = ["script_answer", "script_error", "take_scripted", "take_scripted_error"]

_SCRIPTED = "huawei_scripted_errors"


def script_answer(emulator: Emulator, queue: str, entry: Mapping[str, Any], count: int) -> None:
    """Queue ``entry`` (what to answer, and which requests it is for) for the next ``count`` matching
    requests; :func:`take_scripted` hands it out. Queues live in the emulator's scratch: reset with it."""
    if count < 1:
        raise ValueError("a scripted answer needs a count of at least 1")
    emulator.scratch(queue).setdefault("pending", []).append({**entry, "left": count})


def take_scripted(
    emulator: Emulator, queue: str, matches: Callable[[Mapping[str, Any]], bool]
) -> Mapping[str, Any] | None:
    """The first queued entry of ``queue`` that ``matches``, used up once; None when there is none."""
    pending: list[dict[str, Any]] = emulator.scratch(queue).get("pending", [])
    for entry in pending:
        if matches(entry):
            entry["left"] -= 1
            if entry["left"] == 0:
                pending.remove(entry)
            return entry
    return None


def script_error(
    emulator: Emulator,
    code: str,
    message: str,
    status: int,
    *,
    action: str | None = None,
    params: Mapping[str, str] | None = None,
    count: int = 1,
) -> None:
    """Answer the next ``count`` Huawei requests for ``action`` (None: any) whose path parameters include
    ``params`` with ``{"error_code": code, "error_msg": message}`` under HTTP ``status``; reset with the
    executions."""
    if status < 400:
        raise ValueError(f"script_error: an error answer needs a 4xx or 5xx status, got {status}")
    entry = {"error": (code, message, status), "action": action, "params": dict(params or {})}
    script_answer(emulator, _SCRIPTED, entry, count)


def take_scripted_error(action: str | None, path_params: Mapping[str, str], emulator: Emulator) -> ApiError | None:
    """The error :func:`script_error` queued for a request of ``action`` with ``path_params``, used up once;
    None when none is queued for it."""

    def matches(entry: Mapping[str, Any]) -> bool:
        return entry["action"] in (None, action) and all(
            path_params.get(name) == value for name, value in entry["params"].items()
        )

    entry = take_scripted(emulator, _SCRIPTED, matches)
    return None if entry is None else ApiError(*entry["error"])
