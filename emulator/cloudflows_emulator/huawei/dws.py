"""Huawei Cloud DWS operations: ``ListClusterActions``, ``ListClusterDetails`` and ``ListClusters``.

The requests' side of DWS: path parameters in, the state of ``dws_models`` out. What each answers, and
the judgments where DWS documents nothing, are described in ``dws_models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import ExecutionKey
from cloudflows_emulator.core.handler import ApiCall, ApiError, EmulatedService
from cloudflows_emulator.huawei.dws_models import (
    ACTION_NAMES,
    ALL_ENTERPRISE_PROJECTS,
    ANSWER,
    CLUSTER_INFO_FIELDS,
    CLUSTER_NOT_FOUND,
    LIST_CLUSTER_ACTIONS,
    LIST_CLUSTER_DETAILS,
    LIST_CLUSTERS,
    SERVICE,
    dws_cluster,
    dws_task,
    is_uuid,
    served_answer,
)
from cloudflows_emulator.huawei.protocol import RestOperation

__all__ = ["DWS_SERVICE", "list_cluster_actions", "list_cluster_details", "list_clusters"]


def _cluster_key(call: ApiCall) -> ExecutionKey:
    cluster_id = call.params["cluster_id"]
    call.key = (cluster_id,)
    if not is_uuid(cluster_id):
        raise ApiError("DWS.0001", f"Incorrect parameter: cluster_id {cluster_id!r} is not a valid UUID.", 400)
    return call.key


async def list_cluster_actions(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``ListClusterActions``: the record in the ``action_name`` view, or 400 "No ongoing task"."""
    action = call.params["action_name"]
    if action not in ACTION_NAMES:
        raise ApiError("DWS.0001", f"Incorrect parameter: action_name must be one of {', '.join(ACTION_NAMES)}.", 400)
    key = _cluster_key(call)
    view = emulator.observe(SERVICE, key)
    if view is None:
        raise ApiError(*CLUSTER_NOT_FOUND, 401)
    record = (view.payload.get("actions") or {}).get(action)
    if isinstance(record, Mapping) and ANSWER in record:
        return served_answer(record)
    if not record:
        # Judgment: DWS only documents that "some ongoing tasks" can be viewed; a task that is not (or no
        # longer) there is answered as a bad request, which the client must not read as success or failure.
        raise ApiError("DWS.0001", f"No ongoing task {action} on this cluster.", 400)
    result: dict[str, Any] = dict(record)
    return result


async def list_cluster_details(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``ListClusterDetails``: ``{"cluster": {...}}`` as scripted for now."""
    view = emulator.observe(SERVICE, _cluster_key(call))
    if view is None:
        raise ApiError(*CLUSTER_NOT_FOUND, 401)
    if isinstance(view.payload.get("cluster_answer"), Mapping):
        return served_answer(view.payload["cluster_answer"])
    return {"cluster": view.payload["cluster"]}


async def list_clusters(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``ListClusters``: every known cluster as ``ListClusterDetails`` would show it now, as ClusterInfo."""
    enterprise_project = call.request.query_params.get("enterprise_project_id")
    clusters = []
    for execution in emulator.executions:
        if execution.service != SERVICE:
            continue
        view = emulator.observe(SERVICE, execution.key)
        cluster = None if view is None else view.payload.get("cluster")
        if not isinstance(cluster, Mapping):
            continue
        if enterprise_project not in (None, ALL_ENTERPRISE_PROJECTS) and (
            cluster.get("enterprise_project_id") != enterprise_project
        ):
            continue
        clusters.append({name: cluster[name] for name in CLUSTER_INFO_FIELDS if name in cluster})
    clusters.sort(key=lambda info: str(info.get("id", "")))
    clusters.sort(key=lambda info: str(info.get("created", "")), reverse=True)
    return {"clusters": clusters, "count": len(clusters)}


def _execution_keys(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    if not fields.get("cluster_id"):
        raise ValueError("dws executions need cluster_id")
    return [(str(fields["cluster_id"]),)]


DWS_SERVICE = EmulatedService(
    vendor="huawei",
    service=SERVICE,
    operations=(
        RestOperation(
            SERVICE,
            LIST_CLUSTER_ACTIONS,
            "v1",
            list_cluster_actions,
            method="GET",
            path="/v1/{project_id}/clusters/{cluster_id}/actions/{action_name}",
        ),
        RestOperation(
            SERVICE,
            LIST_CLUSTER_DETAILS,
            "v1.0",
            list_cluster_details,
            method="GET",
            path="/v1.0/{project_id}/clusters/{cluster_id}",
        ),
        RestOperation(
            SERVICE,
            LIST_CLUSTERS,
            "v1.0",
            list_clusters,
            method="GET",
            path="/v1.0/{project_id}/clusters",
        ),
    ),
    execution_keys=_execution_keys,
    builders={"dws_task": dws_task, "dws_cluster": dws_cluster},
)
"""DWS as served by the emulator (quotas: limits.py)."""
