"""The emulator enforces the quota table (limits.py) exactly, per account and API, in virtual time."""

from __future__ import annotations

import pytest

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.limits import QUOTAS, Quota, quota
from cloudflows_emulator import CloudEmulator, EmulatorServer

from .helpers import rpc_get, tc3_error, tc3_post

NAMES = {"FlowName": "flow", "ExecutionName": "exec"}


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _operations(emulator: CloudEmulator) -> list[tuple[str, str, str]]:
    conn_types = {h.vendor: h.connection.conn_type for h in emulator.handlers if h.connection is not None}
    return [
        (conn_types.get(h.vendor, h.vendor), op.service, op.action)
        for h in emulator.handlers
        for op in h.operations
        if emulator.quota(op.service, op.action) is not None
    ]


def _admitted_over(
    emulator: CloudEmulator, clock: _Clock, service: str, action: str, seconds: float, step: float
) -> int:
    admitted = 0
    end = clock.now + seconds
    while clock.now < end:
        admitted += emulator.admit(service, action)
        clock.now += step
    return admitted


def test_every_emulated_api_with_a_quota_table_row_is_limited_by_that_row() -> None:
    emulator = CloudEmulator()
    operations = _operations(emulator)
    assert len(operations) >= 20
    for vendor, service, action in operations:
        op = next(o for h in emulator.handlers for o in h.operations if (o.service, o.action) == (service, action))
        assert emulator.quota(service, action) == quota(vendor, f"{service}:{op.quota_name}"), (service, action)
    # CloudFlow's documented buckets, and the default bucket of its other APIs.
    assert emulator.quota("fnf", "StartExecution") == Quota(100, burst=100)
    assert emulator.quota("fnf", "DescribeExecution") == Quota(5, burst=50)
    assert emulator.quota("fnf", "GetExecutionHistory") == Quota(5, burst=50)
    assert emulator.quota("fnf", "StopExecution") == Quota(2, burst=10)


@pytest.mark.parametrize(
    ("vendor", "api"), [(vendor, api) for vendor, table in QUOTAS.items() for api in table if not api.endswith("*")]
)
def test_each_quota_admits_exactly_its_burst_then_its_rate(vendor: str, api: str) -> None:
    clock = _Clock()
    emulator = CloudEmulator(clock=clock)
    service, _, action = api.partition(":")
    if " " in action:  # a REST API: find the operation behind the path
        action = next(
            op.action
            for h in emulator.handlers
            for op in h.operations
            if op.service == service and op.quota_name == action
        )
    expected = QUOTAS[vendor][api]
    # All at once: the bucket's burst, or the window's rate.
    at_once = sum(emulator.admit(service, action) for _ in range(int(expected.rate) + (expected.burst or 0) + 5))
    assert at_once == (expected.burst if expected.burst is not None else int(expected.rate))
    # Then, asked 4x as fast as allowed for 10 s: the rate, whatever the shape (a window's count starts
    # once the burst's second has passed; a bucket refills from empty).
    if expected.burst is None:
        clock.now += 1.0
    admitted = _admitted_over(emulator, clock, service, action, 10.0, 1.0 / (expected.rate * 4))
    assert expected.rate * 10 - 1 <= admitted <= expected.rate * 10 + 1, (api, admitted)


def test_accounts_have_their_own_quotas_and_keys_of_one_account_share_one() -> None:
    clock = _Clock()
    emulator = CloudEmulator(clock=clock)
    emulator.add_credentials("tencent", "AKIDA1", "s1", account="a")
    emulator.add_credentials("tencent", "AKIDA2", "s2", account="a")
    emulator.add_credentials("tencent", "AKIDB1", "s3", account="b")
    accounts = [emulator.account_of("tencent", key) for key in ("AKIDA1", "AKIDA2", "AKIDB1", "unknown")]
    assert accounts == ["a", "a", "b", "default"]
    assert [emulator.admit("batch", "DescribeJob", "a") for _ in range(3)] == [True, True, False]
    assert [emulator.admit("batch", "DescribeJob", "b") for _ in range(3)] == [True, True, False]
    assert emulator.admit("batch", "DescribeJob") is True


def test_a_throttled_answer_names_the_account_quota_over_http(
    server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    other = Credentials("AKIDOTHERACCOUNT", "other-secret")
    cloud_emulator.add_credentials("tencent", other.key_id, other.secret, account="other")
    params = {"JobId": "job-abcdefgh"}
    codes = [tc3_error(tc3_post(server, "batch", "DescribeJob", params)) for _ in range(3)]
    assert codes[2] == "RequestLimitExceeded"
    # The other account's first requests within the same second are answered.
    assert tc3_error(tc3_post(server, "batch", "DescribeJob", params, creds=other)) != "RequestLimitExceeded"


def test_cloudflow_describe_execution_admits_a_burst_of_50_then_5_a_second(
    server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    statuses = [rpc_get(server, "DescribeExecution", NAMES).status_code for _ in range(52)]
    assert statuses.count(429) >= 1
    assert statuses.index(429) >= 50
    assert cloud_emulator.requests[-1].error == "Throttling.User"
