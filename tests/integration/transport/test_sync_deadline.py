"""The deadline bounds the whole HTTP exchange of a synchronous call (worker path), as it does in the triggerer.

Real HTTP against the emulator. Margins hold with twice as many busy processes as cores: a call must end
within ``LATE`` of its deadline, and not before it while the server is still sending.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_cloudflows.actions.base import Write
from airflow_provider_cloudflows.actions.driver import send_write
from airflow_provider_cloudflows.errors import CloudApiError, TransportError, WriteOutcomeUnknown
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.retry import DEADLINE_EXCEEDED
from airflow_provider_cloudflows.transport.tencent import TencentApi, TencentCall
from cloudflows_emulator import (
    DEFAULT_TENCENT_CREDENTIALS,
    CloudEmulator,
    EmulatorServer,
    cynosdb_flow,
)
from cloudflows_emulator.tencent import plan_cynosdb_flow

# How late a call may end after its deadline (the bug cut a 1.5 s trickle 1 s late, a 19 s one 18 s late).
LATE = 0.6
# How early a cut-off may come: the deadline is wall-clock, socket timeouts are monotonic.
EARLY = 0.05
DESCRIBE = TencentCall("cynosdb", "DescribeFlow", "2019-01-07", {"FlowId": 1})
PAUSE = TencentCall("cynosdb", "PauseServerless", "2019-01-07", {"ClusterId": "cynosdbmysql-1"})


@pytest.fixture
def client(cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator) -> CloudClient[Any]:
    cloud_emulator.add_execution(cynosdb_flow(1))
    plan_cynosdb_flow(cloud_emulator, [(0, 2), (60, 0)])
    api = TencentApi(DEFAULT_TENCENT_CREDENTIALS, region="ap-guangzhou", endpoint=cloud_emulator_server.url)
    # The default policy: five attempts, so retries must not carry the call past its deadline either.
    return CloudClient(api)


def _timed(send: Any, deadline: float) -> tuple[BaseException, float]:
    """Run ``send``, which must fail; the error and how late (seconds after ``deadline``) it ended."""
    with pytest.raises(CloudApiError) as caught:
        send()
    return caught.value, time.time() - deadline


def _assert_cut_at_deadline(error: BaseException, late: float) -> None:
    assert -EARLY <= late < LATE, late
    assert isinstance(error, TransportError), repr(error)
    assert error.code == DEADLINE_EXCEEDED, error
    assert "deadline" in str(error)


@pytest.mark.parametrize("interval", [1.5, 1.9])
def test_a_trickled_answer_is_cut_off_at_the_deadline(
    client: CloudClient[Any], cloud_emulator: CloudEmulator, interval: float
) -> None:
    cloud_emulator.inject("trickle", service="cynosdb", action="DescribeFlow", interval=interval, count=1)
    deadline = time.time() + 2.0
    error, late = _timed(lambda: client.call(DESCRIBE, deadline=deadline), deadline)
    _assert_cut_at_deadline(error, late)
    assert cloud_emulator.count(action="DescribeFlow") == 1


def test_an_unanswered_request_ends_at_the_deadline_with_the_deadline_error(
    client: CloudClient[Any], cloud_emulator: CloudEmulator
) -> None:
    cloud_emulator.inject("hang", service="cynosdb", action="DescribeFlow", count=1)
    deadline = time.time() + 2.0
    error, late = _timed(lambda: client.call(DESCRIBE, deadline=deadline), deadline)
    _assert_cut_at_deadline(error, late)


@pytest.mark.parametrize("idempotent", [False, True])
@pytest.mark.parametrize("fault", ["trickle", "hang"])
def test_a_write_whose_answer_is_late_ends_at_the_deadline_and_is_not_sent_again(
    client: CloudClient[Any], cloud_emulator: CloudEmulator, fault: str, idempotent: bool
) -> None:
    cloud_emulator.inject(fault, service="cynosdb", action="PauseServerless", interval=1.5, count=1)
    deadline = time.time() + 2.0
    write = Write(PAUSE, idempotent=idempotent)
    error, late = _timed(lambda: send_write(client, write, deadline=deadline), deadline)
    assert -EARLY <= late < LATE, late
    # Whether the vendor applied it is unknown (the driver's error says so), and the deadline is why.
    assert isinstance(error, (WriteOutcomeUnknown if not idempotent else (TransportError, WriteOutcomeUnknown))), error
    assert getattr(error, "code", None) == DEADLINE_EXCEEDED, error
    # No time was left for another attempt, even of a write that may be repeated.
    assert cloud_emulator.count(action="PauseServerless") == 1


def test_a_slow_answer_that_ends_in_time_is_read_whole(client: CloudClient[Any], cloud_emulator: CloudEmulator) -> None:
    # Every read is bounded by the time left, not cut short: a body trickled well within the deadline arrives.
    cloud_emulator.inject("trickle", service="cynosdb", action="DescribeFlow", interval=0.005, count=1)
    deadline = time.time() + 30.0
    response = client.call(DESCRIBE, deadline=deadline)
    assert response.body["Status"] == 2
    assert time.time() < deadline


def test_a_normal_call_is_unaffected_by_its_deadline(client: CloudClient[Any], cloud_emulator: CloudEmulator) -> None:
    for deadline in (None, time.time() + 2.0, time.time() + 3600.0):
        started = time.monotonic()
        assert client.call(DESCRIBE, deadline=deadline).body["Status"] == 2
        assert time.monotonic() - started < 1.0
    assert client.call(PAUSE, deadline=time.time() + 2.0).body["FlowId"]


def test_the_next_call_after_a_cut_off_is_served_at_once(
    client: CloudClient[Any], cloud_emulator: CloudEmulator
) -> None:
    cloud_emulator.inject("trickle", service="cynosdb", action="DescribeFlow", interval=1.5, count=1)
    with pytest.raises(TransportError):
        client.call(DESCRIBE, deadline=time.time() + 1.0)
    started = time.monotonic()
    assert client.call(DESCRIBE, deadline=time.time() + 5.0).body["Status"] == 2
    assert time.monotonic() - started < 1.0
