"""Vendor times read as instants: ISO 8601 text with its UTC offset stated, and nothing else.

An end time proves when an execution ended only if it names one instant, so the text must carry its zone
(``Z`` or ``+hh:mm``), as CloudFlow's (``2019-01-01T01:01:01.001Z``) and Tencent Batch's
(``2018-02-07T09:30:23Z``) do. Anything else (no zone, another layout, a number, an impossible date)
reads as None, never as a guess.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

__all__ = ["epoch_seconds"]

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


def epoch_seconds(value: Any) -> float | None:
    """The instant ``value`` names, in epoch seconds; None unless it is ISO 8601 text with a stated offset."""
    if not isinstance(value, str) or not _ISO.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError):
        return None
