"""Huawei Cloud DWS start specs: create a snapshot, resize (scale out) a cluster, restore a snapshot.

Request and reply fields are those of the official SDK models (huaweicloudsdkdws v2: ``CreateSnapshotRequestBody``
/ ``Snapshot`` / ``SnapshotResp``, ``ResizeClusterRequestBody`` / ``ScaleOut``, ``RestoreClusterRequestBody`` /
``Restore``, ``RestoreClusterResponse``: ``cluster`` + ``job_id``). None of these calls takes an idempotency
token, so none is ever repeated after an ambiguous failure (the write driver's rule), and DWS has no API to
cancel a snapshot, a resize or a restore (``stop_redistribution`` only stops the redistribution phase).

What the operator waits on:

- snapshot: the cluster's ``SNAPSHOTTING`` action (the DWS cluster-task wait);
- resize: the cluster's ``GROWING`` action (the reply is empty);
- restore: the job API (``GET /v1.0/{project_id}/job/{job_id}``) when the reply carries a ``job_id``, else the
  new cluster's ``RESTORING`` action.

The cluster-task wait decides an end only from evidence, remembering when it started; the operator seeds
that memory with the moment just *before* the write, so that a record of this very task is never taken for an
older one.

The ids of an answer count only as non-empty strings safe in the URL path they go into (``/clusters/{id}``,
``/job/{id}``): anything else is :class:`WriteOutcomeUnknown` (the write may have been applied), never stored
for the wait, where a path-changing id would read as the user's configuration error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions.base import Action, Started, StartSpec, Write, outcome_unknown
from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.transport.endpoints import check_path_segment
from airflow_provider_cloudflows.transport.huawei import VENDOR, HuaweiCall
from airflow_provider_cloudflows.transport.messages import ApiResponse

SNAPSHOTS_PATH = "/v1.0/{project_id}/snapshots"
RESIZE_PATH = "/v1.0/{project_id}/clusters/{cluster_id}/resize"
RESTORE_PATH = "/v1.0/{project_id}/snapshots/{snapshot_id}/actions"
TASK_WAIT = "huawei_dws_cluster_task"
JOB_WAIT = "huawei_dws_job"
# An id longer than this is not an id (DWS ids are UUIDs).
ID_MAX = 128
ID_SHAPE = "a non-empty id string safe in a URL path"


def _field(body: Mapping[str, Any], *path: str) -> Any:
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _path_id(value: Any) -> str | None:
    """``value`` when it is an id that addresses exactly one resource in a URL path, else None."""
    if not isinstance(value, str) or not value or len(value) > ID_MAX or value != value.strip():
        return None
    try:
        check_path_segment("id", value)
    except ConfigurationError:
        return None
    return value


def _answered_id(response: ApiResponse, what: str, name: str, *path: str, check: str) -> str | None:
    """The id at ``path`` of the answer; None when absent (missing, null or empty); else it must be an id."""
    raw = _field(response.body, *path)
    if raw is None or raw == "":
        return None
    value = _path_id(raw)
    if value is None:
        raise outcome_unknown(what, name, raw, response.request_id, vendor=VENDOR, expected=ID_SHAPE, check=check)
    return value


def _task_wait(before: float) -> dict[str, Any]:
    # The cluster-task wait's durable memory: the wait "started" before the write, not at its first check.
    return {"memory": {"started": before}}


class DwsCreateSnapshot(StartSpec):
    """``POST /v1.0/{project_id}/snapshots`` ``{"snapshot": {name, cluster_id, description}}``; waits on
    SNAPSHOTTING. Returns the ``snapshot_id``."""

    name = "huawei_dws_create_snapshot"
    vendor = VENDOR
    service = TASK_WAIT

    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """One create call; the reply's ``snapshot.id`` is returned beside the wait's result."""
        cluster_id = str(params["cluster_id"])
        snapshot = {"name": str(params["name"]), "cluster_id": cluster_id}
        if params.get("description"):
            snapshot["description"] = str(params["description"])
        before = time.time()
        response = yield Write(HuaweiCall("POST", SNAPSHOTS_PATH, {}, body={"snapshot": snapshot}), False)
        what, check = "dws:create snapshot", f"look for snapshot {snapshot['name']!r} in the DWS console"
        snapshot_id = _answered_id(response, what, "snapshot.id", "snapshot", "id", check=check)
        if snapshot_id is None:
            raise outcome_unknown(
                what, "snapshot.id", None, response.request_id, vendor=VENDOR, expected=ID_SHAPE, check=check
            )
        return Started(
            {"cluster_id": cluster_id, "action_name": "SNAPSHOTTING"},
            response.request_id,
            {"snapshot_id": snapshot_id, "cluster_id": cluster_id, "snapshot_name": snapshot["name"]},
            wait_options=_task_wait(before),
        )


class DwsResizeCluster(StartSpec):
    """``POST /v1.0/{project_id}/clusters/{cluster_id}/resize`` ``{"scale_out": {"count": n}, ...}`` (empty
    reply); waits on GROWING."""

    name = "huawei_dws_resize_cluster"
    vendor = VENDOR
    service = TASK_WAIT

    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """One resize call; the cluster's GROWING action is the wait."""
        cluster_id = str(params["cluster_id"])
        before = time.time()
        response = yield Write(
            HuaweiCall("POST", RESIZE_PATH, {"cluster_id": cluster_id}, body=dict(params["request"])), False
        )
        return Started(
            {"cluster_id": cluster_id, "action_name": "GROWING"},
            response.request_id,
            {"cluster_id": cluster_id},
            wait_options=_task_wait(before),
        )


class DwsRestoreCluster(StartSpec):
    """``POST /v1.0/{project_id}/snapshots/{snapshot_id}/actions`` ``{"restore": {...}}``: a new cluster from
    a snapshot. Waits on the reply's ``job_id`` (job API), else on the new cluster's RESTORING action."""

    name = "huawei_dws_restore_cluster"
    vendor = VENDOR
    service = TASK_WAIT

    def start(self, params: Mapping[str, Any], client_token: str | None) -> Action:
        """One restore call; ``cluster.id`` (the new cluster) and ``job_id`` decide the wait."""
        snapshot_id = str(params["snapshot_id"])
        before = time.time()
        response = yield Write(
            HuaweiCall("POST", RESTORE_PATH, {"snapshot_id": snapshot_id}, body={"restore": dict(params["restore"])}),
            False,
        )
        what = "dws:restore"
        check = f"look for the cluster restored from snapshot {snapshot_id} in the DWS console"
        cluster_id = _answered_id(response, what, "cluster.id", "cluster", "id", check=check)
        job_id = _answered_id(response, what, "job_id", "job_id", check=check)
        if cluster_id is None and job_id is None:
            raise outcome_unknown(
                what,
                "cluster.id",
                None,
                response.request_id,
                vendor=VENDOR,
                expected=f"{ID_SHAPE} (or a job_id)",
                check=check,
            )
        output = {"snapshot_id": snapshot_id, "cluster_id": cluster_id, "job_id": job_id}
        if job_id is not None:
            return Started({"job_id": job_id}, response.request_id, output, service=JOB_WAIT)
        assert cluster_id is not None
        return Started(
            {"cluster_id": cluster_id, "action_name": "RESTORING"},
            response.request_id,
            output,
            wait_options=_task_wait(before),
        )
