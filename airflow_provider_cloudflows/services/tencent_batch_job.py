"""Tencent Batch jobs: ``DescribeJob`` (2017-03-12), the job-level state of every task of a job.

``JobState`` takes the task states' values (SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEED,
FAILED, FAILED_INTERRUPTED). ``DescribeJob`` names a job's tasks and their states but not why an instance
failed, so on failure the check asks ``DescribeTask`` of each failed task (the existing task wait's check,
reused as is) for the failed instances' exit codes and reasons.

``DescribeJobs`` reads up to 100 jobs in one call (at the same 2 requests a second): waits on many jobs of one
account read their ``JobView`` items there. An item gives the state and the task counters, not the tasks nor
why one failed, so a job that succeeded ends its wait with the ``JobView`` fields, and a failure is read
again by the wait's own check.
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
    require_text,
)
from airflow_provider_cloudflows.services.tencent_batch import VERSION, TencentBatchTask
from airflow_provider_cloudflows.status import StateTable, Verdict
from airflow_provider_cloudflows.transport.tencent import VENDOR, TencentCall

# Failed tasks whose instance reasons are fetched on failure (one DescribeTask call each, or two when wide).
MAX_FAILED_TASKS = 5
# DescribeJobs takes at most 100 JobIds, and answers at most 100 items a page.
MAX_JOB_IDS = 100
_FAILED_TASK_STATES = ("FAILED", "FAILED_INTERRUPTED")


class TencentBatchJob(ServiceSpec):
    """A whole Batch job; progress is the share of its tasks that succeeded."""

    name = "tencent_batch_job"
    vendor = VENDOR
    title = "Tencent Batch job"
    identifiers = ("job_id",)
    # The job-level table is the task-level one (the SDK documents the same eight values for both).
    table = StateTable("JobState", dict(TencentBatchTask.table.states), dict(TencentBatchTask.table.descriptions))
    batch_size = MAX_JOB_IDS

    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """The job id is a required string."""
        return {"job_id": require_text(ids, "job_id")}

    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """DescribeJob; on failure, DescribeTask of each failed task for its instances' reasons."""
        response = yield TencentCall("batch", "DescribeJob", VERSION, {"JobId": ids["job_id"]})
        body = response.body
        state = body.get("JobState")
        tasks = [t for t in body.get("TaskSet") or [] if isinstance(t, Mapping)]
        task_metrics = body.get("TaskMetrics") if isinstance(body.get("TaskMetrics"), Mapping) else {}
        assert isinstance(task_metrics, Mapping)
        reasons: list[str] = []
        failed_tasks: list[dict[str, Any]] = []
        if ctx.verdict(state) is Verdict.FAILURE:
            failed = [t for t in tasks if t.get("TaskState") in _FAILED_TASK_STATES]
            task_spec = TencentBatchTask()
            task_ctx = CheckContext(verdict=lambda s: task_spec.table.verdict(s, None, None))
            for task in failed[:MAX_FAILED_TASKS]:
                name = str(task.get("TaskName"))
                snapshot = yield from task_spec.check({"job_id": ids["job_id"], "task_name": name}, task_ctx)
                reasons.append(f"task {name}: {snapshot.reason or 'no instance reason given'}")
                failed_tasks.append({"TaskName": name, "FailedInstances": snapshot.details.get("FailedInstances")})
            if len(failed) > MAX_FAILED_TASKS:
                reasons.append(f"and {len(failed) - MAX_FAILED_TASKS} more failed tasks")
            if body.get("StateReason"):
                reasons.insert(0, str(body["StateReason"]))
        total = len(tasks)
        succeeded = task_metrics.get("SucceedCount")
        return Snapshot(
            vendor_status=state,
            status=self.table.status_of(state),
            request_id=response.request_id,
            progress=succeeded / total if isinstance(succeeded, int) and total else None,
            reason="; ".join(reasons) or None,
            details={
                "JobId": body.get("JobId"),
                "JobName": body.get("JobName"),
                "CreateTime": body.get("CreateTime"),
                "EndTime": body.get("EndTime"),
                "TaskSet": [{k: t.get(k) for k in ("TaskName", "TaskState", "CreateTime", "EndTime")} for t in tasks],
                "TaskMetrics": dict(task_metrics),
                "TaskInstanceMetrics": dict(body.get("TaskInstanceMetrics") or {}),
                "FailedTasks": failed_tasks,
            },
            markers={"tasks": {str(t.get("TaskName")): t.get("TaskState") for t in tasks}},
        )

    def batch_item(self, ids: Mapping[str, Any]) -> str:
        """The job id, as ``JobView.JobId`` names it."""
        return str(ids["job_id"])

    def read_many(self, group: str, items: Sequence[str]) -> BatchCheck:
        """DescribeJobs of up to 100 jobs: a snapshot per job named exactly once in the answer."""
        response = yield TencentCall("batch", "DescribeJobs", VERSION, {"JobIds": list(items), "Limit": len(items)})
        listing = Listing(items, "JobId")
        listing.add(response.body.get("JobSet"))
        snapshots: dict[str, Snapshot] = {}
        for job_id, view in listing.once().items():
            state = view.get("JobState")
            metrics = {k: v for k, v in mapping(view.get("TaskMetrics")).items() if integer(v) is not None}
            total = sum(metrics.values())
            succeeded = integer(metrics.get("SucceedCount"))
            snapshots[job_id] = Snapshot(
                vendor_status=state,
                status=self.table.status_of(state),
                request_id=response.request_id,
                progress=succeeded / total if succeeded is not None and total and succeeded <= total else None,
                details={
                    "JobId": job_id,
                    "JobName": view.get("JobName"),
                    "CreateTime": view.get("CreateTime"),
                    "EndTime": view.get("EndTime"),
                    "TaskMetrics": metrics,
                },
            )
        return snapshots

    def changes(self, previous: Snapshot | None, current: Snapshot) -> list[str]:
        """Job state and progress, then every task whose state moved."""
        lines = super().changes(previous, current)
        before: Mapping[str, Any] = previous.markers.get("tasks", {}) if previous else {}
        for name, state in current.markers.get("tasks", {}).items():
            if before.get(name) != state:
                lines.append(f"task {name!r} is {state}")
        return lines
