"""Tencent EMR and CynosDB write actions that start a flow: ``ScaleOutCluster``, ``TerminateClusterNodes``
(EMR 2019-01-03); ``PauseServerless``, ``ResumeServerless``, ``CreateBackup`` (CynosDB 2019-01-07).

Each call registers a new flow (an :func:`emr_flow` / :func:`cynosdb_flow` execution whose clock starts at
the call) and answers its ``FlowId`` (EMR also a ``TraceId``), so the existing status operations serve it.
The flows' timelines are scripted beforehand with :func:`plan_emr_flow` / :func:`plan_cynosdb_flow`;
unplanned flows succeed after about 2 seconds.

- ``ScaleOutCluster`` takes a ``ClientToken``, kept 5 minutes as documented: the same token within that
  window returns the same flow; after it, the call starts a new one. The other actions take no token:
  each call starts a new flow (which is why the operators never repeat them blindly).
- Rate limits: 20 requests/second (the documented limit of these products' APIs).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.handler import ApiCall, ApiError, Operation
from cloudflows_emulator.tencent.cynosdb import PROCESSING, SUCCEEDED, cynosdb_flow
from cloudflows_emulator.tencent.emr import EmrPhase, emr_flow
from cloudflows_emulator.tencent.protocol import (
    reject_unknown,
    require_object,
    require_region,
    require_str,
)

__all__ = ["CYNOSDB_ACTION_OPERATIONS", "EMR_ACTION_OPERATIONS", "plan_cynosdb_flow", "plan_emr_flow"]

EMR_VERSION = "2019-01-03"
CYNOSDB_VERSION = "2019-01-07"
CLIENT_TOKEN_TTL = 300.0
_FIRST_EMR_FLOW = 5001
_FIRST_CYNOSDB_FLOW = 7001
_DEFAULT_EMR_PHASES = (EmrPhase(0, 0), EmrPhase(0.5, 1, 0), EmrPhase(1, 1, 4), EmrPhase(2, 2))
_DEFAULT_CYNOSDB_STATUSES = ((0, PROCESSING), (2, SUCCEEDED))
# Request fields of the SDK models (anything else is UnknownParameter, which catches client typos).
_SCALE_OUT_FIELDS = frozenset(
    {
        "InstanceChargeType",
        "InstanceId",
        "ScaleOutNodeConfig",
        "ClientToken",
        "InstanceChargePrepaid",
        "ScriptBootstrapActionConfig",
        "SoftDeployInfo",
        "ServiceNodeInfo",
        "DisasterRecoverGroupIds",
        "Tags",
        "HardwareSourceType",
        "PodSpecInfo",
        "ClickHouseClusterName",
        "ClickHouseClusterType",
        "YarnNodeLabel",
        "EnableStartServiceFlag",
        "ResourceSpec",
        "Zone",
        "SubnetId",
        "ScaleOutServiceConfGroupsInfo",
        "NodeMarks",
        "WarehouseName",
        "PartitionNumber",
    }
)
_TERMINATE_FIELDS = frozenset({"InstanceId", "CvmInstanceIds", "NodeFlag", "GraceDownFlag", "GraceDownTime"})
_CYNOSDB_FIELDS = {
    "PauseServerless": frozenset({"ClusterId", "ForcePause"}),
    "ResumeServerless": frozenset({"ClusterId"}),
    "CreateBackup": frozenset({"ClusterId", "BackupType", "BackupDatabases", "BackupTables", "BackupName", "Vaults"}),
}


def plan_emr_flow(emulator: Emulator, instance_id: str, phases: Sequence[Any], *, action: str | None = None) -> None:
    """Script the next flows started on ``instance_id`` (by ``action``, or any) with :func:`emr_flow` phases."""
    emulator.scratch("emr").setdefault("plans", {})[(instance_id, action)] = list(phases)


def plan_cynosdb_flow(
    emulator: Emulator, statuses: Sequence[Any], *, cluster_id: str | None = None, action: str | None = None
) -> None:
    """Script the next CynosDB flows (of ``cluster_id`` / ``action``, None: any) as ``(at, Status)`` pairs."""
    emulator.scratch("cynosdb").setdefault("plans", {})[(cluster_id, action)] = list(statuses)


def _counter(scratch: dict[str, Any], first: int) -> int:
    ids: itertools.count[int] = scratch.setdefault("flow_ids", itertools.count(first))
    return next(ids)


def _emr_flow_started(call: ApiCall, emulator: Emulator, instance_id: str, flow_name: str) -> dict[str, Any]:
    scratch = emulator.scratch("emr")
    plans = scratch.get("plans", {})
    phases = plans.get((instance_id, call.action)) or plans.get((instance_id, None)) or _DEFAULT_EMR_PHASES
    flow_id, trace_id = _counter(scratch, _FIRST_EMR_FLOW), str(uuid.uuid4())
    emulator.add_execution(
        emr_flow(
            instance_id, flow_id=flow_id, trace_id=trace_id, phases=phases, flow_name=flow_name, start_immediately=True
        )
    )
    call.key = (instance_id, "FlowId", str(flow_id))
    return {"FlowId": flow_id, "TraceId": trace_id}


async def scale_out_cluster(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``ScaleOutCluster``: a new scale-out flow, or the same one for a ClientToken seen in the last 5 minutes."""
    params = call.params
    reject_unknown(params, _SCALE_OUT_FIELDS)
    require_region(call)
    instance_id = require_str(params, "InstanceId")
    charge = require_str(params, "InstanceChargeType")
    if charge not in ("PREPAID", "POSTPAID_BY_HOUR", "SPOTPAID"):
        raise ApiError("InvalidParameterValue", f"The value `{charge}` of `InstanceChargeType` is invalid.")
    config = require_object(params, "ScaleOutNodeConfig")
    require_str(config, "NodeFlag", path="ScaleOutNodeConfig.NodeFlag")
    count = config.get("NodeCount")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ApiError("InvalidParameterValue", "`ScaleOutNodeConfig.NodeCount` must be a positive integer.")
    token = params.get("ClientToken")
    tokens: dict[str, tuple[float, dict[str, Any]]] = emulator.scratch("emr").setdefault("tokens", {})
    now = emulator.clock()
    if isinstance(token, str) and token in tokens and now - tokens[token][0] < CLIENT_TOKEN_TTL:
        reply = tokens[token][1]
        call.key = (instance_id, "FlowId", str(reply["FlowId"]))
    else:
        reply = _emr_flow_started(call, emulator, instance_id, "Scale Out")
        if isinstance(token, str) and token:
            tokens[token] = (now, reply)
    return {"InstanceId": instance_id, "ClientToken": token or "", **reply, "DealNames": [], "BillId": ""}


async def terminate_cluster_nodes(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``TerminateClusterNodes``: a new scale-in flow each call (no ClientToken); only ``FlowId`` is answered."""
    params = call.params
    reject_unknown(params, _TERMINATE_FIELDS)
    require_region(call)
    instance_id = require_str(params, "InstanceId")
    nodes = params.get("CvmInstanceIds")
    if not isinstance(nodes, list) or not nodes or not all(isinstance(n, str) for n in nodes):
        raise ApiError("MissingParameter", "The request is missing a required parameter `CvmInstanceIds`.")
    require_str(params, "NodeFlag")
    return {"FlowId": _emr_flow_started(call, emulator, instance_id, "Terminate Nodes")["FlowId"]}


async def cynosdb_action(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``PauseServerless`` / ``ResumeServerless`` / ``CreateBackup``: a new task flow each call."""
    assert call.action is not None
    reject_unknown(call.params, _CYNOSDB_FIELDS[call.action])
    require_region(call)
    cluster_id = require_str(call.params, "ClusterId")
    scratch = emulator.scratch("cynosdb")
    plans = scratch.get("plans", {})
    statuses = next(
        (
            plans[k]
            for k in ((cluster_id, call.action), (cluster_id, None), (None, call.action), (None, None))
            if k in plans
        ),
        _DEFAULT_CYNOSDB_STATUSES,
    )
    flow_id = _counter(scratch, _FIRST_CYNOSDB_FLOW)
    emulator.add_execution(cynosdb_flow(flow_id, statuses, start_immediately=True))
    call.key = (str(flow_id),)
    return {"FlowId": flow_id}


EMR_ACTION_OPERATIONS = (
    Operation("emr", "ScaleOutCluster", EMR_VERSION, scale_out_cluster),
    Operation("emr", "TerminateClusterNodes", EMR_VERSION, terminate_cluster_nodes),
)
CYNOSDB_ACTION_OPERATIONS = tuple(
    Operation("cynosdb", action, CYNOSDB_VERSION, cynosdb_action) for action in _CYNOSDB_FIELDS
)
