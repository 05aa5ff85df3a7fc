"""A started wait's last event, in memory: which events end the task in the triggerer, with which XComs, and
which resume the worker unchanged."""

from __future__ import annotations

import logging

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent
from airflow.utils.state import TaskInstanceState

from airflow_provider_cloudflows.triggers.events import (
    Errored,
    Failed,
    MemoryChanged,
    Succeeded,
    TimedOut,
    WaitEvent,
    event_from_payload,
)
from airflow_provider_cloudflows.triggers.task_end import RETURN_VALUE, ending_event

STATE = {"service": "tencent_batch_job", "identifiers": {"job_id": "job-1"}, "status": "SUCCEEDED"}
LINK = {"_link_TencentBatchJobLink": "https://console.cloud.tencent.com/batch/job/detail?jobId=job-1"}
SUCCEEDED = Succeeded(state=STATE, message="job-1 is SUCCEEDED [RequestId: r-1]")
FAILED = Failed(state={**STATE, "status": "FAILED"}, message="job-1 is FAILED (JobState='FAILED'): exit 137")
WORKER_EVENTS: list[WaitEvent] = [
    TimedOut(state=STATE, message="job-1 did not finish within the sensor's timeout (60s)"),
    Errored(error={"error_type": "AuthFailure"}, message="job-1: bad key"),
    MemoryChanged(memory={"seen_running": True}, deadline=1.0e9, timeout=60.0, message="memory changed"),
]
LOG = logging.getLogger("test_task_end")


def test_a_success_ends_the_task_with_the_state_as_return_value_and_the_links() -> None:
    event = ending_event(SUCCEEDED, LOG, xcoms=LINK, ends_in_trigger=True)
    assert isinstance(event, TaskSuccessEvent)
    assert event.task_instance_state is TaskInstanceState.SUCCESS
    assert event.xcoms == {RETURN_VALUE: STATE, **LINK}


def test_a_given_return_value_replaces_the_state() -> None:
    event = ending_event(SUCCEEDED, LOG, return_value={"job_id": "job-1"}, ends_in_trigger=True)
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms == {RETURN_VALUE: {"job_id": "job-1"}}


def test_a_failure_ends_the_task_failed_after_logging_its_message(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=LOG.name):
        event = ending_event(FAILED, LOG, xcoms=LINK, ends_in_trigger=True)
    assert isinstance(event, TaskFailedEvent)
    assert event.task_instance_state is TaskInstanceState.FAILED
    assert event.xcoms == LINK  # the links, but no return value
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [FAILED.message]


def test_a_failure_without_links_writes_no_xcom() -> None:
    event = ending_event(FAILED, LOG, ends_in_trigger=True)
    assert isinstance(event, TaskFailedEvent)
    assert event.xcoms is None


@pytest.mark.parametrize("wait_event", WORKER_EVENTS, ids=lambda e: e.kind)
def test_timeouts_errors_and_memory_resume_the_worker_with_the_wait_event(wait_event: WaitEvent) -> None:
    event = ending_event(wait_event, LOG, xcoms=LINK, ends_in_trigger=True)
    assert type(event) is TriggerEvent
    assert event_from_payload(event.payload) == wait_event


@pytest.mark.parametrize("wait_event", [SUCCEEDED, FAILED, *WORKER_EVENTS], ids=lambda e: e.kind)
def test_where_the_triggerer_may_not_end_tasks_every_event_resumes_the_worker(wait_event: WaitEvent) -> None:
    event = ending_event(wait_event, LOG, xcoms=LINK, ends_in_trigger=False)
    assert type(event) is TriggerEvent
    assert event_from_payload(event.payload) == wait_event
