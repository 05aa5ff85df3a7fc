"""A hundred CloudFlow waits started from the trigger, for the start-from-trigger phase of ``tests/e2e``.

Not a pytest module (no ``test_`` prefix): the real-stack end-to-end test parses it with a real dag-processor.
Every sensor has ``start_from_trigger=True``: the scheduler hands it straight to the triggerer. A hundred wait
on executions that succeed, two on executions that never end (one with ``soft_fail``) with a short timeout, and
one on an execution that fails, with a retry. Names and timings live in ``start_from_trigger.json`` next to
this file, which the driver also reads to script the emulator.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_cloudflows.sensors import AlibabaCloudFlowExecutionSensor

SPEC = json.loads(Path(__file__).with_name("start_from_trigger.json").read_text())

with DAG(
    dag_id=SPEC["dag_id"],
    description="E2E: a hundred waits that never take a worker slot, and the timeouts that resume one",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_tasks=SPEC["successes"] + len(SPEC["others"]),
    tags=["e2e", "cloudflows"],
) as dag:
    for number in range(SPEC["successes"]):
        AlibabaCloudFlowExecutionSensor(
            task_id=f"{SPEC['success_task_prefix']}{number:03d}",
            flow_name=SPEC["flow_name"],
            execution_name=f"sft_ok_{number:03d}",
            deferrable=True,
            start_from_trigger=True,
            poke_interval=SPEC["poke_interval"],
            timeout=SPEC["success_timeout"],
            retries=0,
        )
    for task_id, other in SPEC["others"].items():
        AlibabaCloudFlowExecutionSensor(
            task_id=task_id,
            flow_name=SPEC["flow_name"],
            execution_name=other["execution_name"],
            deferrable=True,
            start_from_trigger=True,
            poke_interval=SPEC["poke_interval"],
            timeout=other["timeout"],
            soft_fail=other["soft_fail"],
            retries=other["retries"],
            retry_delay=timedelta(seconds=1),
        )
