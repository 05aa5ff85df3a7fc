"""Tencent CynosDB ``DescribeFlow`` (2019-01-07): the operation and the :func:`cynosdb_flow` builder.

Executions are keyed by ``FlowId`` (an integer on the wire, a string key here). The response has a single
field, ``Status``: 0 succeeded, 1 failed, 2 processing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import Execution, ExecutionKey
from cloudflows_emulator.core.handler import ApiCall, ApiError, EmulatedService, Operation
from cloudflows_emulator.examples import load_example
from cloudflows_emulator.tencent.protocol import reject_unknown, require_int, require_region

__all__ = ["CYNOSDB_SERVICE", "FAILED", "PROCESSING", "SUCCEEDED", "cynosdb_flow"]

SERVICE = "cynosdb"
ACTION = "DescribeFlow"
VERSION = "2019-01-07"
SUCCEEDED, FAILED, PROCESSING = 0, 1, 2


def cynosdb_flow(
    flow_id: int,
    statuses: Sequence[tuple[float, int] | Sequence[Any]] = ((0, PROCESSING), (3.0, SUCCEEDED)),
    *,
    start_immediately: bool = False,
) -> Execution:
    """A CynosDB task flow whose ``Status`` follows ``statuses``: ``(at_seconds, status)`` pairs.

    Default: processing, then succeeded after 3 s.
    """
    if isinstance(flow_id, bool) or not isinstance(flow_id, int):
        raise ValueError(f"cynosdb_flow: FlowId is an integer, got {flow_id!r}")
    example = load_example("cynosdb_describe_flow")["Response"]
    timeline = []
    for at, status in statuses:
        if status not in (SUCCEEDED, FAILED, PROCESSING):
            raise ValueError(f"cynosdb_flow: Status must be 0, 1 or 2, got {status!r}")
        payload = {name: value for name, value in example.items() if name != "RequestId"}
        payload["Status"] = status
        timeline.append((float(at), payload))
    return Execution(service=SERVICE, key=(str(flow_id),), timeline=timeline, start_immediately=start_immediately)


async def describe_flow(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``DescribeFlow``: the flow's current Status, or ``InvalidParameterValue.FlowNotFound``."""
    reject_unknown(call.params, {"FlowId"})
    require_region(call)
    flow_id = require_int(call.params, "FlowId")
    call.key = (str(flow_id),)
    view = emulator.observe(SERVICE, call.key)
    if view is None:
        raise ApiError("InvalidParameterValue.FlowNotFound", f"Taskflow ID {flow_id} doesn't exist.")
    return view.payload


def _execution_keys(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    if fields.get("FlowId") is None:
        raise ValueError("cynosdb executions need FlowId")
    return [(str(int(fields["FlowId"])),)]


CYNOSDB_SERVICE = EmulatedService(
    vendor="tencent",
    service=SERVICE,
    operations=(Operation(SERVICE, ACTION, VERSION, describe_flow),),
    execution_keys=_execution_keys,
    builders={"cynosdb_flow": cynosdb_flow},
)
"""CynosDB as served by the emulator: documented limit 20 requests/second."""
