"""Watching Huawei DWS snapshots: ``GET /v1.0/{project_id}/snapshots`` (ListSnapshots) read for snapshots that ended.

ListSnapshots documents no request parameter (no paging, no filter: https://support.huaweicloud.com/api-dws/
ListSnapshots.html, and the SDK's ``ListSnapshotsRequest`` has no field), so a sweep is one call answering every
snapshot of the project, and the ``cluster_id`` / ``name_prefix`` filters are applied here.

A snapshot proves it ended only with all of: a string ``id`` named by exactly one item, a documented final
``status`` (AVAILABLE: created; UNAVAILABLE: the creation failed) and a ``finished`` time in the documented
format, ISO 8601 ``YYYY-MM-DDThh:mm:ssZ``. CREATING is still running; FROZEN and POLICE_FROZEN are an
account's freeze, not how a creation ended; anything else is not a documented value. Each of those leaves the
item out of the sweep, logged, never guessed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

from airflow_provider_cloudflows.errors import MalformedResponseError
from airflow_provider_cloudflows.services.base import Listing, integer, number, require_text, text
from airflow_provider_cloudflows.services.watching import Finished, Sweep, WatchSpec
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import StateTable, show
from airflow_provider_cloudflows.transport.huawei import VENDOR, HuaweiCall
from airflow_provider_cloudflows.transport.messages import ApiResponse

log = logging.getLogger(__name__)

SNAPSHOTS_PATH = "/v1.0/{project_id}/snapshots"
# The documented statuses (SDK ``Snapshots.status``): only AVAILABLE and UNAVAILABLE end a creation.
TABLE = StateTable(
    "status",
    {
        "CREATING": S.RUNNING,
        "AVAILABLE": S.SUCCEEDED,
        "UNAVAILABLE": S.FAILED,
        "FROZEN": S.BLOCKED,
        "POLICE_FROZEN": S.BLOCKED,
    },
    {
        "CREATING": "being created",
        "UNAVAILABLE": "the snapshot could not be created",
        "FROZEN": "frozen with its account",
        "POLICE_FROZEN": "frozen by the authorities",
    },
)
_FINISHED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
PARAMS = ("cluster_id", "name_prefix")
# Reasons for leaving items out shown in a sweep's one warning line.
MAX_REASONS = 5


def finished_at(value: Any) -> float | None:
    """A ``finished`` time in the documented format as epoch seconds; None for anything else."""
    if not isinstance(value, str) or not _FINISHED.fullmatch(value):
        return None
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:  # a day or an hour that does not exist
        return None
    return moment.replace(tzinfo=timezone.utc).timestamp()


class HuaweiDwsSnapshots(WatchSpec):
    """DWS snapshots that became AVAILABLE (succeeded) or UNAVAILABLE (failed), optionally of one cluster and
    with names starting with a prefix."""

    name: ClassVar[str] = "huawei_dws_snapshots"
    vendor: ClassVar[str] = VENDOR
    title: ClassVar[str] = "Huawei DWS snapshots"

    def normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``cluster_id`` and ``name_prefix``, both optional non-empty strings; any other key is refused."""
        unknown = sorted(str(key) for key in params if key not in PARAMS)
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; {self.name} takes {', '.join(PARAMS)}")
        cluster_id = require_text(params, "cluster_id", optional=True)
        prefix = params.get("name_prefix")
        if prefix is not None and (not isinstance(prefix, str) or not prefix or not prefix.isprintable()):
            raise ValueError(f"name_prefix must be a non-empty string without control characters, got {show(prefix)}")
        return {"cluster_id": cluster_id, "name_prefix": prefix}

    def sweep(
        self, params: Mapping[str, Any], since: float, resume_from: float | None
    ) -> Generator[Any, ApiResponse, Sweep]:
        """One ListSnapshots call; every snapshot of the filters it proves ended at or after ``since``."""
        response = yield HuaweiCall("GET", SNAPSHOTS_PATH, {})
        items = response.body.get("snapshots")
        if response.http_status != 200 or not isinstance(items, list):
            raise MalformedResponseError(
                f"ListSnapshots answered without a snapshot list (HTTP {response.http_status}, "
                f"snapshots={show(items)})",
                vendor=VENDOR,
                code="MalformedResponse",
                request_id=response.request_id,
                http_status=response.http_status,
            )
        listing = Listing(None, "id")
        listing.add(items)
        once = listing.once()
        # Why items prove nothing, logged once per sweep (a snapshot stays listed for days: one line each
        # per sweep would flood the triggerer's log).
        left_out: list[str] = []
        if len(once) < len(items):
            left_out.append(f"{len(items) - len(once)} not an object, without a string id, or an id listed twice")
        count = response.body.get("count")
        if integer(count) is not None and count != len(items):
            left_out.append(f"count is {count} but {len(items)} are listed")
        finished: list[Finished] = []
        for snapshot_id, item in once.items():
            if not self._wanted(item, params):
                continue
            found = self._finished(snapshot_id, item, left_out)
            if found is not None and found.finished_at >= since:
                finished.append(found)
        if left_out:
            shown = "; ".join(left_out[:MAX_REASONS]) + ("; ..." if len(left_out) > MAX_REASONS else "")
            log.warning("%s: some listed snapshots prove nothing: %s", self.name, shown)
        return Sweep(finished=tuple(finished), resume_from=None)

    def _wanted(self, item: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        """Whether the snapshot is one the filters name (a filter on a field of another type does not match)."""
        cluster_id, prefix = params.get("cluster_id"), params.get("name_prefix")
        if cluster_id is not None and item.get("cluster_id") != cluster_id:
            return False
        name = item.get("name")
        return prefix is None or (isinstance(name, str) and name.startswith(prefix))

    def _finished(self, snapshot_id: str, item: Mapping[str, Any], left_out: list[str]) -> Finished | None:
        """The snapshot as a finished execution, or None when the item does not prove it ended (the reason is
        added to ``left_out`` unless the status is a documented unfinished one)."""
        raw = item.get("status")
        vendor_status, status = TABLE.exact_key(raw), TABLE.status_of(raw)
        if vendor_status is None:
            left_out.append(f"snapshot {show(snapshot_id)} has no documented status ({show(raw)})")
            return None
        if not status.is_final:
            return None
        ended = finished_at(item.get("finished"))
        if ended is None:
            left_out.append(
                f"snapshot {show(snapshot_id)} is {vendor_status} without a finished time in the documented "
                f"format ({show(item.get('finished'))})"
            )
            return None
        return Finished(
            id=snapshot_id,
            status=status,
            vendor_status=vendor_status,
            finished_at=ended,
            details={
                "snapshot_id": snapshot_id,
                "name": text(item.get("name")),
                "cluster_id": text(item.get("cluster_id")),
                "started": text(item.get("started"), 64),
                "finished": item["finished"],
                "size": number(item.get("size")),
                "type": text(item.get("type"), 64),
            },
        )
