"""Tencent Cloud EMR flows: ``DescribeClusterFlowStatusDetail`` (2019-01-03)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.services.base import (
    Check,
    CheckContext,
    ServiceSpec,
    Snapshot,
    fraction,
    integer,
    objects,
    require_text,
    text,
    text_field,
)
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import StateTable
from airflow_provider_cloudflows.transport.tencent import VENDOR, TencentCall

STAGE_STATES = {0: "not started", 1: "running", 2: "done", 3: "partly done", 4: "not started", -1: "failed"}


class TencentEmrFlow(ServiceSpec):
    """An EMR cluster flow (scale-out, scale-in, config change...), found by flow id or trace id."""

    name = "tencent_emr_flow"
    vendor = VENDOR
    title = "Tencent EMR flow"
    identifiers = ("instance_id", "flow_id", "trace_id")
    table = StateTable(
        "FlowTotalStatus",
        {"0": S.PENDING, "1": S.RUNNING, "2": S.SUCCEEDED, "3": S.SUCCEEDED, "-1": S.FAILED, "-3": S.BLOCKED},
        {
            "0": "initializing",
            "1": "running",
            "2": "completed",
            "3": "completed with skipped steps (logged as a warning)",
            "-1": "failed",
            "-3": "blocked (a failure unless removed from failure_states)",
        },
        value_type=int,
    )

    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """Exactly one of flow_id / trace_id; FValue is a string even for a numeric flow id."""
        instance_id = require_text(ids, "instance_id")
        flow_id = require_text(ids, "flow_id", optional=True)
        trace_id = require_text(ids, "trace_id", optional=True)
        if (flow_id is None) == (trace_id is None):
            raise ValueError("TencentEmrFlowSensor takes exactly one of flow_id or trace_id")
        return {"instance_id": instance_id, "flow_id": flow_id, "trace_id": trace_id}

    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """One DescribeClusterFlowStatusDetail call."""
        key, value = ("FlowId", ids["flow_id"]) if ids.get("flow_id") is not None else ("TraceId", ids["trace_id"])
        response = yield TencentCall(
            "emr",
            "DescribeClusterFlowStatusDetail",
            "2019-01-03",
            {
                "InstanceId": ids["instance_id"],
                "FlowParam": {"FKey": key, "FValue": str(value)},
                "NeedExtraDetail": False,
            },
        )
        # The answer does not name the flow (FlowName is its display name, e.g. "Scale Out Core"), so there
        # is nothing to match against what was asked.
        body = response.body
        total = body.get("FlowTotalStatus")
        stages = objects(body.get("StageDetails"))
        failed = [s for s in stages if integer(s.get("Status")) == -1 or text(s.get("FailedReason"))]
        # Users know a stage by its display Name ("Apply For Resource"); the Stage code is the fallback.
        reason = "; ".join(
            f"stage {text(s.get('Name'), 120) or _stage_label(s)!r} failed: "
            f"{text(s.get('FailedReason')) or 'no FailedReason given'}"
            for s in failed
        )
        progress = body.get("FlowTotalProgress")
        return Snapshot(
            vendor_status=total,
            status=self.table.status_of(total),
            request_id=response.request_id,
            progress=fraction(progress),
            reason=reason or None,
            details={
                "FlowName": body.get("FlowName"),
                "FlowInfo": body.get("FlowInfo"),
                "FlowTotalProgress": progress,
                "StageDetails": [
                    {k: s.get(k) for k in ("Stage", "Name", "Status", "Starttime", "Endtime", "FailedReason")}
                    for s in stages
                ],
            },
            markers={"stages": {_stage_label(s): s.get("Status") for s in stages}},
        )

    def changes(self, previous: Snapshot | None, current: Snapshot) -> list[str]:
        """Flow status and progress, then every stage whose status moved."""
        lines = super().changes(previous, current)
        before: Mapping[str, Any] = previous.markers.get("stages", {}) if previous else {}
        names = {_stage_label(s): text(s.get("Name")) for s in current.details["StageDetails"]}
        for stage, status in current.markers.get("stages", {}).items():
            if (previous is not None and before.get(stage) != status) or (previous is None and status in (1, -1)):
                known = integer(status) is not None
                label = STAGE_STATES.get(status, f"status {status}") if known else text_field(status)
                lines.append(f"stage {names.get(stage) or stage!r} ({stage}) is {label}")
        return lines

    def warnings(self, snapshot: Snapshot) -> list[str]:
        """Status 3 is success, but the user should know some steps were skipped."""
        if self.table.exact_key(snapshot.vendor_status) == "3":
            return ["EMR flow completed with skipped steps (FlowTotalStatus 3); check the flow in the console"]
        return []


def _stage_label(stage: Mapping[str, Any]) -> str:
    """A stage's key for logs and markers: its ``Stage`` id, else its ``Name`` (text only, bounded)."""
    return text(stage.get("Stage"), 120) or text(stage.get("Name"), 120) or "?"
