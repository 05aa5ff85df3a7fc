"""Tencent EMR ``DescribeClusterFlowStatusDetail`` (2019-01-03): the operation and the :func:`emr_flow` builder.

Executions are keyed ``(InstanceId, FKey, FValue)`` with ``FKey`` ``FlowId`` or ``TraceId``; one flow can
be registered under both. Payloads start from the documented example response.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import Execution, ExecutionKey
from cloudflows_emulator.core.handler import ApiCall, ApiError, EmulatedService, Operation
from cloudflows_emulator.examples import load_example
from cloudflows_emulator.scripting import as_phases, local_seconds, now_utc
from cloudflows_emulator.tencent.protocol import (
    optional_bool,
    reject_unknown,
    require_object,
    require_region,
    require_str,
)

__all__ = ["EMR_SERVICE", "EmrPhase", "emr_flow"]

SERVICE = "emr"
ACTION = "DescribeClusterFlowStatusDetail"
VERSION = "2019-01-03"
FLOW_KEYS = ("FlowId", "TraceId")
_UNSET_TIME = "0000-00-00 00:00:00"

# Stage Status values. "Not started" is 4 on the wire (the documented example), although the reference
# table lists 0; the example is what the service actually returns.
_NOT_STARTED, _RUNNING, _DONE, _PARTLY_DONE, _FAILED = 4, 1, 2, 3, -1
_STAGE_DESC = {
    _NOT_STARTED: "Not started",
    _RUNNING: "Running",
    _DONE: "Completed",
    _PARTLY_DONE: "Partly completed",
    _FAILED: "Failed",
}
# FlowTotalStatus values (documented).
_FLOW_STATUSES = {
    0: "initializing",
    1: "running",
    2: "completed",
    3: "completed with skipped steps",
    -1: "failed",
    -3: "blocked",
}


@dataclass(frozen=True)
class EmrPhase:
    """From ``at`` seconds on, the flow reports ``status`` (FlowTotalStatus) at ``stage``.

    ``status``: 0 initializing, 1 running, 2 completed, 3 completed with skipped steps, -1 failed,
    -3 blocked. ``stage`` (index or ``Stage`` code or ``Name``) is the current stage: earlier stages are
    done, it is running (failed for -1, marked partly done for 3), later ones have not started; None keeps
    the previous phase's stage. ``progress`` overrides FlowTotalProgress (default: the fraction of stages
    done, 1.0 when completed). ``failed_reason`` is the current stage's FailedReason when failed.
    """

    at: float
    status: int = 1
    stage: int | str | None = None
    failed_reason: str = ""
    progress: float | None = None


def emr_flow(
    instance_id: str,
    flow_id: str | int | None = None,
    trace_id: str | None = None,
    phases: Sequence[EmrPhase | Sequence[Any] | Mapping[str, Any]] | None = None,
    *,
    flow_name: str | None = None,
    stages: Sequence[str | Mapping[str, Any]] | None = None,
    flow_desc: Sequence[Mapping[str, str]] | None = None,
    extra_detail: Sequence[Mapping[str, Any]] | None = None,
    start_immediately: bool = False,
) -> Execution:
    """An EMR flow addressed by ``flow_id`` and/or ``trace_id``, following ``phases``.

    Phases are :class:`EmrPhase` or shorthands ``(at, status[, stage[, failed_reason]])`` / mappings.
    The default runs through the stages and completes after 3 s. ``stages`` are stage names or full
    ``StageDetails`` templates (default: the eight stages of the documented example, a core scale-out);
    ``flow_name`` defaults to the example's ``"Scale Out Core"``; ``flow_desc`` and ``extra_detail`` fill
    ``FlowDesc`` and ``FlowExtraDetail`` (the latter is returned only when ``NeedExtraDetail`` is true).
    """
    if flow_id is None and trace_id is None:
        raise ValueError("emr_flow: give a flow_id, a trace_id or both")
    example = load_example("emr_describe_cluster_flow_status_detail")["Response"]
    templates = _stage_templates(stages, example["StageDetails"])
    if phases is None:
        last = len(templates) - 1
        phases = [EmrPhase(0, 1, 0), EmrPhase(1, 1, last // 2), EmrPhase(2, 1, last), EmrPhase(3, 2)]
    base = {
        "FlowDesc": copy.deepcopy(list(flow_desc)) if flow_desc is not None else example["FlowDesc"],
        "FlowExtraDetail": copy.deepcopy(list(extra_detail)) if extra_detail is not None else None,
        "FlowName": flow_name if flow_name is not None else example["FlowName"],
    }
    timeline = _timeline(as_phases(phases, EmrPhase), templates, base, now_utc())
    keys = []
    if flow_id is not None:
        keys.append((instance_id, "FlowId", str(flow_id)))
    if trace_id is not None:
        keys.append((instance_id, "TraceId", str(trace_id)))
    return Execution(
        service=SERVICE,
        key=keys[0],
        aliases=tuple(keys[1:]),
        timeline=timeline,
        start_immediately=start_immediately,
    )


def _stage_templates(
    stages: Sequence[str | Mapping[str, Any]] | None, example_stages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if stages is None:
        return example_stages
    if not stages:
        raise ValueError("emr_flow: stages must not be empty")
    templates = []
    for stage in stages:
        if isinstance(stage, Mapping):
            templates.append(dict(stage))
            continue
        code = re.sub(r"\W+", "", stage.title())
        code = code[:1].lower() + code[1:]
        templates.append(
            {
                "Desc": "",
                "Endtime": _UNSET_TIME,
                "FailedReason": "",
                "HadWoodDetail": False,
                "IsShow": True,
                "IsSubFlow": False,
                "LanguageKey": code,
                "Name": stage,
                "Progress": 0,
                "Stage": code,
                "Starttime": _UNSET_TIME,
                "Status": _NOT_STARTED,
                "SubFlowFlag": "",
                "TimeConsuming": "",
                "WoodJobId": 0,
            }
        )
    return templates


def _resolve_stage(stage: int | str, templates: list[dict[str, Any]]) -> int:
    if isinstance(stage, int) and not isinstance(stage, bool):
        if not 0 <= stage < len(templates):
            raise ValueError(f"emr_flow: stage index {stage} is out of range 0..{len(templates) - 1}")
        return stage
    for index, template in enumerate(templates):
        if stage in (template.get("Stage"), template.get("Name"), template.get("LanguageKey")):
            return index
    raise ValueError(f"emr_flow: unknown stage {stage!r}")


def _stage_statuses(phase: EmrPhase, current: int, count: int) -> list[int]:
    if phase.status == 0:
        return [_NOT_STARTED] * count
    if phase.status in (2, 3):
        statuses = [_DONE] * count
        if phase.status == 3 and phase.stage is not None:
            statuses[current] = _PARTLY_DONE
        return statuses
    head = _FAILED if phase.status == -1 else _RUNNING
    return [_DONE] * current + [head] + [_NOT_STARTED] * (count - current - 1)


def _timeline(
    phases: list[EmrPhase], templates: list[dict[str, Any]], base: dict[str, Any], start: datetime
) -> list[tuple[float, dict[str, Any]]]:
    count = len(templates)
    started: dict[int, float] = {}
    ended: dict[int, float] = {}
    current = 0
    timeline = []
    for phase in sorted(phases, key=lambda p: p.at):
        if phase.status not in _FLOW_STATUSES:
            raise ValueError(f"emr_flow: FlowTotalStatus must be one of {sorted(_FLOW_STATUSES)}, got {phase.status}")
        if phase.stage is not None:
            current = _resolve_stage(phase.stage, templates)
        statuses = _stage_statuses(phase, current, count)
        details = []
        for index, (template, status) in enumerate(zip(templates, statuses, strict=True)):
            if status != _NOT_STARTED:
                started.setdefault(index, phase.at)
            if status in (_DONE, _PARTLY_DONE, _FAILED):
                ended.setdefault(index, phase.at)
            stage = dict(template)
            stage["Status"] = status
            stage["Desc"] = "Blocked" if phase.status == -3 and status == _RUNNING else _STAGE_DESC[status]
            stage["FailedReason"] = phase.failed_reason if status == _FAILED else ""
            begin, end = started.get(index), ended.get(index)
            stage["Starttime"] = _UNSET_TIME if begin is None else local_seconds(start + timedelta(seconds=begin))
            stage["Endtime"] = _UNSET_TIME if end is None else local_seconds(start + timedelta(seconds=end))
            if begin is not None and end is not None:
                stage["TimeConsuming"] = f"takes {round(end - begin)}s"
            else:
                stage["TimeConsuming"] = ""
            details.append(stage)
        if phase.progress is not None:
            progress = phase.progress
        elif phase.status in (2, 3):
            progress = 1.0
        else:
            progress = round(sum(1 for s in statuses if s == _DONE) / count, 2)
        payload = {
            **copy.deepcopy(base),
            "FlowTotalProgress": progress,
            "FlowTotalStatus": phase.status,
            "StageDetails": details,
        }
        timeline.append((phase.at, payload))
    return timeline


# --- the operation ----------------------------------------------------------------------------------------


async def describe_cluster_flow_status_detail(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``DescribeClusterFlowStatusDetail``: the flow's current payload, or ``ResourceNotFound.InstanceNotFound``."""
    params = call.params
    reject_unknown(params, {"InstanceId", "FlowParam", "NeedExtraDetail"})
    require_region(call)
    instance_id = require_str(params, "InstanceId")
    flow_param = require_object(params, "FlowParam")
    for name in flow_param:
        if name not in ("FKey", "FValue"):
            raise ApiError("UnknownParameter", f"The parameter `FlowParam.{name}` is not recognized.")
    fkey = require_str(flow_param, "FKey", path="FlowParam.FKey")
    # FValue is a String even for a numeric flow id; an integer here is a client bug worth surfacing.
    fvalue = require_str(flow_param, "FValue", path="FlowParam.FValue")
    if fkey not in FLOW_KEYS:
        raise ApiError(
            "InvalidParameterValue", f"The value `{fkey}` of `FlowParam.FKey` is invalid: use FlowId or TraceId."
        )
    need_extra = optional_bool(params, "NeedExtraDetail", False)
    call.key = (instance_id, fkey, fvalue)
    view = emulator.observe(SERVICE, call.key)
    if view is None:
        raise ApiError(
            "ResourceNotFound.InstanceNotFound",
            f"The instance was not found: no flow {fkey}={fvalue} on instance `{instance_id}`.",
        )
    payload = view.payload
    if not need_extra:
        # Documented: FlowExtraDetail is only returned when NeedExtraDetail is true.
        payload["FlowExtraDetail"] = None
    return payload


def _execution_keys(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    instance_id = fields.get("InstanceId")
    if not instance_id:
        raise ValueError("emr executions need InstanceId and FlowId and/or TraceId")
    keys: list[ExecutionKey] = [
        (str(instance_id), name, str(fields[name])) for name in FLOW_KEYS if fields.get(name) is not None
    ]
    if not keys:
        raise ValueError("emr executions need FlowId and/or TraceId")
    return keys


EMR_SERVICE = EmulatedService(
    vendor="tencent",
    service=SERVICE,
    operations=(Operation(SERVICE, ACTION, VERSION, describe_cluster_flow_status_detail),),
    execution_keys=_execution_keys,
    builders={"emr_flow": emr_flow},
)
"""EMR as served by the emulator: documented limit 20 requests/second."""
