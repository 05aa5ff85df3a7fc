"""Huawei DWS writes and the job API: create a snapshot, resize (scale out), restore a snapshot, query a job.

- ``POST /v1.0/{project_id}/snapshots`` ``{"snapshot": {name, cluster_id, description}}`` -> ``{"snapshot":
  {"id"}}``; the cluster then runs a SNAPSHOTTING task (a :func:`dws_task`, scripted beforehand with
  :func:`plan_dws_action`; default: running, succeeded after ~3 s); ``ListSnapshots`` lists the snapshot,
  CREATING until the task ends (``dws_snapshots``).
- ``POST /v1.0/{project_id}/clusters/{cluster_id}/resize`` ``{"scale_out": {"count": n}, ...}`` -> ``{}``
  (DWS documents an empty response); the cluster runs a GROWING task.
- ``POST /v1.0/{project_id}/snapshots/{snapshot_id}/actions`` ``{"restore": {"name", ...}}`` ->
  ``{"cluster": {"id"}, "job_id"}``: a new cluster running RESTORING, and a job following the same plan
  (``plan_dws_action(..., job=False)`` answers without ``job_id``, as older DWS versions do).
- ``GET /v1.0/{project_id}/job/{job_id}`` (ListJobDetails) -> ``job_id``, ``job_name``, ``begin_time``,
  ``end_time``, ``status`` (INIT / WAITING / RUNNING / DELAY_SCHEDULED / FAIL / SUCCESS / STOP),
  ``failed_code``, ``failed_detail``, ``progress``; :func:`dws_job` builds one directly.

Every request is SDK-HMAC verified by the handler, the JSON body included. None of the writes is idempotent:
each call starts a new task. *Judgments* (undocumented): an unknown cluster is 401 ``DWS.0047`` as for the
reads; an unknown snapshot is 404 ``DWS.0001``; an unknown job is 404 ``DWS.0001``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import Execution
from cloudflows_emulator.core.handler import ApiCall, ApiError
from cloudflows_emulator.huawei.dws_models import CLUSTER_NOT_FOUND, dws_task
from cloudflows_emulator.huawei.dws_models import SERVICE as DWS
from cloudflows_emulator.huawei.dws_snapshots import add_task_snapshot
from cloudflows_emulator.huawei.protocol import RestOperation
from cloudflows_emulator.scripting import now_utc

__all__ = ["DWS_ACTION_OPERATIONS", "JOB_SERVICE", "dws_job", "plan_dws_action"]

JOB_SERVICE = "dws_job"
JOB_STATUSES = ("INIT", "WAITING", "RUNNING", "DELAY_SCHEDULED", "FAIL", "SUCCESS", "STOP")
_JOB_ENDS = {"success": "SUCCESS", "failed": "FAIL", "stopped": "STOP"}
_DEFAULT_PHASES: list[Any] = [(0, "RUNNING", 20), (1, "RUNNING", 60), (2, "RUNNING", 90)]


def plan_dws_action(
    emulator: Emulator,
    action_name: str,
    phases: Sequence[Any] | None = None,
    *,
    end: str = "success",
    end_at: float | None = None,
    job: bool = True,
    failed_code: str = "DWS.9999",
    failed_detail: str = "restore failed on dn_6001 (emulated failure)",
    **kwargs: Any,
) -> None:
    """Script the next SNAPSHOTTING / GROWING / RESTORING task a write starts: :func:`dws_task` phases,
    ``end`` and keyword arguments; for RESTORING also whether the reply carries a ``job_id`` (``job``) and the
    job's ``failed_code`` / ``failed_detail`` on a failure end."""
    emulator.scratch("dws_actions").setdefault("plans", {})[action_name] = {
        "phases": list(phases or _DEFAULT_PHASES),
        "end": end,
        "end_at": end_at,
        "job": job,
        "failed_code": failed_code,
        "failed_detail": failed_detail,
        "kwargs": dict(kwargs),
    }


def _plan(emulator: Emulator, action: str) -> dict[str, Any]:
    plans = emulator.scratch("dws_actions").get("plans", {})
    default: dict[str, Any] = {"phases": _DEFAULT_PHASES, "end": "success", "end_at": None, "job": True, "kwargs": {}}
    return dict(plans.get(action) or default)


def dws_job(
    job_id: str,
    phases: Sequence[tuple[float, str, float] | Sequence[Any]] | None = None,
    *,
    end: str | None = "success",
    end_at: float | None = None,
    job_name: str = "restoreCluster",
    failed_code: str = "DWS.9999",
    failed_detail: str = "restore failed on dn_6001 (emulated failure)",
    start_immediately: bool = False,
) -> Execution:
    """A DWS job through ``(at, status, progress)`` phases (default RUNNING 20/60/90 %), then ``end``
    (``success``, ``failed``, ``stopped`` or None) at ``end_at`` (default: a second after the last phase)."""
    start = now_utc()
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    rows = [(float(p[0]), str(p[1]), float(p[2]) if len(p) > 2 else 0.0) for p in (phases or _DEFAULT_PHASES)]
    for _, status, _ in rows:
        if status not in JOB_STATUSES:
            raise ValueError(f"dws_job: status must be one of {JOB_STATUSES}, got {status!r}")

    def payload(status: str, progress: float, ended: float | None) -> dict[str, Any]:
        return {
            "job_id": job_id,
            "job_name": job_name,
            "begin_time": start.strftime(stamp),
            "end_time": (start + timedelta(seconds=ended)).strftime(stamp) if ended is not None else "",
            "status": status,
            "failed_code": failed_code if status == "FAIL" else "",
            "failed_detail": failed_detail if status == "FAIL" else "",
            "progress": f"{progress:.0f}",
        }

    timeline = [(at, payload(status, progress, None)) for at, status, progress in rows]
    if end is not None:
        if end not in _JOB_ENDS:
            raise ValueError(f"dws_job: end must be one of {sorted(_JOB_ENDS)} or None, got {end!r}")
        at = end_at if end_at is not None else rows[-1][0] + 1.0
        timeline.append((at, payload(_JOB_ENDS[end], 100.0 if end == "success" else rows[-1][2], at)))
    return Execution(service=JOB_SERVICE, key=(job_id,), timeline=timeline, start_immediately=start_immediately)


def _body(call: ApiCall, name: str) -> Mapping[str, Any]:
    body = call.extra.get("json")
    value = body.get(name) if isinstance(body, Mapping) else None
    if not isinstance(value, Mapping):
        raise ApiError("DWS.0001", f"Incorrect parameter: the body must hold a '{name}' object.", 400)
    return value


def _cluster_nodes(emulator: Emulator, cluster_id: str) -> int:
    view = emulator.observe(DWS, (cluster_id,))
    if view is None:
        raise ApiError(*CLUSTER_NOT_FOUND, 401)
    cluster = view.payload.get("cluster") or {}
    nodes = cluster.get("number_of_node")
    return nodes if isinstance(nodes, int) else 3


def _start_task(emulator: Emulator, cluster_id: str, action: str, **extra: Any) -> dict[str, Any]:
    plan = _plan(emulator, action)
    emulator.add_execution(
        dws_task(
            cluster_id,
            action,
            plan["phases"],
            end=plan["end"],
            end_at=plan["end_at"],
            start_immediately=True,
            **{**extra, **plan["kwargs"]},
        )
    )
    return plan


async def create_snapshot(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``CreateSnapshot``: the cluster starts SNAPSHOTTING; the snapshot's id is answered."""
    snapshot = _body(call, "snapshot")
    name, cluster_id = snapshot.get("name"), snapshot.get("cluster_id")
    if not isinstance(name, str) or not 4 <= len(name) <= 64:
        raise ApiError("DWS.0001", "Incorrect parameter: snapshot.name must be 4-64 characters.", 400)
    if not isinstance(cluster_id, str) or not cluster_id:
        raise ApiError("DWS.0001", "Incorrect parameter: snapshot.cluster_id is required.", 400)
    call.key = (cluster_id,)
    nodes = _cluster_nodes(emulator, cluster_id)
    plan = _start_task(emulator, cluster_id, "SNAPSHOTTING", number_of_node=nodes)
    snapshot_id = str(uuid.uuid4())
    emulator.scratch("dws_actions").setdefault("snapshots", {})[snapshot_id] = {"cluster_id": cluster_id, "name": name}
    # Listed by ListSnapshots (dws_snapshots), ending with the task just started.
    description = snapshot.get("description")
    add_task_snapshot(
        emulator,
        emulator.get_execution(DWS, (cluster_id,)),
        snapshot_id=snapshot_id,
        cluster_id=cluster_id,
        name=name,
        description=description if isinstance(description, str) else "",
        end=plan["end"],
    )
    return {"snapshot": {"id": snapshot_id}}


async def resize_cluster(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``ResizeCluster``: the cluster starts GROWING by ``scale_out.count`` nodes; the answer is empty."""
    cluster_id = call.params["cluster_id"]
    call.key = (cluster_id,)
    count = _body(call, "scale_out").get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ApiError("DWS.0001", "Incorrect parameter: scale_out.count must be a positive integer.", 400)
    nodes = _cluster_nodes(emulator, cluster_id)
    _start_task(emulator, cluster_id, "GROWING", number_of_node=nodes, target_number_of_node=nodes + count)
    return {}


async def restore_cluster(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``RestoreCluster``: a new cluster restoring the snapshot (and a job, unless planned without)."""
    snapshot_id = call.params["snapshot_id"]
    restore = _body(call, "restore")
    if not isinstance(restore.get("name"), str) or not restore["name"]:
        raise ApiError("DWS.0001", "Incorrect parameter: restore.name is required.", 400)
    if snapshot_id not in emulator.scratch("dws_actions").get("snapshots", {}):
        raise ApiError("DWS.0001", f"Incorrect parameter: snapshot {snapshot_id} does not exist.", 404)
    cluster_id = str(uuid.uuid4())
    call.key = (cluster_id,)
    plan = _start_task(emulator, cluster_id, "RESTORING", cluster_name=str(restore["name"]))
    if not plan["job"]:
        return {"cluster": {"id": cluster_id}}
    job_id = str(uuid.uuid4())
    rows = [(float(p[0]), "RUNNING", float(p[2]) if len(p) > 2 and p[2] is not None else 0.0) for p in plan["phases"]]
    job_end = {"success": "success", "failed": "failed", "rolled_back": "failed", "rollback_failed": "failed"}
    emulator.add_execution(
        dws_job(
            job_id,
            rows,
            end=job_end.get(plan["end"]) if plan["end"] else None,
            end_at=plan["end_at"],
            failed_code=plan.get("failed_code", "DWS.9999"),
            failed_detail=plan.get("failed_detail", "restore failed (emulated failure)"),
            start_immediately=True,
        )
    )
    return {"cluster": {"id": cluster_id}, "job_id": job_id}


async def list_job_details(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``ListJobDetails``: the job as scripted for now."""
    job_id = call.params["job_id"]
    call.key = (job_id,)
    view = emulator.observe(JOB_SERVICE, (job_id,))
    if view is None:
        raise ApiError("DWS.0001", f"Incorrect parameter: job {job_id} does not exist.", 404)
    return view.payload


DWS_ACTION_OPERATIONS = (
    RestOperation(
        DWS,
        "CreateSnapshot",
        "v1.0",
        create_snapshot,
        method="POST",
        path="/v1.0/{project_id}/snapshots",
    ),
    RestOperation(
        DWS,
        "ResizeCluster",
        "v1.0",
        resize_cluster,
        method="POST",
        path="/v1.0/{project_id}/clusters/{cluster_id}/resize",
    ),
    RestOperation(
        DWS,
        "RestoreCluster",
        "v1.0",
        restore_cluster,
        method="POST",
        path="/v1.0/{project_id}/snapshots/{snapshot_id}/actions",
    ),
    RestOperation(
        DWS,
        "ListJobDetails",
        "v1.0",
        list_job_details,
        method="GET",
        path="/v1.0/{project_id}/job/{job_id}",
    ),
)
