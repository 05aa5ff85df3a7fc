"""A deferrable wait on a role-based connection, for the identity phase of ``tests/e2e``.

Not a pytest module (no ``test_`` prefix): the real-stack end-to-end test parses it with a real dag-processor.
A ``TencentCynosdbFlowSensor`` whose connection assumes a role through the emulator's STS; its names and
timings live in ``identity.json`` next to this file. The driver caps the emulator's temporary keys at
``key_lifetime`` seconds and scripts the flow to succeed ``succeed_after`` seconds after the triggerer's first
poll, so the wait outlives several keys: the triggerer must refresh the key inside the wait, not fail on an
expired one.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_cloudflows.sensors import TencentCynosdbFlowSensor

SPEC = json.loads(Path(__file__).with_name("identity.json").read_text())

with DAG(
    dag_id=SPEC["dag_id"],
    description="E2E: a deferred wait on an assumed role outlives several temporary keys",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e", "cloudflows"],
) as dag:
    TencentCynosdbFlowSensor(
        task_id=SPEC["task_id"],
        flow_id=SPEC["flow_id"],
        tencentcloud_conn_id=SPEC["conn_id"],
        deferrable=True,
        poke_interval=SPEC["poke_interval"],
        timeout=SPEC["timeout"],
        retries=0,
    )
