"""Wait for one task of a Tencent Cloud Batch job, then use its instance counters.

What it shows:

* ``TencentBatchTaskSensor`` in deferrable mode on ``DescribeTask``: SUBMITTED/PENDING/RUNNABLE/STARTING/
  RUNNING keep waiting in the triggerer; SUCCEED succeeds; FAILED fails with the failed instances' exit codes
  and reasons.
* ``job_id`` and ``task_name`` are DAG params with the emulator demo scenario's ids as defaults.
* A downstream task reads ``TaskInstanceMetrics`` from the sensor's XCom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.sensors import TencentBatchTaskSensor

# 2 s suits the emulator demo; use 30-60 s against the real cloud (Batch tasks run for minutes or hours).
POKE_INTERVAL = 2.0
TIMEOUT = 6 * 60 * 60

with DAG(
    dag_id="example_tencent_batch",
    description="Wait for a Tencent Batch task (deferrable sensor)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "tencent"],
    params={
        "job_id": Param("job-demo0001", type="string", description="Batch job id (job-...)"),
        "task_name": Param("A", type="string", description="Task name within the job"),
    },
) as dag:
    wait_for_task = TencentBatchTaskSensor(
        task_id="wait_for_batch_task",
        job_id="{{ params.job_id }}",
        task_name="{{ params.task_name }}",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=TIMEOUT,
    )

    @task
    def count_instances(state: dict[str, Any]) -> dict[str, Any]:
        """Report how many task instances ran, from the final state."""
        metrics = state.get("TaskInstanceMetrics") or {}
        print(
            f"Batch task {state.get('JobId')}/{state.get('TaskName')} is {state['status']} "
            f"(TaskState={state['vendor_status']}): {state.get('TaskInstanceTotalCount')} instances, {metrics}"
        )
        return {"total": state.get("TaskInstanceTotalCount"), "metrics": metrics}

    count_instances(wait_for_task.output)
