"""Event triggers driven as Airflow 3.3's triggerer runner drives them: a shared-stream manager in ack mode, each
trigger event bound to its raw event and confirmed stored (or not) as the supervisor does, and an asset state
store in memory. Used by the watcher tests at both layers."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_cloudflows.compat import HAS_ASSET_STATE_STORE


class Store:
    """An asset state store in memory (the ``aget`` / ``aset`` of Airflow's ``AssetStateStoreAccessors``)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


def watched(trigger: Any, store: Store | None, trigger_id: int = 1) -> Any:
    """``trigger`` as the triggerer hands it over: its id, and its asset's state store (Airflow 3.3+)."""
    trigger.trigger_id = trigger_id
    if HAS_ASSET_STATE_STORE:
        trigger.asset_state_store = store
    return trigger


class Triggerer:
    """One triggerer runner's shared streams; :meth:`stop` is the triggerer going away (a kill loses whatever
    was not committed)."""

    def __init__(self) -> None:
        from airflow.triggers.shared_stream import SharedStreamManager

        self.manager = SharedStreamManager(ack_timeout=30.0)
        self.running: list[asyncio.Task[None]] = []

    async def run(
        self, trigger: Any, *, events: int, confirm: bool | list[bool] = True, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Run ``trigger`` until ``events`` events came, confirming each stored (``confirm``: all, none, or per
        event); the runner then goes on pulling (which closes the last event's binding) until :meth:`stop`."""
        key = trigger.shared_stream_key()
        assert key is not None, "not a shared stream: no asset state store?"
        payloads: list[dict[str, Any]] = []
        enough = asyncio.Event()
        stream = trigger.filter_shared_stream(
            self.manager.subscribe(trigger_id=trigger.trigger_id, trigger=trigger, key=key)
        )

        async def consume() -> None:
            async for event in stream:
                seq = self.manager.bind_pending_event(trigger_id=trigger.trigger_id, key=key)
                payloads.append(event.payload)
                store_it = confirm if isinstance(confirm, bool) else confirm[len(payloads) - 1]
                if store_it and seq is not None:
                    self.manager.confirm_persisted([seq])
                if len(payloads) >= events:
                    enough.set()

        self.running.append(asyncio.create_task(consume()))
        await asyncio.wait_for(enough.wait(), timeout)
        await asyncio.sleep(0.2)  # the advances of the confirmed events run
        return payloads

    async def stop(self, *triggers: Any) -> None:
        for task in self.running:
            task.cancel()
        self.running.clear()
        await self.manager.stop_all()
        for trigger in triggers:
            await trigger.cleanup()
