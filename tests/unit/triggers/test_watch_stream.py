"""A watcher driven in memory the way the triggerer drives it: Airflow 3.3's shared-stream manager in ack mode
(each event confirmed stored, or not, as the supervisor would), and the in-memory ``run()`` below 3.3.

The vendor side is a scripted sweeper, so these tests are about the exactly-once bookkeeping only; the
emulator-backed tests read real vendor lists."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import pytest

from airflow_provider_cloudflows.compat import HAS_ASSET_STATE_STORE
from airflow_provider_cloudflows.services.watching import (
    SETTLE_SECONDS,
    FinalStatus,
    Finished,
    Sweep,
    WatchSpec,
    WatchState,
)
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.triggers.watch_stream import STATE_KEY, WatchProducer, load_state, subscribers
from airflow_provider_cloudflows.triggers.watchers import CloudFlowExecutionsTrigger
from tests.triggerer_streams import Store, Triggerer, watched

needs_ack_mode = pytest.mark.skipif(not HAS_ASSET_STATE_STORE, reason="ack mode and the state store are Airflow 3.3+")


class ScriptedSweeper:
    """Answers the scripted sweeps in order, then the last one again and again."""

    def __init__(self, *sweeps: Sweep) -> None:
        self.sweeps = list(sweeps)
        self.count = 0
        self.log = logging.getLogger("test")

    async def sweep(self, state: WatchState) -> Sweep | None:
        self.count += 1
        return self.sweeps.pop(0) if len(self.sweeps) > 1 else self.sweeps[0]

    async def pause(self) -> None:
        await asyncio.sleep(0.01)


def done(execution_id: str, status: S = S.SUCCEEDED, *, ago: float = -5.0) -> Finished:
    """An execution that ended ``ago`` seconds ago (by default: a moment after the watch starts)."""
    return Finished(execution_id, status, status.value.title(), time.time() - ago, {"name": execution_id})


class ScriptedSpec(WatchSpec):
    """Filters taken as given; the sweeps come from the script, not from this spec."""

    name = vendor = title = "scripted"

    def normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if not params.get("flow_name"):
            raise ValueError("flow_name is required")
        return dict(params)

    def sweep(self, params: Mapping[str, Any], since: float, resume_from: float | None) -> Any:
        raise AssertionError("the scripted sweeper answers instead")


class Watcher(CloudFlowExecutionsTrigger):
    """The CloudFlow watcher with its vendor replaced by a script (set on the class: the triggerer builds the
    stream's producer from a new instance)."""

    script: ClassVar[ScriptedSweeper]

    @property
    def spec(self) -> WatchSpec:
        return ScriptedSpec()

    async def _sweeper(self) -> Any:
        return self.script


def watcher(store: Store | None, trigger_id: int = 1, **kwargs: Any) -> Watcher:
    trigger: Watcher = watched(Watcher(flow_name="etl", **kwargs), store, trigger_id)
    return trigger


@needs_ack_mode
async def test_each_finished_execution_is_one_event_and_its_state_is_committed_once_stored() -> None:
    store = Store()
    trigger = watcher(store)
    Watcher.script = ScriptedSweeper(Sweep((done("a"), done("b"))), Sweep((done("a"), done("b"), done("c"))))
    triggerer = Triggerer()
    payloads = await triggerer.run(trigger, events=3)
    assert [p["id"] for p in payloads] == ["a", "b", "c"]
    assert {p["watch"] for p in payloads} == {"alibaba_cloudflow_executions"}
    assert set(WatchState.from_json(store.values[STATE_KEY]).seen) == {"a", "b", "c"}
    await triggerer.stop(trigger)
    assert subscribers(trigger._stream_key) == []


@needs_ack_mode
async def test_an_event_airflow_did_not_confirm_is_reported_again_after_a_restart_and_a_confirmed_one_never() -> None:
    store = Store()
    first = watcher(store)
    Watcher.script = ScriptedSweeper(Sweep((done("a"), done("b"))))
    triggerer = Triggerer()
    payloads = await triggerer.run(first, events=2, confirm=[True, False])
    assert [p["id"] for p in payloads] == ["a", "b"]
    await triggerer.stop(first)  # killed before "b" was stored
    assert set(WatchState.from_json(store.values[STATE_KEY]).seen) == {"a"}

    second = watcher(store, trigger_id=2)
    Watcher.script = ScriptedSweeper(Sweep((done("a"), done("b"), done("c"))))
    triggerer = Triggerer()
    again = await triggerer.run(second, events=2)
    await asyncio.sleep(0.2)
    await triggerer.stop(second)
    assert [p["id"] for p in again] == ["b", "c"]
    assert set(WatchState.from_json(store.values[STATE_KEY]).seen) == {"a", "b", "c"}


@needs_ack_mode
async def test_what_the_status_filter_leaves_out_is_committed_as_handled() -> None:
    store = Store()
    trigger = watcher(store, statuses="failed")
    Watcher.script = ScriptedSweeper(Sweep((done("ok"), done("bad", S.FAILED), done("ok2"))))
    triggerer = Triggerer()
    payloads = await triggerer.run(trigger, events=1)
    await asyncio.sleep(0.2)
    await triggerer.stop(trigger)
    assert [(p["id"], p["status"]) for p in payloads] == [("bad", "FAILED")]
    assert set(WatchState.from_json(store.values[STATE_KEY]).seen) == {"ok", "bad", "ok2"}


@needs_ack_mode
async def test_watchers_of_the_same_list_share_one_poll_and_each_store_gets_the_state() -> None:
    stores = [Store(), Store()]
    triggers = [watcher(stores[0], trigger_id=1), watcher(stores[1], trigger_id=2)]
    Watcher.script = ScriptedSweeper(Sweep((done("a"),)))
    triggerer = Triggerer()
    got = await asyncio.gather(*(triggerer.run(t, events=1) for t in triggers))
    await asyncio.sleep(0.2)
    assert [[p["id"] for p in payloads] for payloads in got] == [["a"], ["a"]]
    assert triggers[0].shared_stream_key() == triggers[1].shared_stream_key()
    assert all("a" in WatchState.from_json(s.values[STATE_KEY]).seen for s in stores)
    await triggerer.stop(*triggers)


async def test_a_state_store_holding_something_else_starts_the_watch_from_now() -> None:
    store = Store()
    store.values[STATE_KEY] = {"horizon": "yesterday"}
    before = time.time()
    state = await load_state([store], time.time())
    assert state.horizon >= before
    assert state.seen == {}


async def test_the_producer_commits_nothing_airflow_has_not_confirmed() -> None:
    store = Store()
    producer = WatchProducer("k", "w", None, FinalStatus.ANY)
    producer.state = WatchState.starting_at(time.time())
    producer.pending = {"x": done("x")}
    producer.state = producer.state.handled([done("x"), done("y")])
    from airflow_provider_cloudflows.triggers import watch_stream

    watch_stream.subscribe("k", 1, store)
    try:
        await producer.advance([])
        assert set(WatchState.from_json(store.values[STATE_KEY]).seen) == {"y"}
    finally:
        watch_stream.unsubscribe("k", 1)


async def test_below_the_state_store_a_watch_reports_in_memory_from_its_start() -> None:
    trigger = watcher(None)
    Watcher.script = ScriptedSweeper(
        Sweep((done("before", ago=SETTLE_SECONDS + 5),)), Sweep((done("before", ago=SETTLE_SECONDS + 5), done("a")))
    )
    gen: AsyncIterator[Any] = trigger.run()
    event = await asyncio.wait_for(gen.__anext__(), 5)
    await gen.aclose()
    assert event.payload["id"] == "a"


def test_kwargs_round_trip_and_name_the_bad_parameter() -> None:
    trigger = Watcher(flow_name="etl", statuses="succeeded", poll_interval=5)
    path, kwargs = trigger.serialize()
    rebuilt = Watcher(**kwargs)
    assert path == f"{__name__}.Watcher"
    assert rebuilt.serialize() == (path, kwargs)
    assert "secret" not in str(kwargs).lower()
    with pytest.raises(ValueError, match="Watcher: statuses must be one of"):
        Watcher(flow_name="etl", statuses="done")
    with pytest.raises(ValueError, match="Watcher: poll_interval must be positive"):
        Watcher(flow_name="etl", poll_interval=0)
    with pytest.raises(ValueError, match="Watcher: flow_name is required"):
        Watcher(flow_name="")


async def test_a_watch_whose_connection_cannot_be_read_logs_it_and_tries_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_cloudflows.triggers import watch_stream

    monkeypatch.setattr(watch_stream, "MAX_BACKOFF", 0.01)
    sweeper = ScriptedSweeper(Sweep())
    calls = 0

    async def factory() -> Any:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise LookupError("The conn_id `alibabacloud_default` isn't defined")
        return sweeper

    with caplog.at_level(logging.ERROR):
        assert await watch_stream.ready_sweeper(factory) is sweeper
    assert calls == 3
    assert [r.getMessage() for r in caplog.records] == [
        f"the watch cannot read its connection (try {n}): LookupError: The conn_id `alibabacloud_default` isn't defined"
        for n in (1, 2)
    ]


class SeveralAssets(Store):
    """The state store of a trigger linked to two assets, as Airflow's accessors answer without an asset."""

    async def aget(self, key: str, default: Any = None) -> Any:
        raise ValueError("Task has 2 concrete inlets and outlets — use context['asset_state_store'][MY_ASSET]")

    async def aset(self, key: str, value: Any) -> None:
        raise ValueError("Task has 2 concrete inlets and outlets — use context['asset_state_store'][MY_ASSET]")


@needs_ack_mode
async def test_a_watch_on_several_assets_says_why_and_still_reports_from_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trigger = watcher(SeveralAssets())
    Watcher.script = ScriptedSweeper(Sweep((done("a"),)))
    triggerer = Triggerer()
    with caplog.at_level(logging.ERROR):
        payloads = await triggerer.run(trigger, events=1)
    await triggerer.stop(trigger)
    assert [p["id"] for p in payloads] == ["a"]
    assert any("give each asset's watcher distinct arguments" in r.getMessage() for r in caplog.records)
