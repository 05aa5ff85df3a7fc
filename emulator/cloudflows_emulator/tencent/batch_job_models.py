"""Tencent Batch job state: :func:`plan_batch_job` scripts what ``SubmitJob`` creates, and a job's state is
derived from its task executions (the ones ``DescribeTask`` serves), so ``DescribeJob`` and ``DescribeJobs``
agree at any instant. The operations are in ``batch_jobs``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.tencent.batch import STATE_METRICS

__all__ = [
    "ANY_JOB",
    "FINAL_STATES",
    "SERVICE",
    "TERMINATED_REASON",
    "WAITING_ORDER",
    "job_detail",
    "job_state",
    "job_view",
    "new_job_id",
    "plan_batch_job",
    "scripted_job",
    "submitted_jobs",
]

SERVICE = "batch"
TERMINATED_REASON = "Terminated by user (TerminateJob)."
FINAL_STATES = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
WAITING_ORDER = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING")
ANY_JOB = "*"


def plan_batch_job(
    emulator: Emulator,
    tasks: Mapping[str, Sequence[Any]],
    *,
    job_name: str | None = None,
    logs: Mapping[str, Mapping[int, tuple[str, str]]] | None = None,
) -> None:
    """Script the next jobs named ``job_name`` (None: any job without a plan of its own).

    ``tasks`` maps a TaskName to its phases, as :func:`batch_task` takes them (``(at, state)`` or
    :class:`BatchPhase`), counted from submission. ``logs`` maps TaskName -> instance index ->
    ``(stdout, stderr)`` served by ``DescribeTaskLogs``.
    """
    plans = emulator.scratch(SERVICE).setdefault("plans", {})
    plans[job_name or ANY_JOB] = {"tasks": {name: list(phases) for name, phases in tasks.items()}, "logs": logs or {}}


def submitted_jobs(emulator: Emulator) -> dict[str, dict[str, Any]]:
    """The jobs submitted since the last reset, by JobId."""
    jobs: dict[str, dict[str, Any]] = emulator.scratch(SERVICE).setdefault("jobs", {})
    return jobs


def new_job_id() -> str:
    """A fresh JobId, ``job-`` and eight lowercase letters or digits as Batch makes them."""
    return "job-" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))


def scripted_job(job_id: str, emulator: Emulator) -> dict[str, Any] | None:
    """The job of tasks scripted with ``batch_task`` (never submitted): on Tencent, a task that DescribeTask
    shows always belongs to a job that DescribeJob shows."""
    tasks = sorted(
        {e.key[1] for e in emulator.executions if e.service == SERVICE and len(e.key) == 2 and e.key[0] == job_id}
    )
    if not tasks:
        return None
    return {
        "Tasks": tasks,
        "JobName": job_id,
        "Zone": "ap-guangzhou-3",
        "Priority": 0,
        "CreateTime": None,
        "Dependences": [],
        "terminated": False,
    }


def job_state(states: list[str]) -> str:
    """The job-level state of a job whose tasks are in ``states``."""
    if all(s == "SUCCEED" for s in states):
        return "SUCCEED"
    if all(s in FINAL_STATES for s in states):
        return "FAILED_INTERRUPTED" if all(s in ("SUCCEED", "FAILED_INTERRUPTED") for s in states) else "FAILED"
    if any(s in ("RUNNING", *FINAL_STATES) for s in states):
        return "RUNNING"
    return min(states, key=WAITING_ORDER.index)


def job_detail(job_id: str, job: Mapping[str, Any], emulator: Emulator) -> dict[str, Any]:
    """What ``DescribeJob`` answers for ``job`` now, derived from its task executions."""
    task_set, states = [], []
    task_metrics = dict.fromkeys(STATE_METRICS.values(), 0)
    instance_metrics = dict.fromkeys(STATE_METRICS.values(), 0)
    for name in job["Tasks"]:
        view = emulator.observe(SERVICE, (job_id, name))
        payload: dict[str, Any] = view.payload if view is not None else {"TaskState": "FAILED"}
        state = str(payload["TaskState"])
        states.append(state)
        task_metrics[STATE_METRICS[state]] += 1
        for metric, value in (payload.get("TaskInstanceMetrics") or {}).items():
            instance_metrics[metric] = instance_metrics.get(metric, 0) + value
        task_set.append(
            {
                "TaskName": name,
                "TaskState": state,
                "CreateTime": payload.get("CreateTime"),
                "EndTime": payload.get("EndTime"),
            }
        )
    state = job_state(states)
    reason = TERMINATED_REASON if job["terminated"] and state in ("FAILED", "FAILED_INTERRUPTED") else ""
    return {
        "JobId": job_id,
        "JobName": job["JobName"],
        "Zone": job["Zone"],
        "Priority": job["Priority"],
        "JobState": state,
        "CreateTime": job["CreateTime"],
        "EndTime": max((t["EndTime"] for t in task_set if t["EndTime"]), default=None)
        if state in FINAL_STATES
        else None,
        "TaskSet": task_set,
        "DependenceSet": job["Dependences"],
        "TaskMetrics": task_metrics,
        "TaskInstanceMetrics": instance_metrics,
        "StateReason": reason,
        "Tags": [dict(tag) for tag in job.get("Tags", [])],
        "NextAction": "",
    }


def job_view(job_id: str, job: Mapping[str, Any], emulator: Emulator) -> dict[str, Any]:
    """A ``JobView``: the fields of the SDK model, read from the same derivation as ``DescribeJob``."""
    detail = job_detail(job_id, job, emulator)
    return {
        "JobId": job_id,
        "JobName": detail["JobName"],
        "JobState": detail["JobState"],
        "Priority": detail["Priority"],
        "Placement": {"Zone": detail["Zone"], "ProjectId": 0},
        "CreateTime": detail["CreateTime"],
        "EndTime": detail["EndTime"],
        "TaskMetrics": detail["TaskMetrics"],
        "Tags": detail["Tags"],
    }
