"""DAGs for the start-from-trigger operator tests: a CloudFlow and a Batch start that opt in."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_cloudflows.operators import AlibabaCloudFlowStartExecutionOperator, TencentBatchSubmitJobOperator

START = dt.datetime(2026, 1, 1)

with DAG("op_start_in_trigger_fnf", schedule=None, start_date=START) as op_start_in_trigger_fnf:
    AlibabaCloudFlowStartExecutionOperator(
        task_id="run",
        flow_name="etl_flow",
        input={"run": "{{ run_id }}"},
        poll_interval=0.3,
        timeout=60,
        deferrable=True,
        start_from_trigger=True,
    )

with DAG("op_start_in_trigger_batch", schedule=None, start_date=START) as op_start_in_trigger_batch:
    TencentBatchSubmitJobOperator(
        task_id="run",
        placement={"Zone": "ap-guangzhou-3"},
        job={"JobName": "job-{{ ds_nodash }}", "Tasks": [{"TaskName": "A", "Application": {"Command": "true"}}]},
        poll_interval=0.3,
        timeout=60,
        deferrable=True,
        start_from_trigger=True,
    )
