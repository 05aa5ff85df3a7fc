"""Tencent Batch compute tasks: ``DescribeTask`` (2017-03-12).

``DescribeJob`` lists every task of a job with its state: waits on several tasks of one job read them there,
one call for all of them. A ``TaskView`` gives the state and times, not the instances: a task that succeeded
ends its wait with those fields, and a failure is read again by the wait's own ``DescribeTask``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_cloudflows.services.base import (
    BatchCheck,
    Check,
    CheckContext,
    Listing,
    ServiceSpec,
    Snapshot,
    integer,
    mapping,
    objects,
    require_text,
    text_field,
)
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import StateTable, Verdict
from airflow_provider_cloudflows.transport.tencent import VENDOR, TencentCall

VERSION = "2017-03-12"
POLL_LIMIT = 100
# One DescribeJob lists every task of the job.
MAX_TASKS_PER_READ = 1000
# The API's maximum page; used once, on failure, so every failed instance's reason can be reported.
FAILURE_LIMIT = 1000
MAX_REASONS = 5
_FAILED_INSTANCE_STATES = ("FAILED", "FAILED_INTERRUPTED")


def _instance_line(instance: Mapping[str, Any]) -> str:
    # Every field through text_field: a vendor value of any type prints, bounded.
    code = text_field(instance.get("ExitCode"), 40)
    reason = text_field(instance.get("StateReason") or None, 300) or "no StateReason"
    detail = text_field(instance.get("StateDetailedReason") or None, 300)
    index = text_field(instance.get("TaskInstanceIndex"), 40)
    text = f"instance {index} {text_field(instance.get('TaskInstanceState'), 40)}"
    if code is not None:
        text += f" (ExitCode {code})"
    text += f": {reason}"
    # Batch often fills StateDetailedReason with nothing but "ExitCode: N", which the line already says.
    if detail and detail != reason and detail.replace(" ", "") != f"ExitCode:{code}":
        text += f" ({detail})"
    return text


class TencentBatchTask(ServiceSpec):
    """A task of a Batch job; progress is read from the instance counters."""

    name = "tencent_batch_task"
    vendor = VENDOR
    title = "Tencent Batch task"
    identifiers = ("job_id", "task_name")
    table = StateTable(
        "TaskState",
        {
            "SUBMITTED": S.PENDING,
            "PENDING": S.PENDING,
            "RUNNABLE": S.PENDING,
            "STARTING": S.PENDING,
            "RUNNING": S.RUNNING,
            "SUCCEED": S.SUCCEEDED,
            "FAILED": S.FAILED,
            "FAILED_INTERRUPTED": S.FAILED,
        },
    )
    batch_size = MAX_TASKS_PER_READ

    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """Both identifiers are required strings."""
        return {"job_id": require_text(ids, "job_id"), "task_name": require_text(ids, "task_name")}

    def batch_group(self, ids: Mapping[str, Any]) -> str:
        """The job: one DescribeJob covers its tasks."""
        return str(ids["job_id"])

    def batch_item(self, ids: Mapping[str, Any]) -> str:
        """The task name, as ``TaskView.TaskName`` names it."""
        return str(ids["task_name"])

    def read_many(self, group: str, items: Sequence[str]) -> BatchCheck:
        """DescribeJob of the job: a snapshot per asked task named exactly once in its ``TaskSet``."""
        # The answer names its job: an answer about another one is a protocol error, never data.
        response = yield TencentCall("batch", "DescribeJob", VERSION, {"JobId": group}, {"JobId": group})
        listing = Listing(items, "TaskName")
        listing.add(response.body.get("TaskSet"))
        return {
            name: Snapshot(
                vendor_status=view.get("TaskState"),
                status=self.table.status_of(view.get("TaskState")),
                request_id=response.request_id,
                details={
                    "JobId": group,
                    "TaskName": name,
                    "CreateTime": view.get("CreateTime"),
                    "EndTime": view.get("EndTime"),
                },
            )
            for name, view in listing.once().items()
        }

    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """DescribeTask; on failure, one more page-wide call if some instances were not listed."""
        params = {"JobId": ids["job_id"], "TaskName": ids["task_name"], "Offset": 0, "Limit": POLL_LIMIT}
        # The answer names its job and task: an answer about another one is a protocol error, never data.
        echo = {"JobId": ids["job_id"], "TaskName": ids["task_name"]}
        response = yield TencentCall("batch", "DescribeTask", VERSION, params, echo)
        body = response.body
        state = body.get("TaskState")
        instances = objects(body.get("TaskInstanceSet"))
        total = integer(body.get("TaskInstanceTotalCount"))
        if ctx.verdict(state) is Verdict.FAILURE and total is not None and total > len(instances):
            wide = yield TencentCall("batch", "DescribeTask", VERSION, {**params, "Limit": FAILURE_LIMIT}, echo)
            instances = objects(wide.body.get("TaskInstanceSet"))
        failed = [i for i in instances if i.get("TaskInstanceState") in _FAILED_INSTANCE_STATES]
        reason = "; ".join(_instance_line(i) for i in failed[:MAX_REASONS])
        if len(failed) > MAX_REASONS:
            reason += f"; and {len(failed) - MAX_REASONS} more failed instances"
        # Only the integer counters: they are logged and summed as numbers.
        metrics = {k: v for k, v in mapping(body.get("TaskInstanceMetrics")).items() if integer(v) is not None}
        succeeded = integer(metrics.get("SucceedCount"))
        progress = succeeded / total if succeeded is not None and total and 0 <= succeeded <= total else None
        return Snapshot(
            vendor_status=state,
            status=self.table.status_of(state),
            request_id=response.request_id,
            progress=progress,
            reason=reason or None,
            details={
                "JobId": body.get("JobId"),
                "TaskName": body.get("TaskName"),
                "CreateTime": body.get("CreateTime"),
                "EndTime": body.get("EndTime"),
                "TaskInstanceTotalCount": total,
                "TaskInstanceMetrics": dict(metrics),
                "FailedInstances": [
                    {
                        k: i.get(k)
                        for k in (
                            "TaskInstanceIndex",
                            "TaskInstanceState",
                            "ExitCode",
                            "StateReason",
                            "RedirectInfo",
                        )
                    }
                    for i in failed
                ],
            },
            markers={"counters": {k: v for k, v in metrics.items() if v}},
        )

    def changes(self, previous: Snapshot | None, current: Snapshot) -> list[str]:
        """Task state, then the instance counters whenever they move."""
        lines = [line for line in super().changes(previous, current) if not line.startswith("progress")]
        counters = current.markers.get("counters", {})
        if counters and (previous is None or previous.markers.get("counters") != counters):
            total = current.details.get("TaskInstanceTotalCount")
            parts = ", ".join(f"{k.removesuffix('Count')} {v}" for k, v in sorted(counters.items()))
            lines.append(f"instances ({total} total): {parts}")
        return lines
