"""Resume a serverless TDSQL-C (CynosDB) cluster for an ETL window, back it up, pause it again.

What it shows:

* ``TencentCynosdbFlowActionOperator`` with ``ResumeServerless``, ``CreateBackup`` and ``PauseServerless``:
  each call returns a ``FlowId`` and the operator waits on it (``DescribeFlow``), deferred.
* None of these actions takes a ClientToken: after an ambiguous failure (5xx, timeout) the call is not
  repeated and the task fails asking to check the console; a throttled call is retried (it was not applied).
* The "Tencent CynosDB cluster" extra link opens the cluster in the console of the connection's region.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.operators import TencentCynosdbFlowActionOperator

POLL_INTERVAL = 2.0  # emulator demo; 10-30 s against Tencent Cloud
TIMEOUT = 30 * 60

with DAG(
    dag_id="example_tencent_cynosdb_operator",
    description="Resume, back up and pause a serverless CynosDB cluster (deferrable operators)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "tencent"],
    params={"cluster_id": Param("cynosdbmysql-demo01", type="string", description="Cluster id")},
) as dag:
    common: dict[str, Any] = {"deferrable": True, "poll_interval": POLL_INTERVAL, "timeout": TIMEOUT}
    resume = TencentCynosdbFlowActionOperator(
        task_id="resume", action="ResumeServerless", cluster_id="{{ params.cluster_id }}", **common
    )

    @task
    def etl(state: dict[str, Any]) -> int:
        """Stand-in for the ETL that needs the cluster running."""
        print(f"cluster resumed by flow {state['FlowId']} ({state['status']})")
        return int(state["FlowId"])

    backup = TencentCynosdbFlowActionOperator(
        task_id="backup",
        action="CreateBackup",
        cluster_id="{{ params.cluster_id }}",
        request={"BackupType": "snapshot", "BackupName": "after-etl-{{ dag_run.run_after | ds }}"},
        **common,
    )
    pause = TencentCynosdbFlowActionOperator(
        task_id="pause",
        action="PauseServerless",
        cluster_id="{{ params.cluster_id }}",
        trigger_rule="all_done",
        **common,
    )

    etl(resume.output) >> backup >> pause
