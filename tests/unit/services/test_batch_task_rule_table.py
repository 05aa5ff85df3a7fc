"""The Tencent Batch task rule as tables, fed in memory: which DescribeTask answers end a wait and how, when a
failure is read again page-wide, how failed instances are reported, and what DescribeJob proves per task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_cloudflows.services.base import CheckContext
from airflow_provider_cloudflows.services.tencent_batch import FAILURE_LIMIT, MAX_REASONS, POLL_LIMIT, TencentBatchTask
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import Verdict as V
from tests.unit.services.canned import Answer, ok, replay

SPEC = TencentBatchTask()
IDS = {"job_id": "job-97zcl3wt", "task_name": "A"}


def instance(index: int, state: str = "FAILED", **fields: Any) -> dict[str, Any]:
    return {"TaskInstanceIndex": index, "TaskInstanceState": state, **fields}


def task(state: Any, *instances: dict[str, Any], total: int | None = None, **fields: Any) -> Answer:
    return ok(
        {
            "JobId": IDS["job_id"],
            "TaskName": IDS["task_name"],
            "TaskState": state,
            "TaskInstanceSet": list(instances),
            "TaskInstanceTotalCount": len(instances) if total is None else total,
            **fields,
        }
    )


def check(answers: list[Answer]) -> Any:
    return replay(SPEC.check(IDS, CheckContext(verdict=SPEC.table.verdict)), answers)


@dataclass(frozen=True)
class Case:
    answers: list[Answer]
    status: S
    verdict: V
    limits: list[int]


CASES = {
    "a submitted task waits": Case([task("SUBMITTED")], S.PENDING, V.WAITING, [POLL_LIMIT]),
    "a runnable task waits": Case([task("RUNNABLE")], S.PENDING, V.WAITING, [POLL_LIMIT]),
    "a running task waits": Case([task("RUNNING")], S.RUNNING, V.WAITING, [POLL_LIMIT]),
    "a succeeded task succeeds": Case([task("SUCCEED")], S.SUCCEEDED, V.SUCCESS, [POLL_LIMIT]),
    "a failed task with every instance listed fails in one call": Case(
        [task("FAILED", instance(0))], S.FAILED, V.FAILURE, [POLL_LIMIT]
    ),
    "an interrupted task fails": Case([task("FAILED_INTERRUPTED")], S.FAILED, V.FAILURE, [POLL_LIMIT]),
    "a failed task with unlisted instances is read again page-wide": Case(
        [task("FAILED", instance(0), total=300), task("FAILED", instance(0), total=300)],
        S.FAILED,
        V.FAILURE,
        [POLL_LIMIT, FAILURE_LIMIT],
    ),
    "a running task with unlisted instances is not read again": Case(
        [task("RUNNING", total=300)], S.RUNNING, V.WAITING, [POLL_LIMIT]
    ),
    "an undocumented state is unknown and waits": Case([task("PAUSED")], S.UNKNOWN, V.WAITING, [POLL_LIMIT]),
    "a missing state is unknown and waits": Case([task(None)], S.UNKNOWN, V.WAITING, [POLL_LIMIT]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_answers_decide_the_outcome(case: Case) -> None:
    run = check(case.answers)
    assert [(call.action, call.params["Limit"]) for call in run.calls] == [("DescribeTask", n) for n in case.limits]
    assert run.result.status is case.status, run.result
    assert SPEC.table.verdict(run.result.vendor_status) is case.verdict


def test_a_failed_instance_is_reported_with_its_exit_code_once() -> None:
    failed = instance(1, ExitCode=137, StateReason="OOMKilled", StateDetailedReason="ExitCode: 137")
    snapshot = check([task("FAILED", instance(0, "SUCCEED"), failed)]).result
    assert snapshot.reason == "instance 1 FAILED (ExitCode 137): OOMKilled"
    assert [i["TaskInstanceIndex"] for i in snapshot.details["FailedInstances"]] == [1]


def test_a_detailed_reason_that_says_more_is_kept() -> None:
    failed = instance(2, ExitCode=1, StateReason="Error", StateDetailedReason="disk full on /data")
    assert check([task("FAILED", failed)]).result.reason == "instance 2 FAILED (ExitCode 1): Error (disk full on /data)"


def test_the_reasons_are_bounded_and_the_rest_counted() -> None:
    failed = [instance(i, StateReason="boom") for i in range(MAX_REASONS + 3)]
    reason = check([task("FAILED", *failed)]).result.reason
    assert reason is not None
    assert reason.count("instance ") == MAX_REASONS
    assert reason.endswith("; and 3 more failed instances")


@pytest.mark.parametrize(
    ("metrics", "total", "progress"),
    [
        ({"SucceedCount": 3, "RunningCount": 1}, 4, 0.75),
        ({"SucceedCount": 5}, 4, None),  # more than the total: not a fraction
        ({"SucceedCount": "3"}, 4, None),  # not an integer
        ({}, 4, None),
    ],
)
def test_progress_is_the_succeeded_share_of_the_instances_when_the_counters_make_sense(
    metrics: dict[str, Any], total: int, progress: float | None
) -> None:
    snapshot = check([task("RUNNING", total=total, TaskInstanceMetrics=metrics)]).result
    assert snapshot.progress == progress


def test_the_job_read_proves_only_the_asked_tasks_named_once() -> None:
    answer = ok(
        {
            "JobId": IDS["job_id"],
            "TaskSet": [
                {"TaskName": "A", "TaskState": "RUNNING"},
                {"TaskName": "B", "TaskState": "SUCCEED"},
                {"TaskName": "C", "TaskState": "RUNNING"},
                {"TaskName": "C", "TaskState": "FAILED"},
                {"TaskName": "unasked", "TaskState": "RUNNING"},
            ],
        }
    )
    run = replay(SPEC.read_many(IDS["job_id"], ["A", "B", "C", "D"]), [answer])
    assert [(call.action, call.params) for call in run.calls] == [("DescribeJob", {"JobId": IDS["job_id"]})]
    assert {name: snapshot.status for name, snapshot in run.result.items()} == {"A": S.RUNNING, "B": S.SUCCEEDED}
