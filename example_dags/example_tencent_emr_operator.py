"""Scale a Tencent Cloud EMR cluster out for a job, then back in: pay for the extra nodes only while needed.

What it shows:

* ``TencentEmrScaleOutClusterOperator``: ``ScaleOutCluster`` (ClientToken from the task instance) and a
  deferred wait on the returned flow (``DescribeClusterFlowStatusDetail``); the result carries ``FlowId`` and
  ``TraceId`` beside the flow's final state.
* ``TencentEmrTerminateClusterNodesOperator``: ``TerminateClusterNodes`` (no ClientToken: never repeated after
  an ambiguous failure) and a wait on its flow. ``trigger_rule="all_done"``: scale in even if the job failed.
* EMR has no API to cancel a flow: these operators do not cancel on kill or timeout.
* The "Tencent EMR cluster" extra link opens the cluster in the console of the connection's region.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.operators import (
    TencentEmrScaleOutClusterOperator,
    TencentEmrTerminateClusterNodesOperator,
)

POLL_INTERVAL = 2.0  # emulator demo; 30-60 s against Tencent Cloud
TIMEOUT = 60 * 60

with DAG(
    dag_id="example_tencent_emr_operator",
    description="Scale an EMR cluster out, run, scale in (deferrable operators)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "tencent"],
    params={
        "instance_id": Param("emr-demo01", type="string", description="EMR cluster id (emr-...)"),
        "node_count": Param(2, type="integer", description="TASK nodes to add"),
        "release_nodes": Param(["ins-demo0001"], type="array", description="CVM ids of the nodes to release"),
    },
) as dag:
    scale_out = TencentEmrScaleOutClusterOperator(
        task_id="scale_out",
        instance_id="{{ params.instance_id }}",
        node_count="{{ params.node_count }}",
        node_flag="TASK",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=TIMEOUT,
    )

    @task
    def run_job(state: dict[str, Any]) -> str:
        """Stand-in for the work that needs the extra nodes."""
        print(f"scale-out flow {state['FlowId']} (trace {state.get('TraceId')}) is {state['status']}")
        return str(state["FlowId"])

    scale_in = TencentEmrTerminateClusterNodesOperator(
        task_id="scale_in",
        instance_id="{{ params.instance_id }}",
        cvm_instance_ids="{{ params.release_nodes }}",
        node_flag="TASK",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=TIMEOUT,
        trigger_rule="all_done",
    )

    run_job(scale_out.output) >> scale_in
