"""DAGs for the write fault matrix: every start operator, waiting in the worker, with one Airflow retry."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_cloudflows.operators import (
    AlibabaCloudFlowStartExecutionOperator,
    HuaweiDwsCreateSnapshotOperator,
    HuaweiDwsResizeClusterOperator,
    HuaweiDwsRestoreClusterOperator,
    TencentBatchSubmitJobOperator,
    TencentCynosdbFlowActionOperator,
    TencentEmrScaleOutClusterOperator,
    TencentEmrTerminateClusterNodesOperator,
)

START = dt.datetime(2026, 1, 1)
CLUSTER = "3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f"
# One Airflow retry at once; the timeout bounds a hung or trickled start.
COMMON: dict[str, Any] = {
    "task_id": "run",
    "poll_interval": 0.5,
    "timeout": 8,
    "retries": 1,
    "retry_delay": timedelta(seconds=0),
}
JOB = {"JobName": "wf", "Tasks": [{"TaskName": "A", "Application": {"Command": "true", "DeliveryForm": "LOCAL"}}]}

OPERATORS = {
    "batch": lambda: TencentBatchSubmitJobOperator(placement={"Zone": "ap-guangzhou-3"}, job=JOB, **COMMON),
    "emr_scale_out": lambda: TencentEmrScaleOutClusterOperator(instance_id="emr-abc123", node_count=1, **COMMON),
    "emr_terminate_nodes": lambda: TencentEmrTerminateClusterNodesOperator(
        instance_id="emr-abc123", cvm_instance_ids=["ins-1"], **COMMON
    ),
    "cynosdb": lambda: TencentCynosdbFlowActionOperator(
        action="PauseServerless", cluster_id="cynosdbmysql-abc", **COMMON
    ),
    "fnf": lambda: AlibabaCloudFlowStartExecutionOperator(flow_name="etl_flow", **COMMON),
    "dws_snapshot": lambda: HuaweiDwsCreateSnapshotOperator(cluster_id=CLUSTER, snapshot_name="snap-wf", **COMMON),
    "dws_resize": lambda: HuaweiDwsResizeClusterOperator(cluster_id=CLUSTER, node_count=1, **COMMON),
    "dws_restore": lambda: HuaweiDwsRestoreClusterOperator(
        snapshot_id="{{ dag_run.conf['snapshot_id'] }}", restore={"name": "restored"}, **COMMON
    ),
}

for kind, build in OPERATORS.items():
    with DAG(f"wf_{kind}", schedule=None, start_date=START) as dag:
        build()
    globals()[dag.dag_id] = dag
