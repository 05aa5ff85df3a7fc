"""Watch sweeps over real HTTP to the emulator: scripted CloudFlow executions and Tencent Batch jobs finish,
and sweeps read through :class:`WatchState` (stored as JSON between sweeps, as the trigger stores it) report
each finished one exactly once, over more than one page of the vendor's list.

The scripts advance with the emulator's clock (``advance()``), so no test waits for an execution to end.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_cloudflows.errors import NotFoundError
from airflow_provider_cloudflows.hooks.alibaba import AlibabaCloudHook
from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.registry import get_watch
from airflow_provider_cloudflows.services.driver import adrive, drive
from airflow_provider_cloudflows.services.watching import FinalStatus, Finished, WatchSpec, WatchState
from airflow_provider_cloudflows.status import ExecutionStatus as S
from cloudflows_emulator import CloudEmulator, cloudflow_execution
from cloudflows_emulator.scripting import iso_millis, now_utc
from cloudflows_emulator.tencent import plan_batch_job, submit_batch_job

pytestmark = pytest.mark.usefixtures("connected_emulator")

FLOW = "nightly_etl"


class Watcher:
    """A watch as the trigger runs it: one spec and client, the state round-tripped through JSON."""

    def __init__(self, spec: WatchSpec, params: Mapping[str, Any], client: Any) -> None:
        self.spec, self.client = spec, client
        self.params = spec.normalize(params)
        self.state = WatchState.starting_at(time.time()).to_json()
        self.reported: list[Finished] = []

    def sweep(self) -> list[Finished]:
        state = WatchState.from_json(self.state)
        result = drive(self.spec.sweep(self.params, state.since(), state.resume_from), self.client)
        new, after = state.take(result, FinalStatus.ANY)
        self.state = after.to_json()
        self.reported += new
        return new

    def counts(self) -> collections.Counter[str]:
        return collections.Counter(item.id for item in self.reported)


def test_cloudflow_executions_are_reported_once_each_including_one_started_before_the_watch(
    cloud_emulator: CloudEmulator,
) -> None:
    old = cloudflow_execution(FLOW, "old_run", [(0, "Running"), (60, "Succeeded")], output={"rows": 7})
    # Started two hours before the watch: only the first sweep's running list finds where to list from.
    two_hours_ago = iso_millis(now_utc() - timedelta(hours=2))
    for _, payload in old.timeline:
        payload["StartedTime"] = two_hours_ago
    cloud_emulator.add_execution(old)
    quick = [f"run_{n:03d}" for n in range(115)]
    failing = [f"bad_{n}" for n in range(4)]
    for name in quick:
        cloud_emulator.add_execution(
            cloudflow_execution(FLOW, name, [(0, "Running"), (1, "Succeeded")], output={"n": name})
        )
    for name in failing:
        cloud_emulator.add_execution(
            cloudflow_execution(FLOW, name, [(0, "Running"), (1, "Failed")], error="FC.Error", cause=f"{name} broke")
        )
    cloud_emulator.add_execution(cloudflow_execution("other_flow", "run_000", [(0, "Running"), (1, "Succeeded")]))
    watcher = Watcher(get_watch("alibaba_cloudflow_executions"), {"flow_name": FLOW}, AlibabaCloudHook().get_conn())

    assert watcher.sweep() == []
    assert WatchState.from_json(watcher.state).resume_from == pytest.approx(time.time() - 7200, abs=60)
    cloud_emulator.advance(2)
    first = watcher.sweep()
    assert sorted(item.id for item in first) == sorted(quick + failing)
    assert watcher.sweep() == []
    cloud_emulator.advance(60)
    assert [item.id for item in watcher.sweep()] == ["old_run"]
    assert watcher.sweep() == []

    assert set(watcher.counts().values()) == {1}
    by_id = {item.id: item for item in watcher.reported}
    assert (by_id["old_run"].status, by_id["old_run"].details["output"]) == (S.SUCCEEDED, {"rows": 7})
    assert by_id["old_run"].details["started_at"] == two_hours_ago
    assert by_id["run_042"].details["output"] == {"n": "run_042"}
    bad = by_id["bad_2"]
    assert (bad.status, bad.details["error"], bad.details["cause"]) == (S.FAILED, "FC.Error", "bad_2 broke")
    # Pages of 100: the first sweep lists the 120 running (2 pages), then from the old start (2); the next
    # three sweeps list from the old start while it runs, then from its end (2 each); the last one, with
    # nothing running, lists the running ones (1) and then from since (2). Each failure's history once.
    assert cloud_emulator.count("fnf", "ListExecutions") == 4 + 2 + 2 + 2 + 3
    # Spaced within the documented buckets: the emulator, which enforces them, refused nothing.
    assert cloud_emulator.count("fnf", ok=False) == 0
    assert cloud_emulator.count("fnf", "GetExecutionHistory") == len(failing)


def test_batch_jobs_of_a_tag_are_reported_once_each_over_two_pages(cloud_emulator: CloudEmulator) -> None:
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (30, "SUCCEED")]}, job_name="etl_ok")
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (30, "FAILED")]}, job_name="etl_bad")
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (600, "SUCCEED")]}, job_name="etl_slow")
    ok = [submit_batch_job(cloud_emulator, "etl_ok", tags={"team": "etl"}) for _ in range(104)]
    bad = [submit_batch_job(cloud_emulator, "etl_bad", tags={"team": "etl"}) for _ in range(3)]
    slow = submit_batch_job(cloud_emulator, "etl_slow", tags={"team": "etl", "size": "big"})
    others = [submit_batch_job(cloud_emulator, "etl_ok", tags={"team": "bi"}) for _ in range(2)]
    watcher = Watcher(get_watch("tencent_batch_jobs"), {"tags": {"team": "etl"}}, TencentCloudHook().get_conn())

    assert watcher.sweep() == []
    cloud_emulator.advance(31)
    assert sorted(item.id for item in watcher.sweep()) == sorted(ok + bad)
    assert watcher.sweep() == []
    cloud_emulator.advance(600)
    assert [item.id for item in watcher.sweep()] == [slow]
    assert watcher.sweep() == []

    assert set(watcher.counts().values()) == {1}
    assert not set(others) & set(watcher.counts())
    by_id = {item.id: item for item in watcher.reported}
    assert {by_id[job_id].status for job_id in bad} == {S.FAILED}
    assert by_id[slow].details["tags"] == {"team": "etl", "size": "big"}
    assert by_id[slow].details["job_name"] == "etl_slow"
    assert cloud_emulator.count("batch", "DescribeJobs") == 1 + 2 + 2 + 2 + 2
    assert cloud_emulator.count("batch", "DescribeJobs", ok=False) == 0


def test_a_batch_watch_by_name_reports_only_that_name(cloud_emulator: CloudEmulator) -> None:
    plan_batch_job(cloud_emulator, {"A": [(0, "RUNNING"), (5, "FAILED")]}, job_name="alerts")
    wanted = submit_batch_job(cloud_emulator, "alerts")
    submit_batch_job(cloud_emulator, "alerts-2")
    watcher = Watcher(get_watch("tencent_batch_jobs"), {"job_name": "alerts"}, TencentCloudHook().get_conn())
    cloud_emulator.advance(10)
    reported = watcher.sweep()
    assert [(item.id, item.status, item.vendor_status) for item in reported] == [(wanted, S.FAILED, "FAILED")]


async def test_an_async_sweep_as_the_triggerer_runs_it_reports_the_same(cloud_emulator: CloudEmulator) -> None:
    for name in ("a", "b"):
        cloud_emulator.add_execution(cloudflow_execution(FLOW, name, [(0, "Running"), (1, "Succeeded")]))
    spec = get_watch("alibaba_cloudflow_executions")
    params = spec.normalize({"flow_name": FLOW})
    state = WatchState.starting_at(time.time())
    cloud_emulator.advance(2)
    client = await AlibabaCloudHook().aget_conn()
    result = await adrive(spec.sweep(params, state.since(), state.resume_from), client)
    new, _ = state.take(result, FinalStatus.SUCCEEDED)
    assert sorted(item.id for item in new) == ["a", "b"]


def test_a_watch_of_a_flow_that_does_not_exist_fails_typed(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cloudflow_execution(FLOW, "a", [(0, "Succeeded")]))
    watcher = Watcher(
        get_watch("alibaba_cloudflow_executions"), {"flow_name": "no_such_flow"}, AlibabaCloudHook().get_conn()
    )
    with pytest.raises(NotFoundError) as raised:
        watcher.sweep()
    assert raised.value.code == "FlowNotExists"
