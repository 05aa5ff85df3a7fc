"""The vendor-neutral core: timelines, the clock start, advance, rate windows, credentials, faults, log."""

from __future__ import annotations

import asyncio

import pytest

from cloudflows_emulator import CloudEmulator, EmulatorServer, Execution, cynosdb_flow
from cloudflows_emulator.core.accounts import CredentialCheck

from .helpers import tc3_post, tc3_response


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> CloudEmulator:
    return CloudEmulator(clock=clock)


def _status(emulator: CloudEmulator, flow_id: int) -> int:
    view = emulator.observe("cynosdb", (str(flow_id),))
    assert view is not None
    status: int = view.payload["Status"]
    return status


def test_timeline_starts_at_first_read(emulator: CloudEmulator, clock: FakeClock) -> None:
    emulator.add_execution(cynosdb_flow(1, [(0, 2), (3, 0)]))
    clock.now += 100  # setup time does not count
    assert _status(emulator, 1) == 2
    clock.now += 2.9
    assert _status(emulator, 1) == 2
    clock.now += 0.1
    assert _status(emulator, 1) == 0


def test_start_immediately(emulator: CloudEmulator, clock: FakeClock) -> None:
    emulator.add_execution(cynosdb_flow(1, [(0, 2), (3, 0)], start_immediately=True))
    clock.now += 3
    assert _status(emulator, 1) == 0


def test_first_step_applies_from_zero_and_last_of_equal_offsets_wins(emulator: CloudEmulator) -> None:
    execution = Execution("svc", ("k",), [(2.0, {"s": "b"}), (1.0, {"s": "a"}), (2.0, {"s": "c"})])
    assert execution.payload_at(0.0) == {"s": "a"}
    assert execution.payload_at(2.0) == {"s": "c"}
    assert execution.next_change_after(1.0) == 2.0
    assert execution.next_change_after(2.0) is None


def test_payloads_are_copies(emulator: CloudEmulator) -> None:
    emulator.add_execution(cynosdb_flow(1))
    view = emulator.observe("cynosdb", ("1",))
    assert view is not None
    view.payload["Status"] = 99
    assert _status(emulator, 1) == 2


def test_advance(emulator: CloudEmulator) -> None:
    emulator.add_execution(cynosdb_flow(1, [(0, 2), (30, 1)]))
    emulator.advance(30)
    assert _status(emulator, 1) == 1


def test_invalid_timelines() -> None:
    with pytest.raises(ValueError, match="empty"):
        Execution("svc", ("k",), [])
    with pytest.raises(ValueError, match="non-negative"):
        Execution("svc", ("k",), [(-1, {})])


def test_sliding_window(emulator: CloudEmulator, clock: FakeClock) -> None:
    assert [emulator.admit("batch", "DescribeTask") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.999
    assert not emulator.admit("batch", "DescribeTask")
    clock.now += 0.002
    assert emulator.admit("batch", "DescribeTask")
    # Other operations have their own windows; undocumented ones are unlimited.
    assert all(emulator.admit("unknown", "Action") for _ in range(1000))


def test_rate_limits_from_constructor_survive_reset(clock: FakeClock) -> None:
    emulator = CloudEmulator(clock=clock, rate_limits={("batch", "DescribeTask"): 1})
    emulator.set_rate_limit("batch", "DescribeTask", 10)
    emulator.reset(settings=True)
    assert emulator.rate_limit("batch", "DescribeTask") == 1


def test_credentials_and_tokens(emulator: CloudEmulator) -> None:
    assert emulator.check_credentials("tencent", "AKIDEMULATOR00000000000000000000", None) is CredentialCheck.OK
    assert emulator.check_credentials("tencent", "nope", None) is CredentialCheck.UNKNOWN_KEY
    emulator.add_credentials("alibaba", "STS.A", "s", token="t1")
    assert emulator.check_credentials("alibaba", "STS.A", "t1") is CredentialCheck.OK
    assert emulator.check_credentials("alibaba", "STS.A", "t2") is CredentialCheck.BAD_TOKEN
    assert emulator.check_credentials("alibaba", "STS.A", None) is CredentialCheck.BAD_TOKEN
    # Vendors can be named by their Airflow connection type; unknown vendors are refused.
    emulator.add_credentials("tencentcloud", "AKIDX", "x")
    assert emulator.secret_for("tencent", "AKIDX") == "x"
    with pytest.raises(ValueError, match="unknown vendor"):
        emulator.add_credentials("aws", "AKIA", "x")
    emulator.reset()
    assert emulator.secret_for("alibaba", "STS.A") == "s"
    emulator.reset(settings=True)
    assert emulator.secret_for("alibaba", "STS.A") is None


def test_custom_default_credentials(clock: FakeClock) -> None:
    from airflow_provider_cloudflows.credentials import Credentials

    emulator = CloudEmulator(clock=clock, credentials={"tencent": [Credentials("AKIDMINE", "mine")]})
    assert emulator.secret_for("tencent", "AKIDEMULATOR00000000000000000000") is None
    assert emulator.credentials("tencent") == Credentials("AKIDMINE", "mine")


def test_nonces_expire(emulator: CloudEmulator, clock: FakeClock) -> None:
    assert emulator.use_nonce("alibaba", "k", "n", ttl=900)
    assert not emulator.use_nonce("alibaba", "k", "n", ttl=900)
    clock.now += 901
    assert emulator.use_nonce("alibaba", "k", "n", ttl=900)


def test_fault_validation(emulator: CloudEmulator) -> None:
    with pytest.raises(ValueError, match="delay"):
        emulator.inject("slow")
    with pytest.raises(ValueError, match="explode"):
        emulator.inject("explode")
    with pytest.raises(ValueError, match="count"):
        emulator.inject("throttle", count=0)


def test_wait_for_wakes_at_the_step() -> None:
    emulator = CloudEmulator()
    emulator.add_execution(cynosdb_flow(1, [(0, 2), (0.2, 0)]))

    async def scenario() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        view = await emulator.wait_for("cynosdb", ("1",), lambda p: p["Status"] == 0, timeout=5)
        assert view is not None
        return loop.time() - started, view.payload["Status"]

    elapsed, status = asyncio.run(scenario())
    assert status == 0
    assert 0.19 <= elapsed < 0.3


def test_request_log_over_http(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(5))
    assert tc3_response(tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 5}))["Status"] == 2
    tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 6})
    first, second = cloud_emulator.requests
    assert (first.vendor, first.service, first.action, first.key, first.status, first.error) == (
        "tencent",
        "cynosdb",
        "DescribeFlow",
        ("5",),
        200,
        None,
    )
    assert second.error == "InvalidParameterValue.FlowNotFound"
    assert cloud_emulator.count() == 2
    assert cloud_emulator.count("cynosdb", ok=False) == 1
    assert cloud_emulator.count("emr") == 0
    cloud_emulator.reset()
    assert cloud_emulator.requests == []
    assert cloud_emulator.executions == []
