"""The DWS snapshot watch over real HTTP against the emulator: snapshots created through the API (the provider's
own create action) and scripted ones end AVAILABLE or UNAVAILABLE on the emulator's clock, and sweeps taken
through :class:`WatchState` report each of them once, also after the state went through its stored JSON form."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_cloudflows.actions.driver import run_action
from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.registry import get_start, get_watch
from airflow_provider_cloudflows.services.driver import drive
from airflow_provider_cloudflows.services.watching import FinalStatus, Finished, WatchState
from airflow_provider_cloudflows.status import ExecutionStatus as S
from cloudflows_emulator import CloudEmulator, dws_cluster
from cloudflows_emulator.huawei import LIST_SNAPSHOTS, plan_dws_action, plan_dws_snapshot

CLUSTER = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
OTHER = "0b3e5c1a-6d7f-4a8b-9c0d-1e2f3a4b5c6d"
WATCH = get_watch("huawei_dws_snapshots")
# Seconds of emulator script a snapshot takes; played with advance(), never slept.
TAKES = 20.0

pytestmark = pytest.mark.usefixtures("connected_emulator")


def create_snapshot(name: str, cluster_id: str = CLUSTER) -> str:
    """A snapshot created the way the provider's operator creates one; its id."""
    client = HuaweiCloudHook(huaweicloud_conn_id="huaweicloud_default").get_conn()
    action = get_start("huawei_dws_create_snapshot").start({"cluster_id": cluster_id, "name": name}, None)
    started = run_action(action, client, deadline=time.time() + 10)
    snapshot_id: str = started.output["snapshot_id"]
    return snapshot_id


def take(
    state: WatchState, statuses: FinalStatus = FinalStatus.ANY, **params: Any
) -> tuple[list[Finished], WatchState]:
    """One sweep over HTTP, taken through the state as a watcher takes it."""
    client = HuaweiCloudHook(huaweicloud_conn_id="huaweicloud_default").get_conn()
    sweep = drive(WATCH.sweep(WATCH.normalize(params), state.since(), state.resume_from), client)
    return state.take(sweep, statuses)


def ended(items: list[Finished]) -> dict[str, S]:
    return {item.id: item.status for item in items}


def test_api_and_scripted_snapshots_are_each_reported_once_when_they_end(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_cluster(CLUSTER))
    plan_dws_action(cloud_emulator, "SNAPSHOTTING", [(0, "RUNNING", 10)], end_at=TAKES)
    state = WatchState.starting_at(time.time())
    created = create_snapshot("manual-1")
    available = plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-ok", after=TAKES)
    unavailable = plan_dws_snapshot(
        cloud_emulator, cluster_id=CLUSTER, name="nightly-bad", outcome="UNAVAILABLE", after=TAKES
    )

    reported, state = take(state)
    assert reported == []  # all three are CREATING
    cloud_emulator.advance(TAKES)
    reported, state = take(state)
    assert ended(reported) == {created: S.SUCCEEDED, available: S.SUCCEEDED, unavailable: S.FAILED}
    by_id = {item.id: item for item in reported}
    assert by_id[created].details["name"] == "manual-1"
    assert by_id[created].details["cluster_id"] == CLUSTER
    assert by_id[unavailable].vendor_status == "UNAVAILABLE"
    assert json.loads(json.dumps(by_id[created].payload(WATCH.name)))["snapshot_id"] == created

    again, state = take(state)
    assert again == []
    # A restarted watcher reads its state back from the store (JSON) and reports nothing twice either.
    restored = WatchState.from_json(json.loads(json.dumps(state.to_json())))
    assert take(restored)[0] == []
    assert cloud_emulator.count("dws", LIST_SNAPSHOTS) == 4  # one call per sweep: the API has no pages


def test_a_snapshot_whose_task_fails_is_reported_to_a_failures_only_watch(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_cluster(CLUSTER))
    plan_dws_action(cloud_emulator, "SNAPSHOTTING", [(0, "RUNNING", 10)], end="failed", end_at=TAKES)
    state = WatchState.starting_at(time.time())
    failed = create_snapshot("manual-2")
    plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-ok", after=TAKES)
    cloud_emulator.advance(TAKES)
    reported, state = take(state, FinalStatus.FAILED)
    assert ended(reported) == {failed: S.FAILED}
    assert take(state)[0] == []  # the success was handled too, without being reported


def test_the_filters_keep_one_clusters_snapshots_with_a_name_prefix(cloud_emulator: CloudEmulator) -> None:
    state = WatchState.starting_at(time.time())
    wanted = plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-1", after=1)
    plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="manual-9", after=1)
    plan_dws_snapshot(cloud_emulator, cluster_id=OTHER, name="nightly-2", after=1)
    plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-3", outcome=None)
    cloud_emulator.advance(1)
    reported, _ = take(state, cluster_id=CLUSTER, name_prefix="nightly-")
    assert ended(reported) == {wanted: S.SUCCEEDED}


def test_snapshots_that_ended_before_the_watch_started_are_not_reported(cloud_emulator: CloudEmulator) -> None:
    plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-old", after=0)
    later = WatchState.starting_at(time.time() + 3600)
    assert take(later)[0] == []


def test_a_failing_list_call_is_a_typed_error(cloud_emulator: CloudEmulator) -> None:
    plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-1", after=0)
    cloud_emulator.inject("internal_error", service="dws", action=LIST_SNAPSHOTS, count=None)
    with pytest.raises(CloudApiError) as info:
        take(WatchState.starting_at(time.time()))
    assert info.value.outage  # a watcher polls through it on its next sweep
