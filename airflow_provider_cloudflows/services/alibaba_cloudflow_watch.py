"""Alibaba CloudFlow executions of one flow that finished: ``ListExecutions`` (fnf 2019-03-15) read as a watch.

ListExecutions filters by start time, not by end time, and an execution that started long before the watch
may end after it. So a sweep lists from the earliest start of an execution the previous sweep saw still
running (its ``resume_from``), or from ``since`` when that is earlier; a sweep without a ``resume_from``
first lists the flow's running executions to find that start. The items are read as the waits' batch read
reads them (``listed_executions``, one item per name). An item carries no failure reason: the error and
cause of an execution that ended otherwise than Succeeded come from its history (GetExecutionHistory),
read once per process and execution, newest ends first, a bounded number per sweep.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.services.alibaba_cloudflow import (
    LIST_PAGE,
    RUNNING,
    VERSION,
    AlibabaCloudFlowExecution,
    check_name,
    history_events,
    listed_executions,
)
from airflow_provider_cloudflows.services.base import Listing, parse_embedded_json, text, text_field
from airflow_provider_cloudflows.services.utc_times import epoch_seconds
from airflow_provider_cloudflows.services.watching import Finished, Sweep, WatchSpec
from airflow_provider_cloudflows.status import ExecutionStatus
from airflow_provider_cloudflows.transport.alibaba import VENDOR, AlibabaCall
from airflow_provider_cloudflows.transport.messages import ApiResponse

__all__ = ["MAX_FAILURE_READS", "MAX_SWEEP_PAGES", "AlibabaCloudFlowExecutions", "Ending", "ending_of"]

log = logging.getLogger(__name__)

# One list of a sweep reads at most this many pages (100 executions each); a flow with more executions
# started since the listing's start fails the sweep with a typed error rather than loop or miss some.
MAX_SWEEP_PAGES = 100
# Histories read in one sweep (GetExecutionHistory has its own bucket, shared with the waits' failures);
# an ending beyond them is reported without its error and cause.
MAX_FAILURE_READS = 20
# Endings remembered per spec instance (an ended execution's history no longer changes).
MAX_REMEMBERED = 2000
PARAMS = ("flow_name", "execution_name_prefix")
_ENDING_EVENTS = ("ExecutionFailed", "ExecutionTimedOut", "ExecutionStopped")
_TEXT_LIMIT = 300


@dataclass(frozen=True)
class Ending:
    """The error and cause an execution's history gives for how it ended (None when it gives none)."""

    error: str | None = None
    cause: str | None = None


def ending_of(events: Sequence[Mapping[str, Any]]) -> Ending:
    """The error and cause of the event that ended the execution (``ExecutionFailed``, ``...TimedOut``,
    ``...Stopped``), else of its last failed or timed-out step; ``EventDetail`` is JSON text."""
    kinds = [text(event.get("Type")) or "" for event in events]
    chosen = [e for e, kind in zip(events, kinds, strict=True) if kind in _ENDING_EVENTS] or [
        e for e, kind in zip(events, kinds, strict=True) if kind.endswith(("Failed", "TimedOut"))
    ]
    if not chosen:
        return Ending()
    detail, is_json = parse_embedded_json(chosen[-1].get("EventDetail"))
    if not is_json or not isinstance(detail, Mapping):
        return Ending()
    error = detail.get("error")
    cause = detail.get("cause")
    return Ending(
        error=text_field(error, _TEXT_LIMIT) if isinstance(error, str) and error else None,
        cause=text_field(cause, _TEXT_LIMIT) if isinstance(cause, str) and cause else None,
    )


def rfc3339(epoch: float) -> str:
    """``epoch`` as CloudFlow's UTC RFC 3339 time with milliseconds, rounded down (a lower bound stays one)."""
    moment = datetime.fromtimestamp(math.floor(epoch * 1000) / 1000, timezone.utc)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def output_of(value: Any) -> Any:
    """``Output`` as the wait's XCom gives it: parsed when JSON, else the text; None when absent or empty."""
    if not isinstance(value, str) or not value:
        return None
    parsed, is_json = parse_embedded_json(value)
    return parsed if is_json else value


class AlibabaCloudFlowExecutions(WatchSpec):
    """The executions of one CloudFlow flow (optionally those whose name starts with a prefix) that ended."""

    name = "alibaba_cloudflow_executions"
    vendor = VENDOR
    title = "Alibaba CloudFlow executions"
    table = AlibabaCloudFlowExecution.table

    def __init__(self) -> None:
        self._endings: dict[tuple[str, str], Ending] = {}

    def normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``flow_name`` (required) and ``execution_name_prefix`` follow CloudFlow's name rule."""
        unknown = sorted(str(key) for key in params if key not in PARAMS)
        if unknown:
            raise ValueError(f"unknown parameters {unknown}: a CloudFlow watch takes {', '.join(PARAMS)}")
        prefix = params.get("execution_name_prefix")
        return {
            "flow_name": check_name(params, "flow_name"),
            "execution_name_prefix": None if prefix in (None, "") else check_name(params, "execution_name_prefix"),
        }

    def sweep(
        self, params: Mapping[str, Any], since: float, resume_from: float | None
    ) -> Generator[Any, ApiResponse, Sweep]:
        """ListExecutions from the earliest start still running (or ``since``); every page."""
        flow: str = params["flow_name"]
        prefix: str = params.get("execution_name_prefix") or ""
        begin = since if resume_from is None else min(resume_from, since)
        if resume_from is None:
            _, running = yield from self._list(flow, prefix, {"Status": RUNNING, "MetadataOnly": "true"})
            begin = min([begin, *self._running_starts(flow, running)])
        listed, items = yield from self._list(flow, prefix, {"StartedTimeBegin": rfc3339(begin)})
        ended: list[tuple[str, Mapping[str, Any], ExecutionStatus, float]] = []
        for name, item in listed.items():
            status = self.table.status_of(item.get("Status"))
            if status.is_final:
                stopped = epoch_seconds(item.get("StoppedTime"))
                if stopped is None:
                    log.warning("CloudFlow execution %s of flow %s ended without a readable StoppedTime", name, flow)
                    continue
                ended.append((name, item, status, stopped))
        failed = [(name, stopped) for name, _, status, stopped in ended if status is not ExecutionStatus.SUCCEEDED]
        yield from self._read_endings(flow, failed)
        finished = tuple(self._finished(flow, name, item, status, stopped) for name, item, status, stopped in ended)
        return Sweep(finished=finished, resume_from=min(self._running_starts(flow, items), default=None))

    def _running_starts(self, flow: str, items: list[Mapping[str, Any]]) -> list[float]:
        """The starts of the items in progress (Starting or Running). Every item counts, one listed twice too:
        an earlier start only widens the next listing, while a start missed could leave an ending unlisted."""
        starts = []
        for item in items:
            if self.table.status_of(item.get("Status")) in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING):
                started = epoch_seconds(item.get("StartedTime"))
                if started is None:
                    log.warning(
                        "CloudFlow execution %s of flow %s runs without a readable StartedTime",
                        text(item.get("Name"), 200),
                        flow,
                    )
                    continue
                starts.append(started)
        return starts

    def _list(
        self, flow: str, prefix: str, filters: Mapping[str, str]
    ) -> Generator[Any, ApiResponse, tuple[dict[str, Mapping[str, Any]], list[Mapping[str, Any]]]]:
        """Every page of one listing: the items of the flow (and prefix) named exactly once, by name, and
        every item of the flow (and prefix) with a string name, as listed."""
        listing = Listing(None, "Name")
        items: list[Mapping[str, Any]] = []
        base = {"FlowName": flow, "Limit": str(LIST_PAGE), **filters}
        if prefix:
            base["ExecutionNamePrefix"] = prefix
        token = ""
        for _ in range(MAX_SWEEP_PAGES):
            page = yield AlibabaCall("ListExecutions", VERSION, {**base, "NextToken": token} if token else base)
            found = [
                item
                for item in listed_executions(page.body, flow)
                if isinstance(item.get("Name"), str) and item["Name"].startswith(prefix)
            ]
            listing.add(found)
            items += found
            token = text(page.body.get("NextToken"), 1000) or ""
            if not token:
                return listing.once(), items
        raise CloudApiError(
            f"ListExecutions of flow {flow} still had pages after {MAX_SWEEP_PAGES} pages of {LIST_PAGE}: the watch "
            "cannot read every execution that may have ended (narrow it with execution_name_prefix)",
            vendor=VENDOR,
            code="TooManyPages",
        )

    def _read_endings(self, flow: str, failed: list[tuple[str, float]]) -> Generator[Any, ApiResponse, None]:
        """Histories of endings not yet read, newest end first, at most ``MAX_FAILURE_READS``."""
        unread = sorted(
            ((stopped, name) for name, stopped in failed if (flow, name) not in self._endings), reverse=True
        )
        for _, name in unread[:MAX_FAILURE_READS]:
            try:
                events = yield from history_events({"FlowName": flow, "ExecutionName": name})
            except CloudApiError as exc:
                # The execution ended either way: it is reported, without the error and cause (and the
                # history is not asked again: the report has gone out).
                log.warning("could not read the history of CloudFlow execution %s of flow %s: %s", name, flow, exc)
                events = []
            self._endings[(flow, name)] = ending_of(events)
        while len(self._endings) > MAX_REMEMBERED:
            del self._endings[next(iter(self._endings))]
        if len(unread) > MAX_FAILURE_READS:
            log.warning(
                "%d CloudFlow executions of flow %s ended unsuccessfully at once: %d are reported without their "
                "error and cause",
                len(unread),
                flow,
                len(unread) - MAX_FAILURE_READS,
            )

    def _finished(
        self, flow: str, name: str, item: Mapping[str, Any], status: ExecutionStatus, stopped: float
    ) -> Finished:
        details: dict[str, Any] = {
            "name": name,
            "flow_name": flow,
            "started_at": text(item.get("StartedTime"), 100),
            "stopped_at": text(item.get("StoppedTime"), 100),
            "output": output_of(item.get("Output")),
        }
        if status is not ExecutionStatus.SUCCEEDED:
            ending = self._endings.get((flow, name), Ending())
            details["error"], details["cause"] = ending.error, ending.cause
        vendor_status = str(item.get("Status"))
        return Finished(id=name, status=status, vendor_status=vendor_status, finished_at=stopped, details=details)
