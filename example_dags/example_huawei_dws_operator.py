"""Snapshot a Huawei Cloud DWS cluster, scale it out for a heavy load, and restore the snapshot to a new cluster.

What it shows:

* ``HuaweiDwsCreateSnapshotOperator`` (waits on SNAPSHOTTING), ``HuaweiDwsResizeClusterOperator`` (waits on
  GROWING) and ``HuaweiDwsRestoreClusterOperator`` (waits on the job API's ``job_id``, else RESTORING), all
  deferred; the snapshot's id flows from the first task to the restore through XCom.
* None of these calls is idempotent or cancellable: an ambiguous failure is not repeated (the task fails
  asking to check the console) and nothing is stopped on kill or timeout.
* The "Huawei DWS cluster" extra link opens the cluster in the console of the region's site.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.operators import (
    HuaweiDwsCreateSnapshotOperator,
    HuaweiDwsResizeClusterOperator,
    HuaweiDwsRestoreClusterOperator,
)

POLL_INTERVAL = 2.0  # emulator demo; 30-60 s against Huawei Cloud
TIMEOUT = 3 * 60 * 60

with DAG(
    dag_id="example_huawei_dws_operator",
    description="DWS snapshot, scale-out and restore (deferrable operators)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "huawei"],
    params={"cluster_id": Param("3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f", type="string", description="Cluster id")},
) as dag:
    common: dict[str, Any] = {"deferrable": True, "poll_interval": POLL_INTERVAL, "timeout": TIMEOUT}
    snapshot = HuaweiDwsCreateSnapshotOperator(
        task_id="snapshot",
        cluster_id="{{ params.cluster_id }}",
        snapshot_name="before-load-{{ dag_run.run_after | ds_nodash }}",
        description="taken by Airflow before the nightly load",
        **common,
    )
    scale_out = HuaweiDwsResizeClusterOperator(
        task_id="scale_out", cluster_id="{{ params.cluster_id }}", node_count=3, **common
    )
    restore = HuaweiDwsRestoreClusterOperator(
        task_id="restore",
        snapshot_id="{{ ti.xcom_pull(task_ids='snapshot')['snapshot_id'] }}",
        restore={"name": "restored-{{ dag_run.run_after | ds_nodash }}"},
        **common,
    )

    @task
    def report(state: dict[str, Any]) -> str:
        """Use the restored cluster's id downstream."""
        print(f"restored into cluster {state['cluster_id']} (job {state.get('job_id')}: {state['vendor_status']})")
        return str(state["cluster_id"])

    snapshot >> scale_out >> restore
    report(restore.output)
