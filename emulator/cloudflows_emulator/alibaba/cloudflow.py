"""Alibaba CloudFlow (``fnf``, 2019-03-15): ``DescribeExecution`` with long polling, ``GetExecutionHistory``,
``ListExecutions``, ``StartExecution`` / ``StopExecution`` (form-body POSTs, verified like every call); the
builders and state rules they serve are in ``cloudflow_models``.

- ``StartExecution`` is idempotent by name: a name whose execution is in progress answers that execution; a
  name whose execution has ended answers 409 ``ExecutionAlreadyExists`` (*judgment*: the code is documented,
  the status is not). New executions follow :func:`plan_cloudflow_execution` (default: Running, Succeeded
  after 2 s with Output ``{}``).
- ``StopExecution`` stops an execution in progress (Status ``Stopped``, an ``ExecutionStopped`` event with the
  given Error / Cause, ``stopped_at`` in ``GET /_emulator/executions``); on an ended one it answers 400
  ``InvalidArgument`` (*judgment*: CloudFlow documents only that "the flow must be in progress").
- ``ListExecutions`` pages the executions of one flow (``FlowName`` required; unknown flow: 404
  ``FlowNotExists`` as ``DescribeExecution`` answers it), each with the fields ``DescribeExecution`` gives at
  the same instant (without ``FlowDefinition``, ``Input`` and ``Output`` when ``MetadataOnly`` is true).
  Filters: ``Status``, ``StartedTimeBegin`` / ``StartedTimeEnd`` (UTC RFC 3339, both bounds inclusive),
  ``ExecutionNamePrefix``. ``Limit`` is 1..100, default 60 (documented). ``NextToken`` is, as documented,
  the name of the execution the next page starts with; it is present only when more executions match.
  *Judgments*: CloudFlow documents no order, the emulator lists by ``StartedTime`` (oldest first), then by
  name, so executions started between two pages come at the end rather than shifting the pages; a token
  naming no execution of the flow is 400 ``InvalidArgument``; ``Qualifier`` is accepted and ignored (one
  version per flow) and ``MapRunName`` lists nothing (the emulator runs no MapRun).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cloudflows_emulator.alibaba.cloudflow_models import (
    DEFAULT_LIST_LIMIT,
    DEFAULT_PLAN,
    LIST_FIELDS,
    MAX_HISTORY_LIMIT,
    MAX_LIST_LIMIT,
    MAX_WAIT_SECONDS,
    NAME_PATTERN,
    NOT_METADATA,
    SERVICE,
    STATUSES,
    TERMINAL_STATUSES,
    VERSION,
    cloudflow_execution,
    plan_cloudflow_execution,
)
from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import ExecutionKey
from cloudflows_emulator.core.handler import ApiCall, ApiError, EmulatedService, Operation
from cloudflows_emulator.scripting import iso_millis, now_utc

__all__ = [
    "CLOUDFLOW_SERVICE",
    "STATUSES",
    "TERMINAL_STATUSES",
    "cloudflow_execution",
    "plan_cloudflow_execution",
]


def _names(call: ApiCall) -> ExecutionKey:
    names = []
    for field in ("FlowName", "ExecutionName"):
        value = call.params.get(field)
        if not value:
            raise ApiError("MissingRequiredParams", f"The HTTP query '{field}' must be specified.", 400)
        if not NAME_PATTERN.fullmatch(value):
            raise ApiError(
                "InvalidArgument",
                f"Parameter error: {field} '{value}' must match ^[A-Za-z_][A-Za-z0-9_-]{{0,127}}$.",
                400,
            )
        names.append(value)
    return (names[0], names[1])


def _int_param(call: ApiCall, name: str, default: int, low: int, high: int) -> int:
    raw = call.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError("InvalidArgument", f"Parameter error: {name} '{raw}' is not an integer.", 400) from exc
    if not low <= value <= high:
        raise ApiError("InvalidArgument", f"Parameter error: {name} must be between {low} and {high}.", 400)
    return value


def _not_found(emulator: Emulator, key: ExecutionKey) -> ApiError:
    flow, execution = key
    if emulator.has_key_prefix(SERVICE, (flow,)):
        return ApiError("ExecutionNotExists", f"Execution {execution} for flow {flow} does not exist.", 404)
    return ApiError("FlowNotExists", f"Flow {flow} does not exist.", 404)


async def describe_execution(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``DescribeExecution``; ``WaitTimeSeconds`` > 0 holds the reply until the execution ends or the wait passes."""
    key = call.key = _names(call)
    wait = _int_param(call, "WaitTimeSeconds", 0, 0, MAX_WAIT_SECONDS)
    if wait > 0:
        view = await emulator.wait_for(
            SERVICE, key, lambda payload: payload.get("Status") in TERMINAL_STATUSES, float(wait)
        )
    else:
        view = emulator.observe(SERVICE, key)
    if view is None:
        raise _not_found(emulator, key)
    return view.payload


async def get_execution_history(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``GetExecutionHistory``: the events so far, ``Limit`` per page, continued with ``NextToken``."""
    key = call.key = _names(call)
    limit = _int_param(call, "Limit", 100, 1, MAX_HISTORY_LIMIT)
    token = call.params.get("NextToken") or ""
    view = emulator.observe(SERVICE, key)
    if view is None:
        raise _not_found(emulator, key)
    events = view.events
    # The token is the index of the next event: events only ever get appended, so it stays valid.
    if token and (not token.isdigit() or int(token) > len(events)):
        raise ApiError("InvalidArgument", f"Parameter error: NextToken '{token}' is not valid.", 400)
    first = int(token) if token else 0
    page = events[first : first + limit]
    result: dict[str, Any] = {"Events": page}
    if first + limit < len(events):
        result["NextToken"] = str(first + limit)
    return result


def _flag(call: ApiCall, name: str) -> bool:
    raw = call.params.get(name)
    if raw is None or raw == "":
        return False
    if str(raw).lower() in ("true", "false"):
        return str(raw).lower() == "true"
    raise ApiError("InvalidArgument", f"Parameter error: {name} '{raw}' is not a boolean.", 400)


def _utc_time(value: str) -> datetime | None:
    """An RFC 3339 time with a UTC offset (``Z`` or ``+00:00``), or None when it is not one."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        return None
    return moment


def _time_param(call: ApiCall, name: str) -> datetime | None:
    raw = call.params.get(name)
    if raw is None or raw == "":
        return None
    moment = _utc_time(str(raw))
    if moment is None:
        raise ApiError(
            "InvalidArgument", f"Parameter error: {name} '{raw}' is not a UTC RFC3339 time (2020-12-02T02:39:20Z).", 400
        )
    return moment


async def list_executions(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``ListExecutions``: one page of the flow's executions, by ``StartedTime`` then name (CloudFlow documents
    no order), each as ``DescribeExecution`` shows it now; ``NextToken`` names the first of the next page."""
    flow = call.params.get("FlowName")
    if not flow:
        raise ApiError("MissingRequiredParams", "The HTTP query 'FlowName' must be specified.", 400)
    if not NAME_PATTERN.fullmatch(flow):
        raise ApiError(
            "InvalidArgument", f"Parameter error: FlowName '{flow}' must match ^[A-Za-z_][A-Za-z0-9_-]{{0,127}}$.", 400
        )
    call.key = (flow,)
    limit = _int_param(call, "Limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
    status = call.params.get("Status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(
            "InvalidArgument", f"Parameter error: Status '{status}' must be one of {', '.join(STATUSES)}.", 400
        )
    begin, end = _time_param(call, "StartedTimeBegin"), _time_param(call, "StartedTimeEnd")
    prefix = call.params.get("ExecutionNamePrefix") or ""
    metadata_only = _flag(call, "MetadataOnly")
    token = call.params.get("NextToken") or ""
    if not emulator.has_key_prefix(SERVICE, (flow,)):
        raise ApiError("FlowNotExists", f"Flow {flow} does not exist.", 404)
    payloads = []
    for execution in emulator.executions:
        if execution.service == SERVICE and execution.key[0] == flow:
            view = emulator.observe(SERVICE, execution.key)
            if view is not None:
                payloads.append({"Name": execution.key[1], **view.payload})
    payloads.sort(key=lambda payload: (str(payload.get("StartedTime") or ""), str(payload["Name"])))
    first = 0
    if token:
        names = [payload["Name"] for payload in payloads]
        if token not in names:
            raise ApiError("InvalidArgument", f"Parameter error: NextToken '{token}' is not valid.", 400)
        first = names.index(token)

    def wanted(payload: Mapping[str, Any]) -> bool:
        if call.params.get("MapRunName"):
            return False
        if status is not None and payload.get("Status") != status:
            return False
        if not str(payload["Name"]).startswith(prefix):
            return False
        if begin is not None or end is not None:
            started = _utc_time(str(payload.get("StartedTime") or ""))
            if started is None or (begin is not None and started < begin) or (end is not None and started > end):
                return False
        return True

    matching = [payload for payload in payloads[first:] if wanted(payload)]
    left_out = NOT_METADATA if metadata_only else ()
    page = [
        {name: payload[name] for name in LIST_FIELDS if name in payload and name not in left_out}
        for payload in matching[:limit]
    ]
    result: dict[str, Any] = {"Executions": page}
    if len(matching) > limit:
        result["NextToken"] = str(matching[limit]["Name"])
    return result


async def start_execution(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``StartExecution``: a new execution, the running one of that name, or ``ExecutionAlreadyExists``."""
    if not call.params.get("ExecutionName"):
        call.params["ExecutionName"] = f"exec_{uuid.uuid4().hex}"
    key = call.key = _names(call)
    raw_input = call.params.get("Input") or "{}"
    try:
        parsed_input = json.loads(raw_input)
    except json.JSONDecodeError:
        parsed_input = None
    if not isinstance(parsed_input, dict):
        raise ApiError("InvalidArgument", "Parameter error: Input must be a JSON object.", 400)
    existing = emulator.observe(SERVICE, key)
    if existing is not None:
        if existing.payload.get("Status") not in TERMINAL_STATUSES:
            return existing.payload
        raise ApiError(
            "ExecutionAlreadyExists",
            f"Execution {key[1]} already exists in flow {key[0]} and has ended ({existing.payload.get('Status')}).",
            409,
        )
    plans = emulator.scratch(SERVICE).get("plans", {})
    phases, kwargs = plans.get(key[0]) or plans.get(None) or DEFAULT_PLAN
    emulator.add_execution(
        cloudflow_execution(key[0], key[1], phases, execution_input=parsed_input, start_immediately=True, **kwargs)
    )
    view = emulator.observe(SERVICE, key)
    assert view is not None
    return view.payload


async def stop_execution(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``StopExecution``: only while in progress; the rest of the script is dropped."""
    key = call.key = _names(call)
    view = emulator.observe(SERVICE, key)
    if view is None:
        raise _not_found(emulator, key)
    status = view.payload.get("Status")
    if status in TERMINAL_STATUSES:
        raise ApiError(
            "InvalidArgument", f"Parameter error: execution {key[1]} is not in progress (Status {status}).", 400
        )
    stopped_time = iso_millis(now_utc())

    def stopped(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "Status": "Stopped", "StoppedTime": stopped_time, "Output": ""}

    execution = emulator.stop_execution(SERVICE, key, stopped)
    assert execution is not None
    # The history ends where the execution was stopped, with the stop's error and cause.
    kept = [(offset, event) for offset, event in execution.events if offset <= view.elapsed]
    detail = {"error": call.params.get("Error", ""), "cause": call.params.get("Cause", "")}
    kept.append(
        (
            view.elapsed,
            {
                "StepName": "",
                "Type": "ExecutionStopped",
                "EventId": len(kept) + 1,
                "Time": stopped_time,
                "EventDetail": json.dumps(detail, separators=(",", ":")),
            },
        )
    )
    execution.events = kept
    after = emulator.observe(SERVICE, key)
    assert after is not None
    return after.payload


def _execution_keys(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    if not fields.get("FlowName") or not fields.get("ExecutionName"):
        raise ValueError("fnf executions need FlowName and ExecutionName")
    return [(str(fields["FlowName"]), str(fields["ExecutionName"]))]


CLOUDFLOW_SERVICE = EmulatedService(
    vendor="alibaba",
    service=SERVICE,
    operations=(
        Operation(SERVICE, "DescribeExecution", VERSION, describe_execution),
        Operation(SERVICE, "GetExecutionHistory", VERSION, get_execution_history),
        Operation(SERVICE, "ListExecutions", VERSION, list_executions),
        Operation(SERVICE, "StartExecution", VERSION, start_execution),
        Operation(SERVICE, "StopExecution", VERSION, stop_execution),
    ),
    execution_keys=_execution_keys,
    builders={"cloudflow_execution": cloudflow_execution},
)
"""CloudFlow as served by the emulator (quotas: the documented token buckets of limits.py)."""
