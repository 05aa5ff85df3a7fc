"""What the triggers a scheduler starts (``start_from_trigger``) share: fields rendered on the trigger, and a
deadline that survives a restart.

Airflow 3.3's triggerer renders those templated fields of the task that are also kwargs *and attributes* of
its trigger, so each field lives on the trigger under its own name; a field must not hide one of the
trigger's own attributes. The deadline is the triggerer's absolute timeout of the trigger (``timeout_after``,
the task's ``trigger_timeout``) less a margin, the same after a restart; a trigger run without one (by
hand, in a test) counts its timeout from now.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any


def set_fields(trigger: object, fields: Mapping[str, Any], reserved: Iterable[str] = ()) -> tuple[str, ...]:
    """Set each field as an attribute of ``trigger``; a ValueError names the fields that would hide one of its
    attributes (or one of ``reserved``, set later). Returns the field names."""
    taken = set(reserved)
    clashing = sorted(name for name in fields if hasattr(trigger, name) or name in taken)
    if clashing:
        raise ValueError(f"{type(trigger).__name__}: the field(s) {clashing} would hide attributes of the trigger")
    for name, value in fields.items():
        setattr(trigger, name, value)
    return tuple(fields)


def deadline_from(timeout_after: datetime | None, *, margin: float, timeout: float | None) -> float:
    """Epoch seconds: ``timeout_after`` (UTC when naive, as the metadata DB stores it) less ``margin``; without
    it, ``timeout`` seconds from now."""
    if not isinstance(timeout_after, datetime):
        return time.time() + float(timeout or 0.0)
    aware = timeout_after if timeout_after.tzinfo is not None else timeout_after.replace(tzinfo=timezone.utc)
    return aware.timestamp() - margin
