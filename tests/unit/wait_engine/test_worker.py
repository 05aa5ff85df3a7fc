"""The worker side's decision on a trigger event, in memory: which outcome each event becomes, for any task."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import pytest

from airflow_provider_cloudflows.compat import AirflowException
from airflow_provider_cloudflows.errors import CloudExecutionFailed
from airflow_provider_cloudflows.triggers.events import Errored, Failed, MemoryChanged, Succeeded, TimedOut, WaitEvent
from airflow_provider_cloudflows.wait_engine.worker import DEFER_TIMEOUT_MARGIN, conclude, defer_timeout, read_event

STATE = {"status": "SUCCEEDED", "identifiers": {"job_id": "job-1"}}
LOG = logging.getLogger(__name__)


class TimeoutSeen(Exception):
    """What the recording ending raises on a timeout, standing for a sensor's or an operator's own."""


class Recorder:
    """An ending that records what the engine asked of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def succeeded(self, state: dict[str, Any]) -> Any:
        self.calls.append(("succeeded", state))
        return {"returned": state}

    def failed(self, state: dict[str, Any]) -> None:
        self.calls.append(("failed", state))

    def timed_out(self, message: str) -> NoReturn:
        self.calls.append(("timed_out", message))
        raise TimeoutSeen(message)

    def defer_again(self, memory: dict[str, Any], deadline: float) -> None:
        self.calls.append(("defer_again", (memory, deadline)))


@pytest.mark.parametrize(
    ("event", "returned", "raised", "calls"),
    [
        (Succeeded(STATE, "done"), {"returned": STATE}, None, [("succeeded", STATE)]),
        (Failed(STATE, "job-1 is FAILED"), None, CloudExecutionFailed, [("failed", STATE)]),
        (TimedOut(None, "too slow"), None, TimeoutSeen, [("timed_out", "too slow")]),
        (Errored({"error_type": "AuthFailure"}, "bad key"), None, AirflowException, []),
        (MemoryChanged({"seen_at": 1.0}, 99.0, 60.0, "m"), None, None, [("defer_again", ({"seen_at": 1.0}, 99.0))]),
        (MemoryChanged({"seen_at": 1.0}, None, 60.0, "m"), None, AirflowException, []),
    ],
    ids=["success", "failure", "timeout", "error", "memory", "memory-without-deadline"],
)
def test_each_event_becomes_one_outcome_of_the_task(
    event: WaitEvent, returned: Any, raised: type[Exception] | None, calls: list[tuple[str, Any]]
) -> None:
    ending = Recorder()
    if raised is None:
        assert conclude(event, ending, LOG) == returned
    else:
        with pytest.raises(raised):
            conclude(event, ending, LOG)
    assert ending.calls == calls


def test_a_failed_or_errored_event_fails_the_task_with_the_triggers_message() -> None:
    with pytest.raises(CloudExecutionFailed, match="job-1 is FAILED: exit 1"):
        conclude(Failed(STATE, "job-1 is FAILED: exit 1"), Recorder(), LOG)
    with pytest.raises(AirflowException, match="bad key"):
        conclude(Errored({}, "bad key"), Recorder(), LOG)


def test_a_payload_that_is_no_event_fails_the_task_naming_it() -> None:
    with pytest.raises(AirflowException, match=r"unexpected trigger event .*'waiting'"):
        read_event({"outcome": "waiting", "state": STATE, "message": "m"})


def test_the_deferral_timeout_is_the_time_left_plus_the_margin_never_negative() -> None:
    assert defer_timeout(100.0).total_seconds() == 100.0 + DEFER_TIMEOUT_MARGIN
    assert defer_timeout(-5.0).total_seconds() == DEFER_TIMEOUT_MARGIN
