"""Two start-operator DAGs for the operators phase of ``tests/e2e``.

Not a pytest module (no ``test_`` prefix): the real-stack end-to-end test parses it with a real dag-processor.
Both start a CloudFlow execution (``AlibabaCloudFlowStartExecutionOperator``) whose name, flow and scripted
length live in ``operator_lifecycle.json`` next to this file; the e2e driver registers those executions in the
emulator as running for many minutes, so the end of each run is decided by the driver:

- ``kill``: deferrable, no retries. The driver marks the deferred task failed through the REST API (a user's
  kill); the triggerer calls ``CloudRunTrigger.on_kill``, which must stop the execution (``StopExecution``).
- ``retry``: waits in the worker, ``retries=1``. The driver ``kill -9``s the first try's task process after the
  execution started; the second try must reattach to the running execution instead of starting another.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_cloudflows.operators import AlibabaCloudFlowStartExecutionOperator

SPEC = json.loads(Path(__file__).with_name("operator_lifecycle.json").read_text())
TIMEOUT = 60 * 60

with DAG(
    dag_id=SPEC["kill"]["dag_id"],
    description="E2E: a deferred start operator killed by a user must stop its execution",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e", "cloudflows"],
) as kill_dag:
    AlibabaCloudFlowStartExecutionOperator(
        task_id=SPEC["kill"]["task_id"],
        flow_name=SPEC["flow_name"],
        execution_name=SPEC["kill"]["execution_name"],
        input={"run_id": "{{ run_id }}"},
        deferrable=True,
        poll_interval=SPEC["poll_interval"],
        timeout=TIMEOUT,
        retries=0,
    )

with DAG(
    dag_id=SPEC["retry"]["dag_id"],
    description="E2E: a start operator whose first try dies must reattach on retry, not start twice",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e", "cloudflows"],
) as retry_dag:
    AlibabaCloudFlowStartExecutionOperator(
        task_id=SPEC["retry"]["task_id"],
        flow_name=SPEC["flow_name"],
        execution_name=SPEC["retry"]["execution_name"],
        input={"run_id": "{{ run_id }}"},
        deferrable=False,
        poll_interval=SPEC["poll_interval"],
        timeout=TIMEOUT,
        retries=1,
        retry_delay=timedelta(seconds=SPEC["retry"]["retry_delay_seconds"]),
    )
