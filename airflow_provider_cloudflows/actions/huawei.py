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
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions.base import Action, Started, StartSpec, Write
from airflow_provider_cloudflows.errors import MalformedResponseError
from airflow_provider_cloudflows.transport.huawei import VENDOR, HuaweiCall

SNAPSHOTS_PATH = "/v1.0/{project_id}/snapshots"
RESIZE_PATH = "/v1.0/{project_id}/clusters/{cluster_id}/resize"
RESTORE_PATH = "/v1.0/{project_id}/snapshots/{snapshot_id}/actions"
TASK_WAIT = "huawei_dws_cluster_task"
JOB_WAIT = "huawei_dws_job"


def _text(body: Mapping[str, Any], *path: str) -> str | None:
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) and value else None


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
        snapshot_id = _text(response.body, "snapshot", "id")
        if snapshot_id is None:
            raise MalformedResponseError("dws:create snapshot answered without snapshot.id", vendor=VENDOR)
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
        cluster_id, job_id = _text(response.body, "cluster", "id"), _text(response.body, "job_id")
        if cluster_id is None and job_id is None:
            raise MalformedResponseError("dws:restore answered without cluster.id or job_id", vendor=VENDOR)
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
