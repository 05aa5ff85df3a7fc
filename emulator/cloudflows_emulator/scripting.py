"""Helpers shared by the payload builders: phase coercion and vendor timestamp formats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

__all__ = [
    "CHINA_STANDARD_TIME",
    "as_phases",
    "iso_millis",
    "iso_seconds",
    "local_seconds",
    "now_utc",
]

T = TypeVar("T")

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
"""Tencent reports console-style times (``2024-10-29 20:24:41``) in Beijing time."""


def as_phases(items: Sequence[Any], cls: type[T]) -> list[T]:
    """Coerce phase shorthands to ``cls``: an instance, a tuple/list of positional fields, or a mapping.

    Tuples keep test code short (``(3.0, "SUCCEED")``); mappings are what the control API receives as JSON.
    """
    phases: list[T] = []
    for item in items:
        if isinstance(item, cls):
            phases.append(item)
        elif isinstance(item, Mapping):
            phases.append(cls(**item))
        elif isinstance(item, tuple | list):
            phases.append(cls(*item))
        else:
            raise TypeError(f"cannot make a {cls.__name__} out of {item!r}")
    if not phases:
        raise ValueError(f"at least one {cls.__name__} is needed")
    return phases


def now_utc() -> datetime:
    """The current time, timezone-aware (the base builders add phase offsets to)."""
    return datetime.now(timezone.utc)


def local_seconds(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Beijing time (Tencent EMR stage times)."""
    return moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M:%S")


def iso_seconds(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC (Tencent Batch times)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC (Alibaba CloudFlow times)."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
