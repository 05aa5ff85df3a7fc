"""Temporary keys refreshed inside long waits, through Airflow: for every vendor and every source of keys
(an assumed role, the instance's metadata, a pod's OIDC token, nothing stored), a deferred wait, a poke-mode
sensor and an operator each outlive three lifetimes of the key and succeed (``dag.test()``: the worker's
sync calls and the trigger's async ones share the process's one cache of the identity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudflows_emulator import CloudEmulator, cloudflow_execution, cynosdb_flow, dws_cluster, dws_task
from cloudflows_emulator.alibaba import plan_cloudflow_execution
from cloudflows_emulator.huawei import plan_dws_action
from cloudflows_emulator.server import EmulatorServer
from cloudflows_emulator.tencent import PROCESSING, SUCCEEDED, plan_cynosdb_flow
from tests.dags import identity_dags
from tests.dags.identity_dags import LIFETIME, SPAN
from tests.helpers import dag_test
from tests.identity_sources import SOURCES, VENDORS, identity_connection

pytestmark = pytest.mark.usefixtures("emulator_connections")

# The emulated STS, IAM and metadata services, whose calls obtain keys rather than use them.
IDENTITY_SERVICES = frozenset({None, "sts", "metadata", "alibaba-sts", "alibaba-metadata", "iam", "ecs_metadata"})
EXPIRED_CODES = frozenset({"AuthFailure.TokenFailure", "InvalidSecurityToken.Expired", "APIG.0307"})


def script(vendor: str, emulator: CloudEmulator) -> None:
    """The executions each task of ``identity_<vendor>`` waits on, all ending after SPAN seconds."""
    if vendor == "tencent":
        for flow_id in identity_dags.CYNOSDB_FLOWS.values():
            emulator.add_execution(cynosdb_flow(flow_id, [(0, PROCESSING), (SPAN, SUCCEEDED)]))
        plan_cynosdb_flow(emulator, [(0, PROCESSING), (SPAN, SUCCEEDED)], cluster_id=identity_dags.CYNOSDB_CLUSTER)
    elif vendor == "alibaba":
        for name in identity_dags.EXECUTIONS.values():
            emulator.add_execution(cloudflow_execution(identity_dags.FLOW, name, [(0, "Running"), (SPAN, "Succeeded")]))
        plan_cloudflow_execution(emulator, [(0, "Running"), (SPAN, "Succeeded")], flow_name=identity_dags.FLOW)
    else:
        for task in ("wait", "poke"):
            emulator.add_execution(dws_task(identity_dags.DWS_CLUSTERS[task], phases=[(0, "RUNNING", 20)], end_at=SPAN))
        emulator.add_execution(dws_cluster(identity_dags.DWS_CLUSTERS["operate"]))
        plan_dws_action(emulator, "SNAPSHOTTING", [(0, "RUNNING", 30)], end_at=SPAN)


# How Airflow runs the three tasks on a refreshing key is the same for every source; how a source fetches its
# key does not depend on the Airflow version. So every source runs at the latest Airflow, the role at all.
@pytest.mark.parametrize(
    "source", [s if s == "role" else pytest.param(s, marks=pytest.mark.latest_only) for s in SOURCES]
)
@pytest.mark.parametrize("vendor", VENDORS)
def test_a_wait_a_poke_sensor_and_an_operator_each_outlive_three_key_lifetimes(
    vendor: str,
    source: str,
    cloud_emulator: CloudEmulator,
    cloud_emulator_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cloud_emulator.set_identity_lifetime(LIFETIME)
    identity_connection(vendor, source, f"identity_{vendor}", cloud_emulator_server, monkeypatch, tmp_path)
    script(vendor, cloud_emulator)

    run = dag_test(getattr(identity_dags, f"identity_{vendor}"))

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert {task: ti.state for task, ti in tis.items()} == dict.fromkeys(("wait", "poke", "operate"), "success")
    for task, ti in tis.items():
        assert (ti.end_date - ti.start_date).total_seconds() >= 3 * LIFETIME, task
    # One key per lifetime (refreshed at 85%), never one per call. A CloudFlow long poll is one request
    # signed once however long it is held, so its tasks need fewer keys.
    issued = cloud_emulator.issued(vendor)
    calls = len([r for r in cloud_emulator.requests if r.service not in IDENTITY_SERVICES])
    assert (3 if vendor == "alibaba" else 9) <= issued <= calls, (issued, calls)
    # A call the vendor refused as expired (a poll signed just before the refresh landed) was repeated once
    # with the new key: never more refusals than refreshes.
    expired = sum(1 for r in cloud_emulator.requests if r.error in EXPIRED_CODES)
    assert expired <= issued, (expired, issued)


def test_every_vendor_and_source_is_covered() -> None:
    assert sorted(VENDORS) == ["alibaba", "huawei", "tencent"]
    assert sorted(SOURCES) == ["chain", "instance", "oidc", "role"]
