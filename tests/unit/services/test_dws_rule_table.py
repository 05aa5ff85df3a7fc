"""The DWS decision rule as a table: which action-view, failure-view and cluster answers prove success, failure,
a task still running, or nothing (UNKNOWN), fed in memory to the spec's check, with the views it asks in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_cloudflows.errors import CloudApiError, InvalidRequestError, NotFoundError
from airflow_provider_cloudflows.services.base import CheckContext
from airflow_provider_cloudflows.services.huawei_dws import NOT_SEEN_GRACE, HuaweiDwsClusterTask
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import Verdict as V
from airflow_provider_cloudflows.transport.huawei import VENDOR
from tests.unit.services.canned import Answer, ok, replay

SPEC = HuaweiDwsClusterTask()
CLUSTER = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
IDS = {"cluster_id": CLUSTER, "action_name": "SNAPSHOTTING"}
ACTION, FAILURE, DETAIL = "SNAPSHOTTING", "SNAPSHOTTING_FAILED", "cluster"
STARTED = datetime(2026, 1, 1, 10, 0, 0, tzinfo=timezone.utc).timestamp()
# The wait saw its task running in the action view: its id and submit time are remembered.
SEEN = {"started": STARTED, "seen_at": STARTED + 30, "task_id": "task-1", "task_submit_time": "2026-01-01 10:00:05"}
NOT_SEEN = {"started": STARTED}


def gone() -> InvalidRequestError:
    """The evidenced "no such ongoing task" answer of a view."""
    return InvalidRequestError("Incorrect parameter", vendor=VENDOR, code="DWS.0001", http_status=400)


def record(status: str, view: str = ACTION, **fields: Any) -> Answer:
    return ok({"status": status, "action_name": view, **fields})


def cluster(status: str = "AVAILABLE", **fields: Any) -> Answer:
    return ok({"cluster": {"id": CLUSTER, "status": status, **fields}})


@dataclass(frozen=True)
class Case:
    answers: list[Answer]
    status: S
    verdict: V
    memory: dict[str, Any] = field(default_factory=lambda: dict(SEEN))

    def views(self) -> list[str]:
        """The views asked, in order, when each answer is read."""
        return [ACTION, FAILURE, DETAIL][: len(self.answers)]


CASES = {
    # Still running: the action view shows an ongoing record, or the cluster still lists the action.
    "an ongoing record in the action view is running": Case([record("RUNNING", id="task-1")], S.RUNNING, V.WAITING),
    "a waiting record in the action view is pending": Case([record("WAITING")], S.PENDING, V.WAITING),
    "a rollback in progress is running": Case([record("ROLLBACK_RUNNING")], S.RUNNING, V.WAITING),
    "the cluster still showing the action in task_status is running": Case(
        [gone(), gone(), cluster(task_status=ACTION)], S.RUNNING, V.WAITING
    ),
    "the cluster still showing the action's progress is running": Case(
        [gone(), gone(), cluster(action_progress={ACTION: "40%"})], S.RUNNING, V.WAITING
    ),
    # Success: only a task seen running, gone, with no failure record of it and an idle healthy cluster.
    "a seen task gone from an idle cluster with no failure record succeeds": Case(
        [gone(), gone(), cluster()], S.SUCCEEDED, V.SUCCESS
    ),
    "a final success record with the seen task's id succeeds at once": Case(
        [record("SUCCESS", id="task-1")], S.SUCCEEDED, V.SUCCESS
    ),
    "an old success record of another task in the view is ignored": Case(
        [record("SUCCESS", id="task-0"), gone(), cluster()], S.SUCCEEDED, V.SUCCESS
    ),
    "an earlier task's failure record does not fail the wait": Case(
        [gone(), record("FAILED", FAILURE, id="task-0", submit_time="2026-01-01 09:00:00"), cluster()],
        S.SUCCEEDED,
        V.SUCCESS,
    ),
    # Failure: evidence attributable to this task, a broken cluster, or an outcome that cannot be confirmed.
    "a final failure record with the seen task's id fails at once": Case(
        [record("FAILED", id="task-1")], S.FAILED, V.FAILURE
    ),
    "a rolled-back task fails": Case([record("ROLLBACK_SUCCESS", id="task-1")], S.FAILED, V.FAILURE),
    "a failure record with the seen task's id fails": Case(
        [gone(), record("FAILED", FAILURE, id="task-1")], S.FAILED, V.FAILURE
    ),
    "a failure record submitted after the seen task fails": Case(
        [gone(), record("FAILED", FAILURE, id="other", submit_time="2026-01-01 10:00:06")], S.FAILED, V.FAILURE
    ),
    "a broken cluster fails": Case([gone(), gone(), cluster("FROZEN")], S.FAILED, V.FAILURE),
    "a failure on the cluster fails a seen task": Case(
        [gone(), gone(), cluster(task_status=FAILURE)], S.FAILED, V.FAILURE
    ),
    "a failure code on the cluster fails a seen task": Case(
        [gone(), gone(), cluster(failed_reasons={"error_code": "DWS.5001", "error_msg": "disk"})], S.FAILED, V.FAILURE
    ),
    "a failure record that cannot be placed never lets the task succeed": Case(
        [gone(), record("FAILED", FAILURE, id="task-0"), cluster()], S.FAILED, V.FAILURE
    ),
    "a task never seen fails once the grace is spent": Case(
        [gone(), gone(), cluster()], S.FAILED, V.FAILURE, {**NOT_SEEN, "unseen_checks": NOT_SEEN_GRACE}
    ),
    # Waiting: nothing settled yet.
    "a task never seen waits out its grace": Case([gone(), gone(), cluster()], S.PENDING, V.WAITING, dict(NOT_SEEN)),
    "a cluster failure not attributable to an unseen task waits": Case(
        [gone(), gone(), cluster(task_status=FAILURE)], S.PENDING, V.WAITING, dict(NOT_SEEN)
    ),
    "a cluster busy with another action waits": Case(
        [gone(), gone(), cluster(task_status="GROWING")], S.PENDING, V.WAITING
    ),
    "a cluster in an unsettled status waits": Case([gone(), gone(), cluster("CREATING")], S.PENDING, V.WAITING),
    # UNKNOWN: answers that prove nothing; the wait goes on.
    "another action's record in the view proves nothing": Case(
        [record("SUCCESS", "GROWING", id="task-1")], S.UNKNOWN, V.WAITING
    ),
    "an error envelope in a 200 proves nothing": Case([ok({"error_code": "DWS.9999"})], S.UNKNOWN, V.WAITING),
    "a record without a documented status proves nothing": Case([record("DONE")], S.UNKNOWN, V.WAITING),
    "a non-200 success answer proves nothing": Case(
        [ok({"status": "SUCCESS", "action_name": ACTION}, http_status=206)], S.UNKNOWN, V.WAITING
    ),
    "a cluster detail without a cluster proves nothing": Case([gone(), gone(), ok({})], S.UNKNOWN, V.WAITING),
    "a detail of another cluster proves nothing": Case(
        [gone(), gone(), ok({"cluster": {"id": "other", "status": "AVAILABLE"}})], S.UNKNOWN, V.WAITING
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_answers_decide_the_outcome(case: Case) -> None:
    memory = dict(case.memory)
    run = replay(SPEC.check(IDS, CheckContext(verdict=SPEC.table.verdict, memory=memory)), case.answers)
    assert [call.path_params.get("action_name", DETAIL) for call in run.calls] == case.views()
    assert run.result.status is case.status, run.result
    assert SPEC.table.verdict(run.result.vendor_status) is case.verdict, run.result


ERRORS = {
    "an unknown cluster": NotFoundError("cluster not found", vendor=VENDOR, code="DWS.0047", http_status=404),
    "a 404 with the gone code": NotFoundError("not found", vendor=VENDOR, code="DWS.0001", http_status=404),
    "another invalid request": InvalidRequestError("bad", vendor=VENDOR, code="DWS.0002", http_status=400),
    "a gateway code": InvalidRequestError("bad", vendor=VENDOR, code="APIG.0101", http_status=400),
}


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
def test_only_the_evidenced_gone_answer_is_read_as_gone_any_other_error_propagates(error: CloudApiError) -> None:
    with pytest.raises(type(error)) as raised:
        replay(SPEC.check(IDS, CheckContext(verdict=SPEC.table.verdict, memory=dict(SEEN))), [error])
    assert raised.value is error


def test_an_ongoing_record_is_remembered_as_the_task_seen() -> None:
    memory = dict(NOT_SEEN)
    answer = record("RUNNING", id="task-7", submit_time="2026-01-01 10:00:09")
    replay(SPEC.check(IDS, CheckContext(verdict=SPEC.table.verdict, memory=memory)), [answer])
    assert memory["task_id"] == "task-7"
    assert memory["task_submit_time"] == "2026-01-01 10:00:09"
    assert memory["seen_at"] >= STARTED


def test_a_task_never_seen_counts_its_checks_against_the_grace() -> None:
    memory = dict(NOT_SEEN)
    for check in range(1, NOT_SEEN_GRACE + 2):
        run = replay(
            SPEC.check(IDS, CheckContext(verdict=SPEC.table.verdict, memory=memory)), [gone(), gone(), cluster()]
        )
        assert memory["unseen_checks"] == check
        assert run.result.status is (S.FAILED if check > NOT_SEEN_GRACE else S.PENDING)
