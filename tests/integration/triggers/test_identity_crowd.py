"""Many deferred waits on one role, as a triggerer runs them: triggers rebuilt from their serialized kwargs,
all on one event loop, sharing the process's one cache of the role's key.

A thousand waits cost one STS call per key lifetime; an STS that fails keeps every wait polling on the key
it has until that key expires, and through the outage that follows, until STS answers again.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from cloudflows_emulator import CloudEmulator, cynosdb_flow
from cloudflows_emulator.server import EmulatorServer
from cloudflows_emulator.tencent import PROCESSING, SUCCEEDED
from tests.identity_sources import identity_connection

CONN = "identity_crowd"


def rebuilt(flow_id: int, deadline: float, poll_interval: float) -> CloudExecutionTrigger:
    """A trigger as the triggerer gets it: built, serialized, rebuilt from the kwargs."""
    trigger = CloudExecutionTrigger(
        service="tencent_cynosdb_flow",
        identifiers={"flow_id": flow_id},
        conn_id=CONN,
        deadline=deadline,
        poll_interval=poll_interval,
    )
    path, kwargs = trigger.serialize()
    assert path.endswith("CloudExecutionTrigger") and "secret" not in str(kwargs).lower()
    return CloudExecutionTrigger(**kwargs)


async def first_event(trigger: CloudExecutionTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        payload: dict[str, Any] = event.payload
        return payload
    raise AssertionError("the trigger ended without an event")


@pytest.fixture
def role(cloud_emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    identity_connection("tencent", "role", CONN, cloud_emulator_server, monkeypatch, tmp_path)


@pytest.mark.usefixtures("role")
async def test_a_thousand_deferred_waits_on_one_role_cost_one_sts_call_per_lifetime(
    cloud_emulator: CloudEmulator,
) -> None:
    lifetime, run_for = 2.0, 7.0
    cloud_emulator.set_identity_lifetime(lifetime)
    cloud_emulator.add_executions(cynosdb_flow(9000 + i, [(0, PROCESSING)]) for i in range(1000))
    started = time.time()
    waits = [
        asyncio.ensure_future(first_event(rebuilt(9000 + i, started + 120, poll_interval=1.0))) for i in range(1000)
    ]
    # Counted from the first poll on: building a thousand triggers (a connection read each) takes a while.
    for _ in range(600):
        if cloud_emulator.count("cynosdb", "DescribeFlow"):
            break
        await asyncio.sleep(0.1)
    keys_before = cloud_emulator.count("sts", "AssumeRole", ok=True)
    polls_before = cloud_emulator.count("cynosdb", "DescribeFlow", ok=True)
    await asyncio.sleep(run_for)
    ended = [w for w in waits if w.done()]
    keys = cloud_emulator.count("sts", "AssumeRole", ok=True) - keys_before
    polls = cloud_emulator.count("cynosdb", "DescribeFlow", ok=True) - polls_before
    for wait in waits:
        wait.cancel()
    await asyncio.gather(*waits, return_exceptions=True)

    assert ended == []  # no wait failed (their executions never end)
    # DescribeFlow's documented 20/s (a lone process starts at a fraction of it) spaces the polls of one
    # account: the quota, not the key, limits them; every lifetime saw polls.
    assert polls >= 20, polls
    assert cloud_emulator.count("cynosdb", ok=False) == 0
    # A key every 85% of a lifetime (Tencent's whole-second ExpiredTime may shorten one), not per wait.
    assert cloud_emulator.count("sts", "AssumeRole", ok=True) == cloud_emulator.issued("tencent")
    assert math.floor(run_for / lifetime) - 1 <= keys <= math.ceil(run_for / (0.5 * lifetime)) + 1, keys


@pytest.mark.usefixtures("role")
async def test_a_failing_sts_keeps_waits_on_their_key_until_it_expires_and_through_the_outage(
    cloud_emulator: CloudEmulator,
) -> None:
    lifetime = 3.0
    cloud_emulator.set_identity_lifetime(lifetime)
    cloud_emulator.add_executions(cynosdb_flow(9100 + i, [(0, PROCESSING), (6.0, SUCCEEDED)]) for i in range(20))
    started = time.time()
    waits = [asyncio.ensure_future(first_event(rebuilt(9100 + i, started + 60, 0.5))) for i in range(20)]
    for _ in range(200):  # the first key, within 10 s
        if cloud_emulator.issued("tencent"):
            break
        await asyncio.sleep(0.05)
    # STS fails from now on: the first refresh (at 85% of the key's life) and its retries.
    cloud_emulator.inject("internal_error", service="sts", action="AssumeRole", count=None)
    expiry = time.time() + lifetime
    await asyncio.sleep(max(0.0, expiry - time.time()) + 1.5)
    failed_refreshes = cloud_emulator.count("sts", "AssumeRole", ok=False)
    cloud_emulator.clear_faults()
    events = await asyncio.wait_for(asyncio.gather(*waits), 30)

    assert [e["outcome"] for e in events] == ["success"] * 20, events
    assert failed_refreshes >= 2
    served = [r for r in cloud_emulator.requests if r.service == "cynosdb" and r.error is None]
    # Polls kept being answered after the first refresh failed, on the key in use, until it expired.
    first_failure = min(r.time for r in cloud_emulator.requests if r.service == "sts" and r.fault is not None)
    assert any(first_failure < r.time < expiry - 0.1 for r in served)
    # No key was used past its expiry for long: the vendor refused at most a few polls as expired.
    assert cloud_emulator.count("cynosdb", error="AuthFailure.TokenFailure") <= 20


@pytest.mark.usefixtures("role")
async def test_rate_limits_and_shared_waits_key_on_the_role_not_on_the_rotating_key_id(
    cloud_emulator: CloudEmulator,
) -> None:
    from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
    from airflow_provider_cloudflows.transport.tencent import TencentCall
    from airflow_provider_cloudflows.triggers.execution import COALESCER
    from airflow_provider_cloudflows.waiting import Wait

    cloud_emulator.set_identity_lifetime(1.0)
    cloud_emulator.add_execution(cynosdb_flow(9200, [(0, PROCESSING)]))
    client = await TencentCloudHook(tencentcloud_conn_id=CONN).aget_conn()
    call = TencentCall("cynosdb", "DescribeFlow", "2019-01-07", {"FlowId": 9200})
    wait = Wait("tencent_cynosdb_flow", {"flow_id": 9200})
    seen: list[tuple[str, Any, Any]] = []
    for _ in range(3):
        await client.acall(call)
        seen.append((client.api.credentials.key_id, client.api.rate_limit(call)[0], COALESCER.key(wait, client)))
        await asyncio.sleep(1.0)
    key_ids, limiter_keys, shared_keys = zip(*seen, strict=True)
    assert len(set(key_ids)) == 3  # a new key each lifetime...
    assert len(set(limiter_keys)) == 1 and len(set(shared_keys)) == 1  # ...one account throughout
    assert "qcs::cam::uin/100000000001:roleName/airflow" in limiter_keys[0]
