"""The vendors' documented example responses, verbatim, as JSON fixtures.

The builders start from these (so emulated payloads carry every field the documentation shows) and tests
reuse them to check decoders against the documented wire format. Each file is the documented "Output
Example" exactly; Tencent ones keep their ``{"Response": ...}`` wrapper.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["EXAMPLES", "load_example"]

EXAMPLES = {
    "emr_describe_cluster_flow_status_detail": "EMR DescribeClusterFlowStatusDetail (2019-01-03)",
    "cynosdb_describe_flow": "CynosDB DescribeFlow (2019-01-07)",
    "batch_describe_task": "Batch DescribeTask (2017-03-12)",
    "fnf_describe_execution": "CloudFlow DescribeExecution (2019-03-15)",
    "dws_list_cluster_actions": "DWS ListClusterActions (querying cluster task details)",
}
"""Example name -> the API it documents."""


def load_example(name: str) -> dict[str, Any]:
    """A fresh deep copy of the documented example response ``name`` (a key of :data:`EXAMPLES`)."""
    if name not in EXAMPLES:
        raise KeyError(f"unknown example {name!r}; known: {', '.join(sorted(EXAMPLES))}")
    return copy.deepcopy(_read(name))


@cache
def _read(name: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
