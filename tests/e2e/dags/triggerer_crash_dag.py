"""A dozen deferrable cloud waits at once, for the triggerer-crash phase of ``tests/e2e``.

Not a pytest module (no ``test_`` prefix): the real-stack end-to-end test parses it with a real dag-processor.
The waits, their identifiers, timeouts and expected outcomes live in ``crash_waits.json`` next to this file,
which the e2e driver also reads to script the emulator; the waits with a short ``timeout`` are scheduled last
(lowest priority) so that their deadline passes while the e2e driver keeps the triggerer down.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_cloudflows import sensors

SPEC = json.loads(Path(__file__).with_name("crash_waits.json").read_text())

with DAG(
    dag_id=SPEC["dag_id"],
    description="E2E: many deferrable cloud waits across services, for the triggerer crash test",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_tasks=32,
    tags=["e2e", "cloudflows"],
) as dag:
    for wait in SPEC["waits"]:
        sensor_class = getattr(sensors, wait["sensor"])
        sensor_class(
            task_id=wait["task_id"],
            **wait["identifiers"],
            deferrable=True,
            poke_interval=SPEC["poke_interval"],
            timeout=wait["timeout"],
            soft_fail=wait.get("soft_fail", False),
            retries=0,
            # Short-timeout waits start last, so their deadline falls after the triggerer is killed.
            priority_weight=1 if wait["timeout"] < 60 else 10,
            weight_rule="absolute",
        )
