"""Two deferred start operators for the triggerer hand-over phase of ``tests/e2e``.

Not a pytest module (no ``test_`` prefix): the real-stack end-to-end test parses it with a real dag-processor.
A CloudFlow execution (``AlibabaCloudFlowStartExecutionOperator``) and a Batch job
(``TencentBatchSubmitJobOperator``), both deferrable, whose names live in ``triggerer_handover.json`` next to
this file; the e2e driver scripts both in the emulator to run for ``running_seconds`` and then succeed. While
they wait, the driver stalls their triggerer (SIGSTOP) until another one adopts the triggers, then resumes it:
the resumed triggerer must not cancel the work the adopting one still waits on.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_cloudflows.operators import AlibabaCloudFlowStartExecutionOperator, TencentBatchSubmitJobOperator

SPEC = json.loads(Path(__file__).with_name("triggerer_handover.json").read_text())
TIMEOUT = 60 * 60

with DAG(
    dag_id=SPEC["dag_id"],
    description="E2E: a stalled triggerer's triggers adopted by another must not be cancelled when it resumes",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e", "cloudflows"],
) as dag:
    AlibabaCloudFlowStartExecutionOperator(
        task_id=SPEC["cloudflow"]["task_id"],
        flow_name=SPEC["cloudflow"]["flow_name"],
        execution_name=SPEC["cloudflow"]["execution_name"],
        input={"run_id": "{{ run_id }}"},
        deferrable=True,
        poll_interval=SPEC["poll_interval"],
        timeout=TIMEOUT,
        retries=0,
    )
    TencentBatchSubmitJobOperator(
        task_id=SPEC["batch"]["task_id"],
        placement={"Zone": "ap-guangzhou-3"},
        job={
            "JobName": SPEC["batch"]["job_name"],
            "Priority": 1,
            "Tasks": [
                {
                    "TaskName": SPEC["batch"]["task_name"],
                    "TaskInstanceNum": 1,
                    "EnvId": "env-demo0001",
                    "Application": {"DeliveryForm": "LOCAL", "Command": "python work.py"},
                }
            ],
        },
        deferrable=True,
        poll_interval=SPEC["poll_interval"],
        timeout=TIMEOUT,
        retries=0,
    )
