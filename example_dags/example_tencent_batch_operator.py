"""Submit a Tencent Cloud Batch job, wait for every task of it, then use the result.

What it shows:

* ``TencentBatchSubmitJobOperator``: ``SubmitJob`` with a ClientToken derived from the task instance (a
  repeated call returns the same job), then ``DescribeJob`` until the whole job ends, deferred to the
  triggerer. On failure the failed instances' stdout/stderr are copied into the task log.
* Lifecycle: killing the task (or its timeout) terminates the job (``TerminateJob``); a retry reattaches to
  the job the previous try started instead of submitting another (Airflow >= 3.3).
* The "Tencent Batch job" extra link opens the job in the console of the connection's region.
* The job definition is a templated dict; the emulator's demo scenario scripts job ``demo-etl``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.operators import TencentBatchSubmitJobOperator

# 2 s suits the emulator demo; against Tencent Cloud use 30-60 s (DescribeJob allows 2 requests a second).
POLL_INTERVAL = 2.0
TIMEOUT = 6 * 60 * 60

with DAG(
    dag_id="example_tencent_batch_operator",
    description="Submit a Tencent Batch job and wait for it (deferrable operator)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "tencent"],
    params={
        "zone": Param("ap-guangzhou-3", type="string", description="Availability zone of the job"),
        "job_name": Param("demo-etl", type="string", description="Batch job name"),
        "env_id": Param("env-demo0001", type="string", description="Compute environment id (env-...)"),
    },
) as dag:
    run_job = TencentBatchSubmitJobOperator(
        task_id="run_batch_job",
        placement={"Zone": "{{ params.zone }}"},
        job={
            "JobName": "{{ params.job_name }}",
            "Priority": 1,
            "Tasks": [
                {
                    "TaskName": "extract",
                    "TaskInstanceNum": 2,
                    "EnvId": "{{ params.env_id }}",
                    "Application": {
                        "DeliveryForm": "LOCAL",
                        "Command": "python extract.py --day {{ dag_run.run_after | ds }}",
                    },
                },
                {
                    "TaskName": "load",
                    "TaskInstanceNum": 1,
                    "EnvId": "{{ params.env_id }}",
                    "Application": {
                        "DeliveryForm": "LOCAL",
                        "Command": "python load.py --day {{ dag_run.run_after | ds }}",
                    },
                },
            ],
            "Dependences": [{"StartTask": "extract", "EndTask": "load"}],
        },
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=TIMEOUT,
    )

    @task
    def report(state: dict[str, Any]) -> dict[str, Any]:
        """Report each task's state and the instance counters from the final state."""
        print(f"Batch job {state['JobId']} ({state.get('JobName')}) is {state['status']}")
        for item in state.get("TaskSet") or []:
            print(f"  task {item['TaskName']}: {item['TaskState']}")
        return {"job_id": state["JobId"], "instances": state.get("TaskInstanceMetrics")}

    report(run_job.output)
