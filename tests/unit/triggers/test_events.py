"""The trigger events in memory: each kind survives the JSON trip that Airflow gives it, and nothing else reads
as an event."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from airflow_provider_cloudflows.triggers.events import (
    Errored,
    EventPayloadError,
    Failed,
    MemoryChanged,
    Succeeded,
    TimedOut,
    WaitEvent,
    event_from_payload,
)

STATE = {"service": "tencent_batch_job", "identifiers": {"job_id": "job-1"}, "status": "SUCCEEDED", "progress": 1.0}

EVENTS: list[WaitEvent] = [
    Succeeded(state=STATE, message="Tencent Batch job job_id=job-1 is SUCCEEDED [RequestId: r-1]"),
    Failed(state={**STATE, "status": "FAILED", "reason": "exit 137"}, message="job-1 is FAILED: exit 137"),
    TimedOut(state=STATE, message="job-1 did not finish within the sensor's timeout (60s)"),
    TimedOut(state=None, message="job-1 did not finish within the operator's timeout (60s)"),
    Errored(error={"error_type": "AuthFailure", "code": "AuthFailure.SignatureFailure"}, message="job-1: bad key"),
    MemoryChanged(memory={"seen_at": 1.5}, deadline=1_900_000_000.25, timeout=3600.0, message="memory changed"),
    MemoryChanged(memory={}, deadline=None, timeout=None, message="memory changed"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_its_json_payload(event: WaitEvent) -> None:
    payload = json.loads(json.dumps(event.to_payload(), allow_nan=False))
    assert event_from_payload(payload) == event


@pytest.mark.parametrize(
    ("event", "kind"),
    list(zip([EVENTS[i] for i in (0, 1, 2, 4, 5)], ["success", "failure", "timeout", "error", "memory"], strict=True)),
)
def test_the_payload_names_its_kind_under_outcome(event: WaitEvent, kind: str) -> None:
    assert event.to_payload()["outcome"] == kind


def test_a_payload_without_a_message_reads_as_its_own_text() -> None:
    payload = {"outcome": "memory", "memory": {"seen_at": 1.0}, "deadline": 5}
    event = event_from_payload(payload)
    assert event == MemoryChanged(memory={"seen_at": 1.0}, deadline=5.0, timeout=None, message=str(payload))


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ({"outcome": "waiting", "state": STATE, "message": "m"}, "unknown trigger event kind 'waiting'"),
        ({"state": STATE, "message": "m"}, "unknown trigger event kind None"),
        (["success", STATE], "payload is a dict"),
        ({"outcome": "success", "message": "m"}, "'state' must be a dict"),
        ({"outcome": "failure", "state": "FAILED", "message": "m"}, "'state' must be a dict"),
        ({"outcome": "timeout", "state": [1], "message": "m"}, "'state' must be a dict"),
        ({"outcome": "error", "message": "m"}, "'error' must be a dict"),
        ({"outcome": "memory", "memory": "x", "deadline": 5.0}, "'memory' must be a dict"),
        ({"outcome": "memory", "memory": {}, "deadline": "soon"}, "'deadline' must be a number"),
        ({"outcome": "memory", "memory": {}, "deadline": True}, "'deadline' must be a number"),
        ({"outcome": "memory", "memory": {}, "deadline": 5.0, "timeout": "1h"}, "'timeout' must be a number"),
        ({"outcome": "success", "state": STATE, "message": 42}, "'message' must be text"),
    ],
)
def test_an_unknown_or_malformed_payload_is_refused_saying_why(payload: Any, complaint: str) -> None:
    with pytest.raises(EventPayloadError, match=re.escape(complaint)):
        event_from_payload(payload)
