"""Huawei DWS snapshots as a list: ``ListSnapshots`` and the :func:`plan_dws_snapshot` / :func:`dws_snapshot` builders.

Each snapshot is its own scripted execution (service ``dws_snapshot``, keyed ``(snapshot_id,)``): CREATING
from its creation, then its outcome ``after`` seconds later, played on the emulator's clock like every DWS
timeline (so :meth:`Emulator.advance` moves it on). One execution per snapshot, rather than one list, keeps a
snapshot's life apart from the others' and from the cluster task that writes it.

- ``GET /v1.0/{project_id}/snapshots`` (ListSnapshots, https://support.huaweicloud.com/api-dws/ListSnapshots.html)
  -> ``{"snapshots": [...], "count": n}``, each snapshot with the fields of the documented example and the
  SDK's ``Snapshots`` model (huaweicloudsdkdws): ``id``, ``name``, ``description``, ``started``, ``finished``
  (ISO 8601 ``YYYY-MM-DDThh:mm:ssZ``), ``size`` (GB), ``status`` (CREATING, AVAILABLE, UNAVAILABLE, FROZEN,
  POLICE_FROZEN), ``type`` (AUTO, MANUAL), ``cluster_id``, ``cluster_name``, ``updated``. The API documents
  no request parameter: no paging and no filter, every snapshot of the project in one answer.
- A snapshot created by ``POST /v1.0/{project_id}/snapshots`` (``dws_actions``) follows the cluster's
  SNAPSHOTTING task: CREATING while it runs, AVAILABLE when it succeeds, UNAVAILABLE when it fails, from the
  task's end on (:func:`add_task_snapshot`).
- :func:`plan_dws_snapshot` scripts a snapshot directly (any cluster id, known to the emulator or not).

*Judgments* (DWS documents none of these): the list is ordered newest ``started`` first, then by id; a
snapshot being created has ``finished`` null and ``size`` 0; a failed snapshot is UNAVAILABLE with the time it
failed as ``finished``; query parameters are ignored, as the API takes none.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import Execution, TimedItem
from cloudflows_emulator.core.handler import ApiCall
from cloudflows_emulator.huawei.dws_payloads import SERVICE as DWS
from cloudflows_emulator.huawei.protocol import RestOperation
from cloudflows_emulator.scripting import now_utc

__all__ = [
    "LIST_SNAPSHOTS",
    "SNAPSHOT_OPERATIONS",
    "SNAPSHOT_SERVICE",
    "SNAPSHOT_STATUSES",
    "add_task_snapshot",
    "dws_snapshot",
    "list_snapshots",
    "plan_dws_snapshot",
]

SNAPSHOT_SERVICE = "dws_snapshot"
LIST_SNAPSHOTS = "ListSnapshots"
SNAPSHOT_STATUSES = ("CREATING", "AVAILABLE", "UNAVAILABLE", "FROZEN", "POLICE_FROZEN")
SNAPSHOT_TYPES = ("AUTO", "MANUAL")
# What a scripted snapshot may end as; None: it stays CREATING.
OUTCOMES = ("AVAILABLE", "UNAVAILABLE")
DEFAULT_AFTER = 3.0
DEFAULT_SIZE = 500.0
DEFAULT_CLUSTER_NAME = "cluster_779"
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(_STAMP)


def dws_snapshot(
    cluster_id: str,
    name: str,
    *,
    outcome: str | None = "AVAILABLE",
    after: float = DEFAULT_AFTER,
    snapshot_id: str | None = None,
    description: str = "",
    size: float = DEFAULT_SIZE,
    snapshot_type: str = "MANUAL",
    cluster_name: str = DEFAULT_CLUSTER_NAME,
    created: datetime | None = None,
) -> Execution:
    """A snapshot of ``cluster_id`` CREATING from ``created`` (default now), then ``outcome`` (AVAILABLE,
    UNAVAILABLE, or None to stay CREATING) ``after`` seconds later; its clock starts when it is added."""
    if not isinstance(cluster_id, str) or not cluster_id:
        raise ValueError("dws_snapshot: cluster_id must be a non-empty string")
    if not isinstance(name, str) or not 4 <= len(name) <= 64:
        raise ValueError(f"dws_snapshot: name must be 4-64 characters, got {name!r}")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"dws_snapshot: outcome must be one of {OUTCOMES} or None, got {outcome!r}")
    if isinstance(after, bool) or not isinstance(after, (int, float)) or after < 0:
        raise ValueError(f"dws_snapshot: after must be a non-negative number of seconds, got {after!r}")
    if snapshot_type not in SNAPSHOT_TYPES:
        raise ValueError(f"dws_snapshot: snapshot_type must be one of {SNAPSHOT_TYPES}, got {snapshot_type!r}")
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
        raise ValueError(f"dws_snapshot: size must be a non-negative number of GB, got {size!r}")
    start = created or now_utc()
    snapshot = {
        "id": snapshot_id or str(uuid.uuid4()),
        "name": name,
        "description": description,
        "started": _stamp(start),
        "finished": None,
        "size": 0.0,
        "status": "CREATING",
        "type": snapshot_type,
        "cluster_id": cluster_id,
        "cluster_name": cluster_name,
        "updated": _stamp(start),
    }
    timeline: list[TimedItem] = [(0.0, {"snapshot": snapshot})]
    if outcome is not None:
        ended = _stamp(start + timedelta(seconds=float(after)))
        final = {**snapshot, "status": outcome, "finished": ended, "updated": ended}
        final["size"] = float(size) if outcome == "AVAILABLE" else 0.0
        timeline.append((float(after), {"snapshot": final}))
    return Execution(service=SNAPSHOT_SERVICE, key=(str(snapshot["id"]),), timeline=timeline, start_immediately=True)


def plan_dws_snapshot(
    emulator: Emulator,
    *,
    cluster_id: str,
    name: str,
    outcome: str | None = "AVAILABLE",
    after: float = DEFAULT_AFTER,
    **fields: Any,
) -> str:
    """Script a snapshot of ``cluster_id`` named ``name``: CREATING now, ``outcome`` ``after`` seconds later on
    the emulator's clock (see :func:`dws_snapshot` for the other ``fields``). Returns the snapshot's id."""
    created = datetime.fromtimestamp(emulator.wall_clock(), tz=timezone.utc)
    execution = dws_snapshot(cluster_id, name, outcome=outcome, after=after, created=created, **fields)
    emulator.add_execution(execution)
    return execution.key[0]


def add_task_snapshot(
    emulator: Emulator,
    task: Execution | None,
    *,
    snapshot_id: str,
    cluster_id: str,
    name: str,
    description: str,
    end: str | None,
) -> None:
    """The snapshot a ``CreateSnapshot`` call writes, ending with its SNAPSHOTTING ``task`` (the cluster's
    execution, ending as ``end``: ``dws_task``'s ``"success"``, a failure, or None for never): AVAILABLE on
    success, UNAVAILABLE otherwise, from the task's last step on."""
    outcome = None if end is None or task is None else "AVAILABLE" if end == "success" else "UNAVAILABLE"
    after = task.timeline[-1][0] if task is not None and outcome is not None else 0.0
    cluster = task.timeline[0][1].get("cluster") if task is not None else None
    named = cluster.get("name") if isinstance(cluster, Mapping) else None
    created = datetime.fromtimestamp(emulator.wall_clock(), tz=timezone.utc)
    emulator.add_execution(
        dws_snapshot(
            cluster_id,
            name,
            outcome=outcome,
            after=after,
            snapshot_id=snapshot_id,
            description=description,
            cluster_name=named if isinstance(named, str) else DEFAULT_CLUSTER_NAME,
            created=created,
        )
    )


async def list_snapshots(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``ListSnapshots``: every snapshot as it stands now, newest ``started`` first, then by id."""
    snapshots: list[dict[str, Any]] = []
    for execution in emulator.executions:
        if execution.service != SNAPSHOT_SERVICE:
            continue
        view = emulator.observe(SNAPSHOT_SERVICE, execution.key)
        snapshot = None if view is None else view.payload.get("snapshot")
        if isinstance(snapshot, Mapping):
            snapshots.append(dict(snapshot))
    snapshots.sort(key=lambda item: str(item.get("id", "")))
    snapshots.sort(key=lambda item: str(item.get("started", "")), reverse=True)
    return {"snapshots": snapshots, "count": len(snapshots)}


SNAPSHOT_OPERATIONS = (
    RestOperation(
        DWS,
        LIST_SNAPSHOTS,
        "v1.0",
        list_snapshots,
        method="GET",
        path="/v1.0/{project_id}/snapshots",
    ),
)
