"""The example DAG's asset watchers against the emulator, run as the triggerer runs them: rebuilt from the
kwargs the DAG processor stored, through Airflow 3.3's shared-stream manager in ack mode with the asset's state
store, or through ``run()`` in memory below 3.3.

The executions' scripts advance with the emulator's clock (``advance()``); the watchers poll every 0.2 s."""

from __future__ import annotations

import asyncio
import collections
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cloudflows.compat import HAS_ASSET_STATE_STORE
from airflow_provider_cloudflows.services.watching import WatchState
from airflow_provider_cloudflows.triggers.watch_stream import STATE_KEY
from cloudflows_emulator import CloudEmulator, cloudflow_execution
from cloudflows_emulator.tencent import plan_batch_job, submit_batch_job
from tests.helpers import dagbag_class
from tests.triggerer_streams import Store, Triggerer, watched

pytestmark = pytest.mark.usefixtures("connected_emulator")

EXAMPLE = Path(__file__).resolve().parents[3] / "example_dags" / "example_asset_watchers.py"
POLL = 0.2


def example_triggers() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each watched asset's trigger in the example DAG file, as classpath and kwargs (what Airflow stores)."""
    spec = importlib.util.spec_from_file_location("example_asset_watchers", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        asset.uri: watcher.trigger.serialize()
        for asset in (module.cloudflow_succeeded, module.batch_failed)
        for watcher in asset.watchers
    }


def rebuilt(classpath: str, kwargs: dict[str, Any]) -> Any:
    """The trigger as the triggerer builds it from its row, polling fast for the test."""
    module, _, name = classpath.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    return cls(**{**kwargs, "poll_interval": POLL})


async def collect(trigger: Any, events: int, store: Store) -> list[dict[str, Any]]:
    """The payloads of the first ``events`` events, as a triggerer of this Airflow version gets them."""
    if HAS_ASSET_STATE_STORE:
        triggerer = Triggerer()
        try:
            return await triggerer.run(watched(trigger, store), events=events)
        finally:
            await triggerer.stop(trigger)
    payloads = []
    run: AsyncIterator[Any] = trigger.run()
    try:
        async with asyncio.timeout(30):
            while len(payloads) < events:
                payloads.append((await run.__anext__()).payload)
    finally:
        await run.aclose()
    return payloads


def test_the_example_dags_schedule_on_two_watched_assets_whose_triggers_rebuild_from_their_kwargs() -> None:
    bag = dagbag_class()(str(EXAMPLE))
    assert not bag.import_errors, bag.import_errors
    assert sorted(bag.dags) == ["example_batch_job_failed", "example_cloudflow_finished"]
    triggers = example_triggers()
    assert sorted(triggers) == ["cloudflow://nightly_etl/succeeded", "tencent-batch://nightly-report/failed"]
    for classpath, kwargs in triggers.values():
        assert rebuilt(classpath, kwargs).serialize()[1] == {**kwargs, "poll_interval": POLL}


async def test_each_succeeded_cloudflow_execution_of_the_flow_is_one_event_with_its_output(
    cloud_emulator: CloudEmulator,
) -> None:
    trigger = rebuilt(*example_triggers()["cloudflow://nightly_etl/succeeded"])
    for n in range(3):
        cloud_emulator.add_execution(
            cloudflow_execution("nightly_etl", f"run_{n}", [(0, "Running"), (1 + n, "Succeeded")], output={"rows": n})
        )
    cloud_emulator.add_execution(
        cloudflow_execution("nightly_etl", "broken", [(0, "Running"), (1, "Failed")], error="E", cause="c")
    )
    cloud_emulator.add_execution(cloudflow_execution("other_flow", "run_0", [(0, "Running"), (1, "Succeeded")]))
    store = Store()
    task = asyncio.create_task(collect(trigger, 3, store))
    await asyncio.sleep(1.0)  # the first sweeps see them running
    cloud_emulator.advance(5)
    payloads = await task
    assert [(p["id"], p["status"], p["output"]) for p in payloads] == [
        ("run_0", "SUCCEEDED", {"rows": 0}),
        ("run_1", "SUCCEEDED", {"rows": 1}),
        ("run_2", "SUCCEEDED", {"rows": 2}),
    ]
    assert {p["flow_name"] for p in payloads} == {"nightly_etl"}
    if HAS_ASSET_STATE_STORE:
        # The failed one was filtered out, and committed as handled with the others.
        seen = WatchState.from_json(store.values[STATE_KEY]).seen
        assert {"run_0", "run_1", "run_2", "broken"} <= set(seen)


async def test_each_failed_batch_job_of_the_name_is_one_alert_event(cloud_emulator: CloudEmulator) -> None:
    trigger = rebuilt(*example_triggers()["tencent-batch://nightly-report/failed"])
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (2, "FAILED")]}, job_name="nightly-report")
    failed = [submit_batch_job(cloud_emulator, "nightly-report") for _ in range(2)]
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (2, "SUCCEED")]}, job_name="nightly-report-ok")
    submit_batch_job(cloud_emulator, "nightly-report-ok")
    store = Store()
    task = asyncio.create_task(collect(trigger, 2, store))
    await asyncio.sleep(1.0)
    cloud_emulator.advance(5)
    payloads = await task
    assert sorted(p["id"] for p in payloads) == sorted(failed)
    assert {(p["status"], p["job_name"]) for p in payloads} == {("FAILED", "nightly-report")}
    assert collections.Counter(p["id"] for p in payloads).most_common(1)[0][1] == 1
