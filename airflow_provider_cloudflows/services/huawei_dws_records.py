"""Reading DWS task records: their zone-less times, their sub-items' JSON ``detail`` and their progress.

Pure functions on a record's fields, apart from the cluster-task spec that decides with them
(:mod:`.huawei_dws`): how a time is bounded is one decision, what the bounds prove is another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_cloudflows.services.base import fraction
from airflow_provider_cloudflows.transport.decoding import loads_strict

# DWS task times ("2025-05-19 09:05:10.0") carry no zone and none is documented. Read as UTC, the instant
# they name may lie this far later (zones west of UTC, down to UTC-12) or earlier (east, up to UTC+14); plus
# clock skew. A record is "before" or "after" a moment only if it is so whatever the zone.
ZONE_WEST = timedelta(hours=12)
ZONE_EAST = timedelta(hours=14)
CLOCK_SKEW = timedelta(minutes=5)
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?")


def parse_time(value: Any) -> tuple[datetime, bool] | None:
    """A DWS time as a UTC datetime and whether its zone was stated; None for anything else."""
    if not isinstance(value, str):
        return None
    match = _TIME.fullmatch(value.strip())
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None
    zone = match.group(7)
    if zone is None:
        return moment, False
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment, True


def time_bounds(stamp: tuple[datetime, bool]) -> tuple[datetime, datetime]:
    """The earliest and latest instant a parsed time may name, given the unknown zone and clock skew."""
    moment, zoned = stamp
    if zoned:
        return moment - CLOCK_SKEW, moment + CLOCK_SKEW
    return moment - ZONE_EAST - CLOCK_SKEW, moment + ZONE_WEST + CLOCK_SKEW


def record_times(body: Mapping[str, Any]) -> list[tuple[datetime, bool]]:
    """Every parseable time a task record carries: submit, sub-item begin/end, detail start/end/update."""
    raw: list[Any] = [body.get("submit_time")]
    items = body.get("items")
    for item in items if isinstance(items, list) else []:
        subs = item.get("sub_items") if isinstance(item, Mapping) else None
        for sub in subs if isinstance(subs, list) else []:
            if not isinstance(sub, Mapping):
                continue
            raw += [sub.get("begin_time"), sub.get("end_time")]
            detail = parse_detail(sub.get("detail"))
            raw += [detail.get("actionStartTime"), detail.get("actionEndTime"), detail.get("updateTime")]
    return [found for found in map(parse_time, raw) if found is not None]


def stamp(epoch: float) -> str:
    """An epoch time as DWS-style UTC text for messages."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_detail(raw: Any) -> Mapping[str, Any]:
    """A sub-item ``detail`` is JSON, sometimes with a nested JSON string (``progressInfo``) inside."""
    if not isinstance(raw, str) or not raw.strip().startswith("{"):
        return {}
    try:
        # Strict and bounded like a whole answer: a deeply nested detail must not raise RecursionError.
        data = loads_strict(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    inner = data.get("progressInfo")
    if isinstance(inner, str):
        nested = parse_detail(inner)
        data = {**data, **nested}
    return data


def sub_items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per sub-item of a task record, its ``detail`` read."""
    rows = []
    for item in body.get("items") or []:
        if not isinstance(item, Mapping):
            continue
        for sub in item.get("sub_items") or []:
            if isinstance(sub, Mapping):
                detail = parse_detail(sub.get("detail"))
                rows.append(
                    {
                        "item_name": item.get("item_name"),
                        "sub_item_name": sub.get("sub_item_name"),
                        "status": sub.get("status"),
                        "progress": detail.get("progress"),
                        "error": detail.get("errorMsg") or detail.get("error_msg") or None,
                        "begin_time": sub.get("begin_time"),
                        "end_time": sub.get("end_time"),
                    }
                )
    return rows


def percent(value: Any) -> float | None:
    """An ``action_progress`` value ("40%", 40) as a fraction; anything else, or outside 0-100 %, is None."""
    text = str(value if value is not None else "").strip().removesuffix("%")
    # ASCII digits only: "²".isdigit() holds, but float() refuses it.
    if not text.isascii() or not text.replace(".", "", 1).isdigit():
        return None
    return fraction(float(text) / 100)


def progress_of(rows: list[dict[str, Any]]) -> float | None:
    """The least progress of the sub-item rows, as a fraction; None when none states one."""
    values = []
    for row in rows:
        text = str(row.get("progress") or "").strip().rstrip("%")
        try:
            values.append(float(text) / 100.0)
        except ValueError:
            continue
    return min(values) if values else None
