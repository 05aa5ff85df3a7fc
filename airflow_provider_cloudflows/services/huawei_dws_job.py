"""Huawei Cloud DWS jobs: ``GET /v1.0/{project_id}/job/{job_id}`` (ListJobDetails).

Restore, shrink, start/stop, snapshot deletion and other DWS calls answer a ``job_id``; this API reports the
job: ``status`` INIT, WAITING, RUNNING, DELAY_SCHEDULED (not finished), SUCCESS, FAIL, STOP, with
``failed_code`` / ``failed_detail`` and ``progress`` (https://support.huaweicloud.com/api-dws/ListJobDetails.html;
field names from huaweicloudsdkdws ``ListJobDetailsResponse``: ``job_id``, ``job_name``, ``begin_time``,
``end_time``, ``status``, ``failed_code``, ``failed_detail``, ``progress``, all strings).

Unlike the cluster-task views, a job stays readable after it ends, so its final status is read directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.services.base import Check, CheckContext, ServiceSpec, Snapshot, require_text
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import StateTable
from airflow_provider_cloudflows.transport.huawei import VENDOR, HuaweiCall

JOB_PATH = "/v1.0/{project_id}/job/{job_id}"
_PERCENT = re.compile(r"\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*")


def _string(value: Any, limit: int = 500) -> str | None:
    # Every field is documented as a string; anything else reads as absent (never str() of an object).
    return value[:limit] if isinstance(value, str) and value else None


def _progress(value: Any) -> float | None:
    """``progress`` is a string percentage (``"45"`` or ``"45%"``); anything else says nothing."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    match = _PERCENT.fullmatch(text)
    if not match:
        return None
    percent = float(match.group(1))
    return percent / 100 if 0 <= percent <= 100 else None


class HuaweiDwsJob(ServiceSpec):
    """A DWS job by its ``job_id`` (ListJobDetails)."""

    name = "huawei_dws_job"
    vendor = VENDOR
    title = "Huawei DWS job"
    identifiers = ("job_id",)
    table = StateTable(
        "status",
        {
            "INIT": S.PENDING,
            "WAITING": S.PENDING,
            "DELAY_SCHEDULED": S.PENDING,
            "RUNNING": S.RUNNING,
            "SUCCESS": S.SUCCEEDED,
            "FAIL": S.FAILED,
            "STOP": S.CANCELLED,
        },
        {
            "INIT": "initializing",
            "WAITING": "waiting to run",
            "DELAY_SCHEDULED": "scheduled to run later",
            "STOP": "the job was stopped",
        },
    )

    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """The job id, a non-empty string."""
        return {"job_id": require_text(ids, "job_id", path_segment=True)}

    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """One ListJobDetails; a failure's reason is ``failed_code: failed_detail``."""
        response = yield HuaweiCall("GET", JOB_PATH, {"job_id": ids["job_id"]})
        body = response.body
        status = body.get("status")
        answered = _string(body.get("job_id"))
        if answered is not None and answered != ids["job_id"]:
            # An answer about another job proves nothing about this one: UNKNOWN, the wait goes on.
            return Snapshot(
                vendor_status=f"an answer about another job ({answered[:80]})",
                status=S.UNKNOWN,
                request_id=response.request_id,
            )
        code, detail = _string(body.get("failed_code"), 100), _string(body.get("failed_detail"))
        reason = None
        if self.table.status_of(status).is_final and (code or detail):
            reason = ": ".join(part for part in (code, detail) if part)
        return Snapshot(
            vendor_status=status,
            status=self.table.status_of(status),
            request_id=response.request_id,
            progress=_progress(body.get("progress")),
            reason=reason,
            details={
                "job_id": ids["job_id"],
                "job_name": _string(body.get("job_name")),
                "begin_time": _string(body.get("begin_time")),
                "end_time": _string(body.get("end_time")),
                "failed_code": code,
                "failed_detail": detail,
            },
        )
