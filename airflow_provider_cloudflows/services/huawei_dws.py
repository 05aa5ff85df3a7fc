"""Huawei Cloud DWS cluster tasks: ``GET /v1/{project_id}/clusters/{cluster_id}/actions/{action_name}``.

The API shows only *ongoing* tasks, so the end of a task is decided from evidence, never guessed:

1. The action view (e.g. ``SNAPSHOTTING``) answers with the task: its ``status`` decides (WAITING, RUNNING,
   ROLLBACK_RUNNING wait; SUCCESS succeeds; FAILED, ROLLBACK_FAIL, ROLLBACK_SUCCESS fail).
2. The action is gone (any not-found / invalid-parameter answer that is not "cluster unknown"): the paired
   failure view (e.g. ``SNAPSHOTTING_FAILED``) is read; a failure record there fails the wait with its error.
3. Otherwise the cluster's own detail (``GET /v1.0/{project_id}/clusters/{cluster_id}``) decides: the action
   still in ``task_status`` / ``action_progress`` → running; a failure ``task_status`` or ``failed_reasons``
   → failed; a healthy, idle cluster → succeeded, **but only if this wait saw the action running** (a task
   that never showed up proves nothing; after a grace of a few checks that is a failure).
An unknown cluster (DWS.0047 / DWS.0015 / DWS.3027) fails at once. See docs/dws-task-end.md for the evidence.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from typing import Any

from airflow_provider_cloudflows.errors import InvalidRequestError, NotFoundError
from airflow_provider_cloudflows.services.base import Check, CheckContext, ServiceSpec, Snapshot, require_text
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import StateTable
from airflow_provider_cloudflows.transport.huawei import CLUSTER_UNKNOWN_CODES, VENDOR, HuaweiCall
from airflow_provider_cloudflows.transport.messages import ApiResponse

ACTION_PATH = "/v1/{project_id}/clusters/{cluster_id}/actions/{action_name}"
CLUSTER_PATH = "/v1.0/{project_id}/clusters/{cluster_id}"
FAILURE_VIEWS = {
    "GROWING": "RESIZE_FAILURE",
    "RESTORING": "RESTORING_FAILED",
    "SNAPSHOTTING": "SNAPSHOTTING_FAILED",
    "FINE_GRAINED_RESTORING": "FINE_GRAINED_RESTORING_FAILED",
}
ACTION_NAMES = tuple(FAILURE_VIEWS) + tuple(FAILURE_VIEWS.values())
HEALTHY_CLUSTER = frozenset({"AVAILABLE", "ACTIVE"})
# Checks to tolerate an action that has not (yet) appeared: submission is asynchronous.
NOT_SEEN_GRACE = 3
FAILED_TASK_STATES = frozenset({"FAILED", "ROLLBACK_FAIL", "ROLLBACK_SUCCESS"})


def _parse_detail(raw: Any) -> Mapping[str, Any]:
    """A sub-item ``detail`` is JSON, sometimes with a nested JSON string (``progressInfo``) inside."""
    if not isinstance(raw, str) or not raw.strip().startswith("{"):
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    inner = data.get("progressInfo")
    if isinstance(inner, str):
        nested = _parse_detail(inner)
        data = {**data, **nested}
    return data


def _sub_items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for item in body.get("items") or []:
        if not isinstance(item, Mapping):
            continue
        for sub in item.get("sub_items") or []:
            if isinstance(sub, Mapping):
                detail = _parse_detail(sub.get("detail"))
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


def _progress(rows: list[dict[str, Any]]) -> float | None:
    values = []
    for row in rows:
        text = str(row.get("progress") or "").strip().rstrip("%")
        try:
            values.append(float(text) / 100.0)
        except ValueError:
            continue
    return min(values) if values else None


class HuaweiDwsClusterTask(ServiceSpec):
    """An ongoing DWS cluster task (scale-out, restore, snapshot, fine-grained restore)."""

    name = "huawei_dws_cluster_task"
    vendor = VENDOR
    title = "Huawei DWS cluster task"
    identifiers = ("cluster_id", "action_name")
    table = StateTable(
        "status",
        {
            "WAITING": S.PENDING,
            "RUNNING": S.RUNNING,
            "ROLLBACK_RUNNING": S.RUNNING,
            "SUCCESS": S.SUCCEEDED,
            "FAILED": S.FAILED,
            "ROLLBACK_FAIL": S.FAILED,
            "ROLLBACK_SUCCESS": S.FAILED,
        },
        {"ROLLBACK_SUCCESS": "the action was rolled back (undone), so the wait fails"},
    )

    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """The sensor waits on an ongoing action; the failure views are read by the rule, not waited on."""
        cluster_id = require_text(ids, "cluster_id")
        action = require_text(ids, "action_name")
        if action not in FAILURE_VIEWS:
            raise ValueError(f"action_name must be one of {sorted(FAILURE_VIEWS)} (an ongoing action), got {action!r}")
        return {"cluster_id": cluster_id, "action_name": action}

    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """Action view, then (once it is gone) the failure view and the cluster detail."""
        action = ids["action_name"]
        memory = ctx.memory
        view = yield from self._view(ids["cluster_id"], action)
        if view is not None and view.body.get("status"):
            memory["seen"] = True
            memory["task_id"] = view.body.get("id")
            return self._task_snapshot(view, evidence=f"{action} view")
        failure = FAILURE_VIEWS[action]
        failed = yield from self._view(ids["cluster_id"], failure)
        # Once this wait has seen its task, only that task's record counts: an older failure that DWS may
        # still show must not fail a later, successful task.
        if (
            failed is not None
            and str(failed.body.get("status")) in FAILED_TASK_STATES
            and memory.get("task_id") in (None, failed.body.get("id"))
        ):
            return self._task_snapshot(failed, evidence=f"{failure} view")
        detail = yield HuaweiCall("GET", CLUSTER_PATH, {"cluster_id": ids["cluster_id"]})
        return self._cluster_snapshot(detail, action, failure, memory)

    def _view(self, cluster_id: str, action: str) -> Generator[Any, ApiResponse, ApiResponse | None]:
        try:
            response = yield HuaweiCall("GET", ACTION_PATH, {"cluster_id": cluster_id, "action_name": action})
        except (NotFoundError, InvalidRequestError) as exc:
            if exc.code in CLUSTER_UNKNOWN_CODES:
                raise
            # "No such ongoing task" is not documented; any not-found/invalid answer means "nothing here".
            return None
        return response

    def _task_snapshot(self, response: ApiResponse, *, evidence: str) -> Snapshot:
        body = response.body
        status = body.get("status")
        rows = _sub_items(body)
        errors = [f"{r['item_name']} / {r['sub_item_name']}: {r['error']}" for r in rows if r["error"]]
        failed_rows = [r for r in rows if str(r["status"]) in FAILED_TASK_STATES]
        reason = "; ".join(errors) or (
            "; ".join(f"{r['item_name']} / {r['sub_item_name']} {r['status']}" for r in failed_rows) or None
        )
        return Snapshot(
            vendor_status=status,
            status=self.table.status_of(status),
            request_id=response.request_id,
            progress=_progress(rows),
            reason=reason if self.table.status_of(status).is_final else None,
            details={
                "id": body.get("id"),
                "action_name": body.get("action_name"),
                "cluster_name": body.get("cluster_name"),
                "submit_time": body.get("submit_time"),
                "evidence": evidence,
                "items": rows,
            },
            markers={"sub_items": {f"{r['item_name']}/{r['sub_item_name']}": r["status"] for r in rows}},
        )

    def _cluster_snapshot(self, response: ApiResponse, action: str, failure: str, memory: dict[str, Any]) -> Snapshot:
        cluster = response.body.get("cluster")
        cluster = cluster if isinstance(cluster, Mapping) else {}
        task_status = str(cluster.get("task_status") or "")
        progress_map = cluster.get("action_progress") if isinstance(cluster.get("action_progress"), Mapping) else {}
        assert isinstance(progress_map, Mapping)
        failed_reasons = cluster.get("failed_reasons") if isinstance(cluster.get("failed_reasons"), Mapping) else {}
        assert isinstance(failed_reasons, Mapping)
        cluster_status = str(cluster.get("status") or "")
        facts = {
            "cluster_status": cluster_status,
            "task_status": task_status or None,
            "action_progress": dict(progress_map),
            "failed_reasons": dict(failed_reasons),
        }

        def snap(status: str, evidence: str, reason: str | None = None, progress: float | None = None) -> Snapshot:
            return Snapshot(
                vendor_status=status,
                status=self.table.status_of(status),
                request_id=response.request_id,
                progress=progress,
                reason=reason,
                details={"action_name": action, "evidence": evidence, **facts},
            )

        if task_status == action or action in progress_map:
            memory["seen"] = True
            pct = str(progress_map.get(action, "")).rstrip("%")
            progress = float(pct) / 100 if pct.replace(".", "", 1).isdigit() else None
            return snap("RUNNING", f"cluster task_status/action_progress still shows {action}", progress=progress)
        if failed_reasons.get("error_code") or task_status == failure or task_status.endswith(("_FAILED", "_FAILURE")):
            reason = f"cluster task_status={task_status or 'none'}"
            if failed_reasons.get("error_code"):
                reason += f", {failed_reasons.get('error_code')}: {failed_reasons.get('error_msg')}"
            return snap("FAILED", "cluster detail shows a failure", reason)
        if cluster_status not in HEALTHY_CLUSTER:
            return snap("FAILED", f"cluster status {cluster_status}", f"cluster is {cluster_status or 'in no status'}")
        if memory.get("seen"):
            return snap(
                "SUCCESS", f"{action} was seen running, is gone, {failure} has no record and the cluster is idle"
            )
        memory["unseen_checks"] = int(memory.get("unseen_checks", 0)) + 1
        if memory["unseen_checks"] > NOT_SEEN_GRACE:
            return snap(
                "FAILED",
                f"{action} never observed",
                f"{action} was never observed on the cluster in {memory['unseen_checks']} checks and left no "
                "record; its outcome cannot be confirmed (start the sensor before the action can finish)",
            )
        return snap("WAITING", f"{action} not visible yet (check {memory['unseen_checks']} of {NOT_SEEN_GRACE})")

    def changes(self, previous: Snapshot | None, current: Snapshot) -> list[str]:
        """Task status, then every sub-item whose status moved, with its progress and error."""
        lines = super().changes(previous, current)
        before: Mapping[str, Any] = previous.markers.get("sub_items", {}) if previous else {}
        for row in current.details.get("items", []):
            key = f"{row['item_name']}/{row['sub_item_name']}"
            if before.get(key) != row["status"]:
                text = f"{key} is {row['status']}"
                if row.get("progress"):
                    text += f" ({row['progress']})"
                if row.get("error"):
                    text += f": {row['error']}"
                lines.append(text)
        return lines
