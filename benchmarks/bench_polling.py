"""Benchmarks, printed side by side with a baseline run in the same process against the emulator.

1. CloudFlow long polling vs plain polling: requests per wait and how late the end is seen.
2. The shared httpx pool vs a new client per poll (the common anti-pattern): wall time and clients built for
   many concurrent waits.

Run: ``.venv/bin/python benchmarks/bench_polling.py`` (about 30 s); ``--write`` puts the output into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cloudflows-bench-"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import httpx
from results import add_write_option, recording

from airflow_provider_cloudflows.limits import QUOTAS
from airflow_provider_cloudflows.transport.pool import POOL
from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger
from airflow_provider_cloudflows.waiting import Wait
from cloudflows_emulator import CloudEmulator, cloudflow_execution, cynosdb_flow
from cloudflows_emulator.server import EmulatorServer


class PlainPollingTrigger(CloudExecutionTrigger):
    """Baseline: the same trigger with long polling switched off."""

    def _long_poll_seconds(self, wait: Wait) -> float:
        return 0.0


async def _one_event(trigger: CloudExecutionTrigger) -> dict[str, Any]:
    events = [e.payload async for e in trigger.run()]
    return events[0]  # type: ignore[no-any-return]


async def long_polling(emulator: CloudEmulator, ends_after: float, interval: float) -> None:
    print(f"\n1. CloudFlow execution ending {ends_after:.0f}s after the wait starts; poll_interval {interval:.0f}s")
    print(f"   {'mode':<14}{'requests':>10}{'end seen late by':>20}")
    rows = {}
    for name, cls in (("plain polling", PlainPollingTrigger), ("long polling", CloudExecutionTrigger)):
        emulator.reset()
        emulator.add_execution(cloudflow_execution("bench", "run1", [(0, "Running"), (ends_after, "Succeeded")]))
        trigger = cls(
            service="alibaba_cloudflow_execution",
            identifiers={"flow_name": "bench", "execution_name": "run1"},
            conn_id="alibabacloud_default",
            deadline=time.time() + 120,
            poll_interval=interval,
        )
        started = time.monotonic()
        event = await _one_event(trigger)
        late = time.monotonic() - started - ends_after
        requests = emulator.count("fnf", "DescribeExecution")
        assert event["outcome"] == "success", event
        rows[name] = (requests, late)
        print(f"   {name:<14}{requests:>10}{late:>19.2f}s")
    (base_req, base_late), (lp_req, lp_late) = rows["plain polling"], rows["long polling"]
    print(f"   ratio (plain/long): {base_req / lp_req:.1f}x requests, {base_late / max(lp_late, 1e-3):.1f}x latency")


async def pooling(emulator: CloudEmulator, waits: int, polls: int) -> None:
    print(f"\n2. {waits} concurrent CynosDB waits, ~{polls} polls each (poll_interval 0.1s)")
    print(f"   {'client strategy':<24}{'wall time':>10}{'clients built':>15}{'requests':>10}{'per request':>14}")
    original = POOL.async_lane
    # Measure the client strategy, not the throttling: lift the documented limit here and in the emulator.
    QUOTAS["tencentcloud"].pop("cynosdb:DescribeFlow", None)
    rows = {}
    for name in ("new client per poll", "shared pool"):
        emulator.reset()
        emulator.set_rate_limit("cynosdb", "DescribeFlow", None)
        for flow in range(waits):
            emulator.add_execution(cynosdb_flow(flow, statuses=[(0, 2), (polls * 0.1, 0)]))
        built: list[httpx.AsyncClient] = []
        if name == "new client per poll":

            def per_poll(*, long_poll: bool) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
                # What a naive trigger does: a fresh client (and TCP connection) for every request.
                fresh = httpx.AsyncClient()
                built.append(fresh)
                return fresh, asyncio.Semaphore(100)

            POOL.async_lane = per_poll  # type: ignore[method-assign]
        before = POOL.clients_built
        started = time.monotonic()
        triggers = [
            CloudExecutionTrigger(
                service="tencent_cynosdb_flow",
                identifiers={"flow_id": flow},
                conn_id="tencentcloud_default",
                deadline=time.time() + 120,
                poll_interval=0.1,
            )
            for flow in range(waits)
        ]
        events = await asyncio.gather(*(_one_event(t) for t in triggers))
        elapsed = time.monotonic() - started
        POOL.async_lane = original  # type: ignore[method-assign]
        for fresh in built:
            await fresh.aclose()
        assert all(e["outcome"] == "success" for e in events)
        # The shared pool's one client may already exist from part 1: it is reused, not rebuilt.
        clients = len(built) if built else max(1, POOL.clients_built - before)
        requests = emulator.count("cynosdb")
        rows[name] = elapsed / requests
        print(f"   {name:<24}{elapsed:>9.2f}s{clients:>15}{requests:>10}{1000 * elapsed / requests:>12.2f}ms")
    print(f"   ratio (per poll / shared): {rows['new client per poll'] / rows['shared pool']:.1f}x time per request")


async def main() -> None:
    with EmulatorServer() as server:
        for name, value in server.airflow_connections().items():
            conn = json.loads(value)
            conn["extra"]["initial_backoff"] = 0.05
            os.environ[name] = json.dumps(conn)
        await long_polling(server.emulator, ends_after=8.0, interval=3.0)
        await pooling(server.emulator, waits=50, polls=20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_write_option(parser)
    with recording("bench_polling", parser.parse_args().write):
        asyncio.run(main())
