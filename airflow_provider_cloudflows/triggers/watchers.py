"""Asset watchers: a DAG scheduled on cloud executions that finished, one asset event per execution.

``Asset("...", watchers=[AssetWatcher(name="...", trigger=CloudFlowExecutionsTrigger(flow_name="etl"))])``
makes Airflow run this trigger in its triggerer for as long as the asset is watched; every execution of the
watched list that finishes (with a final status the ``statuses`` filter admits) becomes one event, whose payload
the triggered DAG run reads from ``triggering_asset_events`` (``event.extra["payload"]``): ``watch``, ``id``,
``status`` (normalized: SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, BLOCKED), ``vendor_status``, ``finished_at``
(epoch seconds) and the vendor's details (see each class).

Each execution is reported once: on Airflow 3.3+ across triggerer restarts too, its state committed to the
asset's state store only after Airflow stored the event (:mod:`.watch_stream` says how, and the one window
where it may repeat); below 3.3 from the time the watch starts, in memory. Only executions that finish after
the watch first starts are reported. The polls go through the connection's shared client, so they count
against the same per-account quotas as the waits and are spaced by the same limiter.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Hashable, Mapping
from typing import Any, ClassVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_cloudflows.compat import HAS_ASSET_STATE_STORE
from airflow_provider_cloudflows.hooks import build_hook
from airflow_provider_cloudflows.registry import get_watch
from airflow_provider_cloudflows.services.watching import FinalStatus, WatchSpec
from airflow_provider_cloudflows.triggers.watch_stream import (
    Sweeper,
    WatchProducer,
    follow_in_memory,
    subscribe,
    unsubscribe,
)

__all__ = ["BatchJobsTrigger", "CloudFlowExecutionsTrigger", "DwsSnapshotsTrigger", "FinishedExecutionsTrigger"]


class FinishedExecutionsTrigger(BaseEventTrigger):
    """Report each execution of a vendor list that finishes (see the module docstring).

    Subclasses declare ``watch`` (a registered watch spec) and take the spec's filters as keyword arguments;
    the kwargs Airflow stores are those keywords (no secret: credentials are read from the connection).
    """

    watch: ClassVar[str]
    # The keyword naming the connection, the spec's filters, and the per-watch connection overrides.
    conn_id_param: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    override_names: ClassVar[tuple[str, ...]] = ("region",)

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        super().__init__()
        self._kwargs = dict(kwargs)
        poll_interval = kwargs["poll_interval"]
        if not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
            raise ValueError(f"{type(self).__name__}: poll_interval must be positive, got {poll_interval!r}")
        try:
            self.params = self.spec.normalize({name: kwargs[name] for name in self.param_names})
            self.statuses = FinalStatus.parse(kwargs["statuses"])
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None
        self.conn_id = str(kwargs[self.conn_id_param])
        self.poll_interval = float(poll_interval)
        self.hook_overrides = {n: kwargs[n] for n in self.override_names if kwargs.get(n) is not None}
        self._stream_key: Hashable | None = None

    @property
    def spec(self) -> WatchSpec:
        """The watch spec (one instance per trigger)."""
        spec = self.__dict__.get("_spec")
        if spec is None:
            spec = self.__dict__["_spec"] = get_watch(self.watch)
        return spec

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The keywords the trigger was built with."""
        return f"{type(self).__module__}.{type(self).__qualname__}", dict(self._kwargs)

    async def _sweeper(self) -> Sweeper:
        client = await build_hook(self.spec.vendor, self.conn_id, self.hook_overrides).aget_conn()
        return Sweeper(self.spec, self.params, client, poll_interval=self.poll_interval, logger=self.log)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Airflow < 3.3 (or no asset state store): report what finishes from now on, in memory."""
        async for item in follow_in_memory(self._sweeper, self.statuses):
            yield TriggerEvent(item.payload(self.watch))

    # --- Airflow >= 3.3: a shared stream in ack mode ----------------------------------------------------------

    def shared_stream_key(self) -> Hashable | None:
        """Watchers with the same kwargs share one poll; None (the in-memory ``run``) without a state store."""
        if not HAS_ASSET_STATE_STORE or self.asset_state_store is None:
            return None
        self._stream_key = _stream_key(type(self), self._kwargs)
        subscribe(self._stream_key, self.trigger_id, self.asset_state_store)
        return self._stream_key

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> Any:
        """The stream's producer (Airflow calls this once per stream, with the first watcher's kwargs)."""
        from airflow.triggers.shared_stream import SharedStreamProducer

        trigger = cls(**kwargs)  # type: ignore[call-arg]  # the subclasses' keywords
        producer = WatchProducer(_stream_key(cls, kwargs), cls.watch, trigger._sweeper, trigger.statuses)

        class _Producer(SharedStreamProducer):
            def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
                return producer.open_stream()

            async def advance(self, batch: Any) -> None:
                await producer.advance(batch)

            async def aclose(self) -> None:
                await producer.aclose()

        return _Producer()

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """Every raw event is this watcher's event (the filters are part of the stream's key)."""
        async for payload in shared_stream:
            yield TriggerEvent(payload)

    async def cleanup(self) -> None:
        """Leave the stream."""
        if self._stream_key is not None:
            unsubscribe(self._stream_key, self.trigger_id)


def _stream_key(cls: type, kwargs: Mapping[str, Any]) -> Hashable:
    return (f"{cls.__module__}.{cls.__qualname__}", json.dumps(kwargs, sort_keys=True, default=str))


class CloudFlowExecutionsTrigger(FinishedExecutionsTrigger):
    """Executions of one Alibaba Cloud CloudFlow flow that finish (``ListExecutions``).

    Payload details: ``name``, ``flow_name``, ``started_at``, ``stopped_at``, ``output`` (the execution's
    Output, parsed from JSON), and ``error`` / ``cause`` for a failure.

    :param flow_name: the flow whose executions are watched.
    :param execution_name_prefix: only executions whose name starts with it.
    :param statuses: ``"succeeded"``, ``"failed"`` (any other final status) or ``"any"`` (default).
    :param alibabacloud_conn_id: the Alibaba Cloud connection (default ``alibabacloud_default``).
    :param region: overrides the connection's region.
    :param poll_interval: seconds between two sweeps of the list (default 30).
    """

    watch = "alibaba_cloudflow_executions"
    conn_id_param = "alibabacloud_conn_id"
    param_names = ("flow_name", "execution_name_prefix")

    def __init__(
        self,
        *,
        flow_name: str,
        execution_name_prefix: str | None = None,
        statuses: str = FinalStatus.ANY.value,
        alibabacloud_conn_id: str = "alibabacloud_default",
        region: str | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__(
            {
                "flow_name": flow_name,
                "execution_name_prefix": execution_name_prefix,
                "statuses": statuses,
                "alibabacloud_conn_id": alibabacloud_conn_id,
                "region": region,
                "poll_interval": poll_interval,
            }
        )


class BatchJobsTrigger(FinishedExecutionsTrigger):
    """Tencent Cloud Batch jobs that finish (``DescribeJobs`` with filters: a job name, tags).

    Payload details: ``job_id``, ``job_name``, ``create_time``, ``end_time``, ``tags``.

    :param job_name: only jobs of this name (the ``job-name`` filter).
    :param tags: only jobs with these tags (``{key: value}``); ``job_name`` or ``tags`` is required.
    :param statuses: ``"succeeded"``, ``"failed"`` or ``"any"`` (default).
    :param tencentcloud_conn_id: the Tencent Cloud connection (default ``tencentcloud_default``).
    :param region: overrides the connection's region.
    :param poll_interval: seconds between two sweeps of the list (default 60).
    """

    watch = "tencent_batch_jobs"
    conn_id_param = "tencentcloud_conn_id"
    param_names = ("job_name", "tags")

    def __init__(
        self,
        *,
        job_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        statuses: str = FinalStatus.ANY.value,
        tencentcloud_conn_id: str = "tencentcloud_default",
        region: str | None = None,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__(
            {
                "job_name": job_name,
                "tags": dict(tags) if tags else None,
                "statuses": statuses,
                "tencentcloud_conn_id": tencentcloud_conn_id,
                "region": region,
                "poll_interval": poll_interval,
            }
        )


class DwsSnapshotsTrigger(FinishedExecutionsTrigger):
    """Huawei Cloud DWS snapshots that become available (or fail) (``ListSnapshots``).

    Payload details: ``snapshot_id``, ``name``, ``cluster_id``, ``started``, ``finished``, ``size``, ``type``.

    :param cluster_id: only snapshots of this cluster.
    :param name_prefix: only snapshots whose name starts with it.
    :param statuses: ``"succeeded"`` (available), ``"failed"`` or ``"any"`` (default).
    :param huaweicloud_conn_id: the Huawei Cloud connection (default ``huaweicloud_default``).
    :param region: overrides the connection's region.
    :param project_id: overrides the connection's project id.
    :param poll_interval: seconds between two sweeps of the list (default 60).
    """

    watch = "huawei_dws_snapshots"
    conn_id_param = "huaweicloud_conn_id"
    param_names = ("cluster_id", "name_prefix")
    override_names = ("region", "project_id")

    def __init__(
        self,
        *,
        cluster_id: str | None = None,
        name_prefix: str | None = None,
        statuses: str = FinalStatus.ANY.value,
        huaweicloud_conn_id: str = "huaweicloud_default",
        region: str | None = None,
        project_id: str | None = None,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__(
            {
                "cluster_id": cluster_id,
                "name_prefix": name_prefix,
                "statuses": statuses,
                "huaweicloud_conn_id": huaweicloud_conn_id,
                "region": region,
                "project_id": project_id,
                "poll_interval": poll_interval,
            }
        )
