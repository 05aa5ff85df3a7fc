"""Alibaba CloudFlow (``fnf``) state and rules: the :func:`cloudflow_execution` builder, the execution
history it scripts, and :func:`plan_cloudflow_execution` for what ``StartExecution`` creates.

Executions are keyed ``(FlowName, ExecutionName)``. The execution history is the execution's timed event
log, so it grows as the scripted phases play out, and a failed execution's history ends with
``StepFailed`` and ``ExecutionFailed`` events carrying ``error`` and ``cause``. The operations that serve
them are in ``cloudflow``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import Execution, TimedItem
from cloudflows_emulator.examples import load_example
from cloudflows_emulator.scripting import iso_millis, now_utc

__all__ = [
    "DEFAULT_LIST_LIMIT",
    "DEFAULT_PLAN",
    "LIST_FIELDS",
    "MAX_HISTORY_LIMIT",
    "MAX_LIST_LIMIT",
    "MAX_WAIT_SECONDS",
    "NAME_PATTERN",
    "NOT_METADATA",
    "SERVICE",
    "STATUSES",
    "TERMINAL_STATUSES",
    "VERSION",
    "cloudflow_execution",
    "plan_cloudflow_execution",
]

SERVICE = "fnf"
VERSION = "2019-03-15"
STATUSES = ("Starting", "Running", "Stopped", "Succeeded", "Failed", "TimedOut")
TERMINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped", "TimedOut"})
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
MAX_WAIT_SECONDS = 60
MAX_HISTORY_LIMIT = 1000
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 60
# The fields of one item of a ListExecutions answer (the SDK's ListExecutionsResponseBodyExecutions), and
# those MetadataOnly leaves out.
LIST_FIELDS = ("Name", "FlowName", "Status", "StartedTime", "StoppedTime", "Input", "Output", "FlowDefinition")
NOT_METADATA = ("FlowDefinition", "Input", "Output")

_EXECUTION_END_EVENT = {
    "Succeeded": "ExecutionSucceeded",
    "Failed": "ExecutionFailed",
    "Stopped": "ExecutionStopped",
    "TimedOut": "ExecutionTimedOut",
}


def cloudflow_execution(
    flow_name: str,
    execution_name: str,
    phases: Sequence[tuple[float, str] | Sequence[Any]] | None = None,
    *,
    output: Any = None,
    execution_input: Any = None,
    steps: Sequence[str] = ("extract", "transform", "load"),
    failed_step: str | None = None,
    error: str = "TaskFailed",
    cause: str = "The step's function raised an error (emulated failure).",
    history: Sequence[tuple[float, Mapping[str, Any]] | Sequence[Any]] | None = None,
    flow_definition: str | None = None,
    start_immediately: bool = False,
) -> Execution:
    """A CloudFlow execution whose ``Status`` follows ``phases``: ``(at_seconds, Status)`` pairs.

    Default: ``Running``, then ``Succeeded`` after 3 s. ``output`` / ``execution_input`` are JSON values
    (serialized into the ``Output`` / ``Input`` strings; ``Output`` is only set once Succeeded). The
    history walks through ``steps`` between the first running phase and the end; a failure happens in
    ``failed_step`` (default: the last step) with ``error`` / ``cause``. ``history`` replaces the
    generated events with ``(at_seconds, event)`` pairs (``EventId`` and ``Time`` are filled if missing).
    """
    for name in (flow_name, execution_name):
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"cloudflow_execution: {name!r} is not a valid CloudFlow name")
    phase_list = sorted(
        ((float(at), str(status)) for at, status in (phases or [(0, "Running"), (3, "Succeeded")])),
        key=lambda p: p[0],
    )
    if not phase_list:
        raise ValueError("cloudflow_execution: phases must not be empty")
    for _, status in phase_list:
        if status not in STATUSES:
            raise ValueError(f"cloudflow_execution: Status must be one of {STATUSES}, got {status!r}")
    if not steps:
        raise ValueError("cloudflow_execution: steps must not be empty")
    if failed_step is not None and failed_step not in steps:
        raise ValueError(f"cloudflow_execution: failed_step {failed_step!r} is not one of the steps")
    start = now_utc()
    example = load_example("fnf_describe_execution")
    definition = flow_definition if flow_definition is not None else _definition(flow_name, steps)
    input_text = json.dumps(execution_input if execution_input is not None else {}, separators=(",", ":"))
    output_text = json.dumps(output if output is not None else {}, separators=(",", ":"))
    timeline = []
    for at, status in phase_list:
        payload = {name: value for name, value in example.items() if name != "RequestId"}
        stopped = status in TERMINAL_STATUSES
        payload.update(
            {
                "Status": status,
                "StartedTime": iso_millis(start + timedelta(seconds=phase_list[0][0])),
                "StoppedTime": iso_millis(start + timedelta(seconds=at)) if stopped else "",
                "Input": input_text,
                "Output": output_text if status == "Succeeded" else "",
                "FlowName": flow_name,
                "Name": execution_name,
                "FlowDefinition": definition,
            }
        )
        timeline.append((at, payload))
    if history is not None:
        events = _explicit_history(history, start)
    else:
        events = _generated_history(
            phase_list, list(steps), failed_step or steps[-1], error, cause, input_text, output_text, start
        )
    return Execution(
        service=SERVICE,
        key=(flow_name, execution_name),
        timeline=timeline,
        events=events,
        start_immediately=start_immediately,
    )


def _definition(flow_name: str, steps: Sequence[str]) -> str:
    lines = ["version: v1.0", "type: flow", f"name: {flow_name}", "steps:"]
    for step in steps:
        lines += ["  - type: pass", f"    name: {step}"]
    return "\n".join(lines)


def _explicit_history(history: Sequence[Sequence[Any]], start: datetime) -> list[TimedItem]:
    events: list[TimedItem] = []
    for number, (at, event) in enumerate(sorted(history, key=lambda item: float(item[0])), start=1):
        filled = {"StepName": "", "EventDetail": "{}", **dict(event)}
        filled.setdefault("EventId", number)
        filled.setdefault("Time", iso_millis(start + timedelta(seconds=float(at))))
        events.append((float(at), filled))
    return events


def _generated_history(
    phases: list[tuple[float, str]],
    steps: list[str],
    failed_step: str,
    error: str,
    cause: str,
    input_text: str,
    output_text: str,
    start: datetime,
) -> list[TimedItem]:
    events: list[TimedItem] = []

    def emit(at: float, kind: str, step: str, detail: Mapping[str, Any]) -> None:
        event = {
            "StepName": step,
            "Type": kind,
            "EventId": len(events) + 1,
            "Time": iso_millis(start + timedelta(seconds=at)),
            "EventDetail": json.dumps(detail, separators=(",", ":")),
        }
        events.append((at, event))

    running = next((at for at, status in phases if status != "Starting"), None)
    if running is None:
        return events
    end = next(((at, status) for at, status in phases if status in TERMINAL_STATUSES), None)
    emit(running, "ExecutionStarted", "", {"input": json.loads(input_text)})
    if end is None:
        # Still running at the end of the script: the first step has been entered, nothing more.
        emit(running, "StepEntered", steps[0], {"input": json.loads(input_text)})
        return events
    end_at, status = end
    # Steps reached: all of them on success; up to the failing step on failure; for Stopped / TimedOut
    # the execution ends inside the last step without it exiting.
    reached = steps if status != "Failed" else steps[: steps.index(failed_step) + 1]
    span = (end_at - running) / len(reached)
    for index, step in enumerate(reached):
        entered = running + index * span
        emit(entered, "StepEntered", step, {"input": {}})
        is_last = index == len(reached) - 1
        if not is_last or status == "Succeeded":
            emit(entered + span, "StepExited", step, {"output": {}})
        elif status == "Failed":
            emit(end_at, "StepFailed", step, {"error": error, "cause": cause})
    if status == "Succeeded":
        detail: dict[str, Any] = {"output": json.loads(output_text)}
    elif status == "TimedOut":
        detail = {"error": "FnF.Timeout", "cause": "The execution timed out."}
    elif status == "Stopped":
        detail = {"error": "", "cause": "The execution was stopped."}
    else:
        detail = {"error": error, "cause": cause}
    emit(end_at, _EXECUTION_END_EVENT[status], "", detail)
    return events


# --- the operations ---------------------------------------------------------------------------------------


def plan_cloudflow_execution(
    emulator: Emulator,
    phases: Sequence[tuple[float, str] | Sequence[Any]],
    *,
    flow_name: str | None = None,
    **kwargs: Any,
) -> None:
    """Script the next executions ``StartExecution`` creates (of ``flow_name``, None: any flow) with
    :func:`cloudflow_execution` phases and keyword arguments (``output``, ``failed_step``, ``error``...)."""
    emulator.scratch(SERVICE).setdefault("plans", {})[flow_name] = (list(phases), dict(kwargs))


DEFAULT_PLAN: tuple[list[Any], dict[str, Any]] = ([(0, "Running"), (2, "Succeeded")], {})
