"""Tencent Batch jobs (2017-03-12): ``SubmitJob``, ``DescribeJob``, ``DescribeJobs``, ``TerminateJob``,
``DescribeTaskLogs``.

A submitted job is a set of Batch task executions (the ones ``DescribeTask`` serves, keyed
``(JobId, TaskName)``) whose clocks start at submission; ``DescribeJob`` derives the job-level state from
them (``batch_job_models``). What the tasks do is scripted beforehand with :func:`plan_batch_job` (by
``JobName``, or for any job); unplanned tasks are SUBMITTED, RUNNING after 0.5 s and SUCCEED after 2 s.

Semantics kept from the documentation:

- :func:`submit_batch_job` registers a job as ``SubmitJob`` does, without a request (tests needing many jobs).
- ``ClientToken`` makes ``SubmitJob`` idempotent: the same token returns the same JobId.
- ``TerminateJob`` is refused while the job is SUBMITTED (answered ``UnsupportedOperation``: the exact code
  is not documented, this is a judgment), is a no-op once it SUCCEEDed, and otherwise fails every unfinished
  task instance shortly after (termination is asynchronous). The tasks are marked ``stopped_at``.
- ``DescribeTaskLogs`` returns Base64 stdout/stderr per instance, at most 10 instances (default 5).
- ``DescribeJobs`` reads many jobs in one call: ``JobIds`` (at most 100) or ``Filters`` (``job-id``,
  ``job-name``, ``job-state``, ``zone``, ``tag-key``, ``tag-value``, ``tag:<key>``; not both), paged by
  ``Offset`` / ``Limit`` (default 20, at most 100). Each ``JobView`` is derived from the same task executions
  ``DescribeJob`` reads, so both agree at any instant. Judgments where the documentation is silent: unknown
  JobIds are left out of ``JobSet`` (no error); a repeated JobId is listed once; ``Limit`` pages a ``JobIds``
  request too (ask ``Limit`` = the number of ids to get them all in one call); jobs are listed newest
  submission first; a ``job-state`` value that is not a documented state is ``InvalidParameterValue.InvalidFilter``.
- Rate limits (requests/second, international API docs): SubmitJob 7, DescribeJob 2, TerminateJob 2,
  DescribeTaskLogs 20.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.handler import ApiCall, ApiError, Operation
from cloudflows_emulator.scripting import iso_seconds, now_utc
from cloudflows_emulator.tencent.batch import JOB_ID_PATTERN, STATE_METRICS, TASK_STATES, batch_task
from cloudflows_emulator.tencent.batch_job_models import (
    ANY_JOB,
    FINAL_STATES,
    SERVICE,
    TERMINATED_REASON,
    WAITING_ORDER,
    job_detail,
    job_view,
    new_job_id,
    plan_batch_job,
    scripted_job,
    submitted_jobs,
)
from cloudflows_emulator.tencent.protocol import optional_int, reject_unknown, require_object, require_str

__all__ = ["BATCH_JOB_OPERATIONS", "DEFAULT_TASK_PHASES", "MAX_JOB_IDS", "plan_batch_job", "submit_batch_job"]

VERSION = "2017-03-12"
DEFAULT_TASK_PHASES: tuple[tuple[float, str], ...] = ((0, "SUBMITTED"), (0.5, "RUNNING"), (2, "SUCCEED"))
TERMINATE_DELAY = 0.5
MAX_JOB_IDS = 100
"""``DescribeJobs``: at most this many ``JobIds`` per request, and at most this ``Limit``."""
_DEFAULT_JOBS_LIMIT = 20
_JOB_FILTERS = ("job-id", "job-name", "job-state", "zone", "tag-key", "tag-value")
_TAG_FILTER_PREFIX = "tag:"


async def submit_job(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``SubmitJob``: register the job's tasks (their clocks start now); a known ClientToken returns its job."""
    params = call.params
    reject_unknown(params, {"Placement", "Job", "ClientToken"})
    placement = require_object(params, "Placement")
    require_str(placement, "Zone", path="Placement.Zone")
    job = require_object(params, "Job")
    token = params.get("ClientToken")
    if token is not None and (not isinstance(token, str) or len(token) > 64 or not token.isascii()):
        raise ApiError("InvalidParameterValue", "ClientToken must be at most 64 ASCII characters.")
    tasks = job.get("Tasks")
    if not isinstance(tasks, list) or not tasks:
        raise ApiError("MissingParameter", "The request is missing a required parameter `Job.Tasks`.")
    tags = _tags(job.get("Tags"))
    names = []
    for number, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise ApiError("InvalidParameter", f"The type of parameter `Job.Tasks.{number}` is invalid.")
        names.append(require_str(task, "TaskName", path=f"Job.Tasks.{number}.TaskName"))
    tokens: dict[str, str] = emulator.scratch(SERVICE).setdefault("tokens", {})
    if token and token in tokens:
        call.key = (tokens[token],)
        return {"JobId": tokens[token]}
    counts = [task.get("TaskInstanceNum", 1) for task in tasks]
    job_id = _register(
        emulator,
        job.get("JobName", ""),
        {name: int(count) if count else 1 for name, count in zip(names, counts, strict=True)},
        zone=placement["Zone"],
        tags=tags,
        priority=job.get("Priority", 0),
        dependences=job.get("Dependences") or [],
    )
    if token:
        tokens[token] = job_id
    call.key = (job_id,)
    return {"JobId": job_id}


def submit_batch_job(
    emulator: Emulator,
    job_name: str,
    task_names: Sequence[str] = ("A",),
    *,
    tags: Mapping[str, str] | None = None,
    zone: str = "ap-guangzhou-3",
) -> str:
    """Register a job as ``SubmitJob`` would (its tasks follow the job's :func:`plan_batch_job` script, their
    clocks start now), without a request: no signature, no quota. Returns its JobId.

    For tests that need many jobs at once (``SubmitJob`` admits 7 a second)."""
    if not task_names:
        raise ValueError("submit_batch_job: a job needs at least one task")
    job_tags = [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
    return _register(emulator, job_name, dict.fromkeys(task_names, 1), zone=zone, tags=job_tags)


def _register(
    emulator: Emulator,
    job_name: str,
    tasks: Mapping[str, int],
    *,
    zone: str,
    tags: list[dict[str, str]],
    priority: Any = 0,
    dependences: Any = (),
) -> str:
    """A new job of ``tasks`` (name: instance count) following its plan; returns its JobId."""
    plans = emulator.scratch(SERVICE).get("plans", {})
    plan = plans.get(job_name) or plans.get(ANY_JOB) or {"tasks": {}, "logs": {}}
    job_id = new_job_id()
    for name, count in tasks.items():
        phases = plan["tasks"].get(name, DEFAULT_TASK_PHASES)
        emulator.add_execution(batch_task(job_id, name, phases, instance_count=count, start_immediately=True))
    submitted_jobs(emulator)[job_id] = {
        "JobName": job_name,
        "Priority": priority,
        "Zone": zone,
        "Tasks": list(tasks),
        "Dependences": list(dependences),
        "CreateTime": iso_seconds(now_utc()),
        "Tags": tags,
        "logs": plan["logs"],
        "terminated": False,
    }
    return job_id


def _tags(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError("InvalidParameter", "The type of parameter `Job.Tags` is invalid: expected an Array.")
    for number, tag in enumerate(value):
        if not isinstance(tag, dict) or not isinstance(tag.get("Key"), str) or not isinstance(tag.get("Value"), str):
            raise ApiError("InvalidParameter", f"The parameter `Job.Tags.{number}` needs a String Key and Value.")
    return [{"Key": tag["Key"], "Value": tag["Value"]} for tag in value]


def _job(call: ApiCall, emulator: Emulator) -> tuple[str, dict[str, Any]]:
    job_id = require_str(call.params, "JobId")
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise ApiError("InvalidParameter.JobIdMalformed", f"Invalid job ID format: `{job_id}`.")
    call.key = (job_id,)
    job = submitted_jobs(emulator).get(job_id) or scripted_job(job_id, emulator)
    if job is None:
        raise ApiError("ResourceNotFound.Job", f"The specified job does not exist: `{job_id}`.")
    return job_id, job


async def describe_job(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``DescribeJob``: the job-level state derived from its tasks."""
    reject_unknown(call.params, {"JobId"})
    job_id, job = _job(call, emulator)
    return job_detail(job_id, job, emulator)


def _job_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError("InvalidParameter", "The type of parameter `JobIds` is invalid: expected an Array of String.")
    if len(value) > MAX_JOB_IDS:
        raise ApiError(
            "InvalidParameterValue.LimitExceeded",
            f"The number of `JobIds` ({len(value)}) exceeds the limit of {MAX_JOB_IDS} per request.",
        )
    for job_id in value:
        if not JOB_ID_PATTERN.fullmatch(job_id):
            raise ApiError("InvalidParameter.JobIdMalformed", f"Invalid job ID format: `{job_id}`.")
    return list(dict.fromkeys(value))


def _job_filters(value: Any) -> list[tuple[str, set[str]]]:
    if not isinstance(value, list):
        raise ApiError("InvalidParameter", "The type of parameter `Filters` is invalid: expected an Array.")
    filters = []
    for number, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise ApiError("MissingParameter", f"The request is missing a required parameter `Filters.{number}.Name`.")
        name = item["Name"]
        tag_filter = name.startswith(_TAG_FILTER_PREFIX) and len(name) > len(_TAG_FILTER_PREFIX)
        if name not in _JOB_FILTERS and not tag_filter:
            raise ApiError("InvalidParameterValue.InvalidFilter", f"The filter `{name}` is not supported.")
        values = item.get("Values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ApiError("InvalidParameter", f"The type of parameter `Filters.{number}.Values` is invalid.")
        if name == "job-state" and not set(values) <= set(TASK_STATES):
            raise ApiError(
                "InvalidParameterValue.InvalidFilter",
                f"The values of filter `job-state` must be among {', '.join(TASK_STATES)}.",
            )
        filters.append((name, set(values)))
    return filters


def _matches(view: Mapping[str, Any], filters: Sequence[tuple[str, set[str]]]) -> bool:
    """Every filter holds (AND); within one filter any value does (OR), as Tencent's Filters work."""
    tags = view["Tags"]
    for name, values in filters:
        if name == "job-id":
            found = {view["JobId"]}
        elif name == "job-name":
            found = {view["JobName"]}
        elif name == "job-state":
            found = {view["JobState"]}
        elif name == "zone":
            found = {view["Placement"]["Zone"]}
        elif name == "tag-key":
            found = {tag["Key"] for tag in tags}
        elif name == "tag-value":
            found = {tag["Value"] for tag in tags}
        else:
            key = name[len(_TAG_FILTER_PREFIX) :]
            found = {tag["Value"] for tag in tags if tag["Key"] == key}
        if not found & values:
            return False
    return True


async def describe_jobs(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``DescribeJobs``: ``JobView`` of the jobs named by ``JobIds`` or matching ``Filters``, one page of them.

    ``TotalCount`` counts every job that matches, ``JobSet`` holds ``Offset`` .. ``Offset + Limit`` of them,
    newest submission first. Unknown JobIds are simply absent.
    """
    params = call.params
    reject_unknown(params, {"JobIds", "Filters", "Offset", "Limit"})
    if params.get("JobIds") is not None and params.get("Filters") is not None:
        raise ApiError(
            "InvalidParameter.InvalidParameterCombination", "The parameters `JobIds` and `Filters` are exclusive."
        )
    offset = optional_int(params, "Offset", 0)
    limit = optional_int(params, "Limit", _DEFAULT_JOBS_LIMIT)
    if offset < 0:
        raise ApiError("InvalidParameterValue", f"The value `{offset}` of parameter `Offset` must be >= 0.")
    if limit < 0:
        raise ApiError("InvalidParameterValue", f"The value `{limit}` of parameter `Limit` must be >= 0.")
    if limit > MAX_JOB_IDS:
        raise ApiError(
            "InvalidParameterValue.LimitExceeded",
            f"The value `{limit}` of parameter `Limit` exceeds the maximum of {MAX_JOB_IDS}.",
        )
    jobs = submitted_jobs(emulator)
    wanted = _job_ids(params["JobIds"]) if params.get("JobIds") is not None else None
    filters = _job_filters(params["Filters"]) if params.get("Filters") is not None else []
    # Newest submission first: the jobs dict keeps submission order.
    chosen = [job_id for job_id in reversed(jobs) if wanted is None or job_id in wanted]
    views = [job_view(job_id, jobs[job_id], emulator) for job_id in chosen]
    matching = [view for view in views if _matches(view, filters)]
    return {"JobSet": matching[offset : offset + limit], "TotalCount": len(matching)}


def _terminated(payload: dict[str, Any]) -> dict[str, Any]:
    instances = payload.get("TaskInstanceSet") or []
    for instance in instances:
        if instance.get("TaskInstanceState") not in FINAL_STATES:
            instance.update(
                {"TaskInstanceState": "FAILED", "ExitCode": None, "StateReason": TERMINATED_REASON}
                | {"StateDetailedReason": TERMINATED_REASON}
            )
    metrics = dict.fromkeys(payload.get("TaskInstanceMetrics") or {}, 0)
    for instance in instances:
        metric = STATE_METRICS[instance["TaskInstanceState"]]
        metrics[metric] = metrics.get(metric, 0) + 1
    payload["TaskInstanceMetrics"] = metrics
    payload["TaskState"] = "FAILED"
    payload["EndTime"] = iso_seconds(now_utc())
    return payload


async def terminate_job(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``TerminateJob``: refused while SUBMITTED, a no-op once SUCCEED, else fails unfinished tasks soon."""
    reject_unknown(call.params, {"JobId"})
    job_id, job = _job(call, emulator)
    state = job_detail(job_id, job, emulator)["JobState"]
    if state == "SUBMITTED":
        raise ApiError("UnsupportedOperation", f"The job `{job_id}` is SUBMITTED and cannot be terminated yet.")
    if state in FINAL_STATES:
        return {}
    job["terminated"] = True
    for name in job["Tasks"]:
        view = emulator.observe(SERVICE, (job_id, name))
        if view is not None and view.payload["TaskState"] not in FINAL_STATES:
            emulator.stop_execution(SERVICE, (job_id, name), _terminated, after=TERMINATE_DELAY)
    return {}


async def describe_task_logs(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``DescribeTaskLogs``: Base64 stdout/stderr of instances (scripted, or a line naming the instance)."""
    params = call.params
    reject_unknown(params, {"JobId", "TaskName", "TaskInstanceIndexes", "Offset", "Limit"})
    job_id, job = _job(call, emulator)
    task_name = require_str(params, "TaskName")
    if task_name not in job["Tasks"]:
        raise ApiError("ResourceNotFound.Task", f"The specified job task does not exist: `{task_name}`.")
    indexes = params.get("TaskInstanceIndexes")
    if indexes is not None and "Offset" in params:
        raise ApiError("InvalidParameter.InvalidParameterCombination", "TaskInstanceIndexes and Offset are exclusive.")
    limit = optional_int(params, "Limit", 5)
    if not 0 <= limit <= 10:
        raise ApiError("InvalidParameterValue", f"The value `{limit}` of parameter `Limit` must be between 0 and 10.")
    view = emulator.observe(SERVICE, (job_id, task_name))
    instances = (view.payload.get("TaskInstanceSet") or []) if view is not None else []
    if indexes is not None:
        if not isinstance(indexes, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in indexes):
            raise ApiError("InvalidParameter", "The type of parameter `TaskInstanceIndexes` is invalid.")
        chosen = [i for i in instances if i["TaskInstanceIndex"] in indexes][:10]
    else:
        offset = optional_int(params, "Offset", 0)
        chosen = instances[offset : offset + limit]
    scripted = job["logs"].get(task_name, {})
    log_set = []
    for instance in chosen:
        index = instance["TaskInstanceIndex"]
        default_err = (
            f"instance {index} {instance['TaskInstanceState']}: {instance.get('StateReason') or ''}".strip()
            if instance["TaskInstanceState"] in ("FAILED", "FAILED_INTERRUPTED")
            else ""
        )
        stdout, stderr = scripted.get(index, (f"task {task_name} instance {index} started", default_err))
        redirect = instance.get("RedirectInfo") or {}
        log_set.append(
            {
                "TaskInstanceIndex": index,
                "StdoutLog": base64.b64encode(stdout.encode()[:2048]).decode(),
                "StderrLog": base64.b64encode(stderr.encode()[:2048]).decode(),
                "StdoutRedirectPath": redirect.get("StdoutRedirectPath", ""),
                "StderrRedirectPath": redirect.get("StderrRedirectPath", ""),
                "StdoutRedirectFileName": redirect.get("StdoutRedirectFileName", ""),
                "StderrRedirectFileName": redirect.get("StderrRedirectFileName", ""),
            }
        )
    return {"TotalCount": len(instances), "TaskInstanceLogSet": log_set}


BATCH_JOB_OPERATIONS = (
    Operation(SERVICE, "SubmitJob", VERSION, submit_job),
    Operation(SERVICE, "DescribeJob", VERSION, describe_job),
    Operation(SERVICE, "DescribeJobs", VERSION, describe_jobs),
    Operation(SERVICE, "TerminateJob", VERSION, terminate_job),
    Operation(SERVICE, "DescribeTaskLogs", VERSION, describe_task_logs),
)
"""The job-level Batch operations, served beside ``DescribeTask``."""

assert set(WAITING_ORDER) < set(TASK_STATES)
