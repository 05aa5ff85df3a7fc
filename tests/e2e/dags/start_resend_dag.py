"""A Batch submit operator for the start-resend phase of ``tests/e2e``.

Not a pytest module (no ``test_`` prefix): the real-stack end-to-end test parses it with a real dag-processor.
A ``TencentBatchSubmitJobOperator`` waiting in the worker with ``retries=1``; its names and timings live in
``start_resend.json`` next to this file. The driver makes the emulator trickle the first ``SubmitJob`` answer
(the job is created, its reply arrives a few bytes at a time) and ``kill -9``s the task process meanwhile:
try 2 must send the start again under try 1's ClientToken and get the same job back, not a second one.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_cloudflows.operators import TencentBatchSubmitJobOperator

SPEC = json.loads(Path(__file__).with_name("start_resend.json").read_text())

with DAG(
    dag_id=SPEC["dag_id"],
    description="E2E: a try killed while its SubmitJob reply arrives must not make the retry submit twice",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e", "cloudflows"],
) as dag:
    TencentBatchSubmitJobOperator(
        task_id=SPEC["task_id"],
        placement={"Zone": "ap-guangzhou-3"},
        job={
            "JobName": SPEC["job_name"],
            "Priority": 1,
            "Tasks": [
                {
                    "TaskName": SPEC["task_name"],
                    "TaskInstanceNum": 1,
                    "EnvId": "env-demo0001",
                    "Application": {"DeliveryForm": "LOCAL", "Command": "python work.py"},
                }
            ],
        },
        # Waiting in the worker: the start and the wait run in the task process the driver kills.
        deferrable=False,
        poll_interval=SPEC["poll_interval"],
        timeout=10 * 60,
        retries=1,
        retry_delay=timedelta(seconds=SPEC["retry_delay_seconds"]),
    )
