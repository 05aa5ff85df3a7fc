"""Tencent Batch ``DescribeTask`` (2017-03-12): the operation and the :func:`batch_task` builder.

Executions are keyed ``(JobId, TaskName)``. Each phase sets the ``TaskState`` and the per-instance states;
``TaskInstanceSet``, ``TaskInstanceMetrics`` and the times are derived so they always agree with it.
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
from cloudflows_emulator.scripting import as_phases, iso_seconds, now_utc
from cloudflows_emulator.tencent.protocol import optional_int, reject_unknown, require_str

__all__ = ["BATCH_SERVICE", "JOB_ID_PATTERN", "TASK_STATES", "BatchPhase", "batch_task"]

SERVICE = "batch"
ACTION = "DescribeTask"
VERSION = "2017-03-12"
JOB_ID_PATTERN = re.compile(r"job-[a-z0-9]{8}")
MAX_LIMIT = 1000

TASK_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEED", "FAILED", "FAILED_INTERRUPTED")
_TERMINAL = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
# How far an instance has progressed, to know which of LaunchTime / RunningTime / EndTime it has.
_RANK = {"SUBMITTED": 0, "PENDING": 1, "RUNNABLE": 2, "STARTING": 3, "RUNNING": 4, **dict.fromkeys(_TERMINAL, 5)}
# The Batch metric counting tasks or instances in each state.
STATE_METRICS = {
    "SUBMITTED": "SubmittedCount",
    "PENDING": "PendingCount",
    "RUNNABLE": "RunnableCount",
    "STARTING": "StartingCount",
    "RUNNING": "RunningCount",
    "SUCCEED": "SucceedCount",
    "FAILED": "FailedCount",
    "FAILED_INTERRUPTED": "FailedInterruptedCount",
}
_FILTER_NAMES = ("task-instance-state", "task-instance-type")  # the documentation uses both spellings
_DEFAULT_REASONS = {
    "FAILED": "Process exited with a non-zero exit code.",
    "FAILED_INTERRUPTED": "The compute node was released while the task instance was running.",
}


@dataclass(frozen=True)
class BatchPhase:
    """From ``at`` seconds on, the task is in ``state`` (a ``TaskState``).

    Instances share the task's state, except when it is ``FAILED`` / ``FAILED_INTERRUPTED``: then the
    instances in ``failed_instances`` (default: instance 0) are in that state with ``exit_code`` and
    ``reason`` (``StateReason``), the others ``SUCCEED``. ``instance_states`` sets every instance's
    ``TaskInstanceState`` explicitly instead.
    """

    at: float
    state: str = "RUNNING"
    failed_instances: Sequence[int] | None = None
    exit_code: int | None = 1
    reason: str | None = None
    instance_states: Sequence[str] | None = None


def batch_task(
    job_id: str,
    task_name: str = "A",
    phases: Sequence[BatchPhase | Sequence[Any] | Mapping[str, Any]] | None = None,
    *,
    instance_count: int = 1,
    start_immediately: bool = False,
) -> Execution:
    """A Batch task of ``instance_count`` instances following ``phases``.

    Phases are :class:`BatchPhase` or shorthands ``(at, state)`` / mappings; the default runs, then
    succeeds after 3 s. ``job_id`` must look like ``job-xxxxxxxx`` as the real service requires.
    """
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise ValueError(f"batch_task: JobId {job_id!r} does not match ^job-[a-z0-9]{{8}}$")
    if instance_count < 1:
        raise ValueError("batch_task: instance_count must be at least 1")
    phase_list = as_phases(phases if phases is not None else [(0, "RUNNING"), (3, "SUCCEED")], BatchPhase)
    example = load_example("batch_describe_task")["Response"]
    instance_template = next(i for i in example["TaskInstanceSet"] if i["TaskInstanceIndex"] == 0)
    start = now_utc()
    phase_list.sort(key=lambda p: p.at)
    created = start + timedelta(seconds=phase_list[0].at)
    reached: list[dict[str, float]] = [{} for _ in range(instance_count)]
    timeline = []
    for phase in phase_list:
        states, failed = _instance_states(phase, instance_count)
        instances = []
        for index, state in enumerate(states):
            marks = reached[index]
            for name, rank in (("launch", 3), ("running", 4), ("end", 5)):
                if _RANK[state] >= rank:
                    marks.setdefault(name, phase.at)
            instances.append(
                _instance(instance_template, job_id, task_name, index, state, marks, start, created, phase, failed)
            )
        metrics = dict.fromkeys(example["TaskInstanceMetrics"], 0)
        for state in states:
            metrics[STATE_METRICS[state]] += 1
        payload = {name: value for name, value in copy.deepcopy(example).items() if name != "RequestId"}
        payload.update(
            {
                "TaskInstanceSet": instances,
                "TaskState": phase.state,
                "JobId": job_id,
                "TaskInstanceMetrics": metrics,
                "TaskInstanceTotalCount": instance_count,
                "TaskName": task_name,
                "EndTime": iso_seconds(start + timedelta(seconds=phase.at)) if phase.state in _TERMINAL else None,
                "CreateTime": iso_seconds(created),
            }
        )
        timeline.append((phase.at, payload))
    return Execution(service=SERVICE, key=(job_id, task_name), timeline=timeline, start_immediately=start_immediately)


def _instance_states(phase: BatchPhase, count: int) -> tuple[list[str], set[int]]:
    if phase.state not in TASK_STATES:
        raise ValueError(f"batch_task: TaskState must be one of {TASK_STATES}, got {phase.state!r}")
    if phase.instance_states is not None:
        states = list(phase.instance_states)
        if len(states) != count or any(s not in TASK_STATES for s in states):
            raise ValueError(f"batch_task: instance_states must list {count} TaskInstanceState values")
        return states, {i for i, s in enumerate(states) if s in ("FAILED", "FAILED_INTERRUPTED")}
    if phase.state not in ("FAILED", "FAILED_INTERRUPTED"):
        return [phase.state] * count, set()
    failed = set(phase.failed_instances if phase.failed_instances is not None else [0])
    if not failed or not failed <= set(range(count)):
        raise ValueError(f"batch_task: failed_instances must be indexes in 0..{count - 1}")
    return [phase.state if i in failed else "SUCCEED" for i in range(count)], failed


def _instance(
    template: dict[str, Any],
    job_id: str,
    task_name: str,
    index: int,
    state: str,
    marks: dict[str, float],
    start: datetime,
    created: datetime,
    phase: BatchPhase,
    failed: set[int],
) -> dict[str, Any]:
    def at(mark: str) -> str | None:
        return iso_seconds(start + timedelta(seconds=marks[mark])) if mark in marks else None

    instance = copy.deepcopy(template)
    redirect = instance["RedirectInfo"]
    redirect["StdoutRedirectFileName"] = f"stdout.{job_id}.{task_name}.{index}.log"
    redirect["StderrRedirectFileName"] = f"stderr.{job_id}.{task_name}.{index}.log"
    is_failed = index in failed
    if is_failed:
        exit_code = phase.exit_code if state == "FAILED" else None
        reason = phase.reason if phase.reason is not None else _DEFAULT_REASONS.get(state, "")
        detailed = f"ExitCode: {exit_code}" if exit_code is not None else reason
    else:
        exit_code = 0 if state == "SUCCEED" else None
        reason = detailed = ""
    instance.update(
        {
            "TaskInstanceIndex": index,
            "TaskInstanceState": state,
            "ExitCode": exit_code,
            "StateReason": reason,
            "StateDetailedReason": detailed,
            "CreateTime": iso_seconds(created),
            "LaunchTime": at("launch"),
            "RunningTime": at("running"),
            "EndTime": at("end"),
        }
    )
    return instance


# --- the operation ----------------------------------------------------------------------------------------


async def describe_task(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``DescribeTask``: the task's current payload, honouring Offset / Limit / Filters on the instances."""
    params = call.params
    reject_unknown(params, {"JobId", "TaskName", "Offset", "Limit", "Filters"})
    job_id = require_str(params, "JobId")
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise ApiError("InvalidParameter.JobIdMalformed", f"Invalid job ID format: `{job_id}`.")
    task_name = require_str(params, "TaskName")
    offset = optional_int(params, "Offset", 0)
    limit = optional_int(params, "Limit", 100)
    if offset < 0:
        raise ApiError("InvalidParameterValue", f"The value `{offset}` of parameter `Offset` must be >= 0.")
    if not 0 <= limit <= MAX_LIMIT:
        raise ApiError(
            "InvalidParameterValue", f"The value `{limit}` of parameter `Limit` must be between 0 and {MAX_LIMIT}."
        )
    wanted_states = _filter_states(params.get("Filters"))
    call.key = (job_id, task_name)
    view = emulator.observe(SERVICE, call.key)
    if view is None:
        if emulator.has_key_prefix(SERVICE, (job_id,)):
            raise ApiError("ResourceNotFound.Task", f"The specified job task does not exist: `{task_name}`.")
        raise ApiError("ResourceNotFound.Job", f"The specified job does not exist: `{job_id}`.")
    payload = view.payload
    instances = payload.get("TaskInstanceSet") or []
    if wanted_states is not None:
        instances = [i for i in instances if i.get("TaskInstanceState") in wanted_states]
    payload["TaskInstanceTotalCount"] = len(instances)
    payload["TaskInstanceSet"] = instances[offset : offset + limit]
    return payload


def _filter_states(filters: Any) -> set[str] | None:
    if filters is None:
        return None
    if not isinstance(filters, list):
        raise ApiError("InvalidParameter", "The type of parameter `Filters` is invalid: expected an Array.")
    states: set[str] | None = None
    for number, item in enumerate(filters):
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise ApiError("MissingParameter", f"The request is missing a required parameter `Filters.{number}.Name`.")
        if item["Name"] not in _FILTER_NAMES:
            raise ApiError("InvalidParameterValue", f"The filter `{item['Name']}` is not supported.")
        values = item.get("Values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ApiError("InvalidParameter", f"The type of parameter `Filters.{number}.Values` is invalid.")
        # Several filters narrow the result together.
        states = set(values) if states is None else states & set(values)
    return states


def _execution_keys(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    if not fields.get("JobId") or not fields.get("TaskName"):
        raise ValueError("batch executions need JobId and TaskName")
    return [(str(fields["JobId"]), str(fields["TaskName"]))]


BATCH_SERVICE = EmulatedService(
    vendor="tencent",
    service=SERVICE,
    operations=(Operation(SERVICE, ACTION, VERSION, describe_task),),
    execution_keys=_execution_keys,
    builders={"batch_task": batch_task},
)
"""Batch as served by the emulator: documented limit 3 requests/second for DescribeTask."""
