"""Tencent CynosDB (TDSQL-C) task flows: ``DescribeFlow`` (2019-01-07)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.services.base import Check, CheckContext, ServiceSpec, Snapshot
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import StateTable
from airflow_provider_cloudflows.transport.tencent import VENDOR, TencentCall


class TencentCynosdbFlow(ServiceSpec):
    """A CynosDB task flow by its integer id. The API reports only a status, never a reason."""

    name = "tencent_cynosdb_flow"
    vendor = VENDOR
    title = "Tencent CynosDB task flow"
    identifiers = ("flow_id",)
    table = StateTable(
        "Status",
        {"0": S.SUCCEEDED, "1": S.FAILED, "2": S.RUNNING},
        {"0": "succeeded", "1": "failed", "2": "processing"},
        value_type=int,
    )

    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """FlowId is an integer; a templated value arrives as a string and is converted here."""
        raw = ids.get("flow_id")
        if isinstance(raw, bool) or raw is None:
            raise ValueError("flow_id is required and must be an integer CynosDB task flow id")
        try:
            flow_id = int(str(raw).strip())
        except ValueError:
            raise ValueError(f"flow_id must be an integer CynosDB task flow id, got {raw!r}") from None
        if flow_id < 0:
            raise ValueError(f"flow_id must be a non-negative integer, got {flow_id}")
        return {"flow_id": flow_id}

    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """One DescribeFlow call."""
        response = yield TencentCall("cynosdb", "DescribeFlow", "2019-01-07", {"FlowId": ids["flow_id"]})
        # The answer holds only Status and RequestId: it does not name the flow, so nothing can be matched.
        status = response.body.get("Status")
        normalized = self.table.status_of(status)
        return Snapshot(
            vendor_status=status,
            status=normalized,
            request_id=response.request_id,
            reason="CynosDB DescribeFlow reports no failure reason; see the cluster's task list in the console"
            if normalized.is_final and normalized is not S.SUCCEEDED
            else None,
        )
