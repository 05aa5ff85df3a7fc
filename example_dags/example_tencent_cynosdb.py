"""Wait for a Tencent Cloud CynosDB (TDSQL-C) task flow, e.g. a cluster upgrade, from a deferrable sensor.

What it shows:

* ``TencentCynosdbFlowSensor`` in deferrable mode on ``DescribeFlow``: ``Status`` 2 (processing) keeps
  waiting in the triggerer, 0 succeeds, 1 fails.
* ``flow_id`` is a DAG param (an integer; the rendered template string is converted by the sensor). Its
  default matches the emulator's demo scenario; pass the id your CynosDB call returned to use it for real.
* A downstream task uses the sensor's XCom (the final state dict).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.sensors import TencentCynosdbFlowSensor

# 2 s suits the emulator demo; use 30-60 s against the real cloud.
POKE_INTERVAL = 2.0
TIMEOUT = 60 * 60

with DAG(
    dag_id="example_tencent_cynosdb",
    description="Wait for a Tencent CynosDB task flow (deferrable sensor)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "tencent"],
    params={
        "flow_id": Param(2001, type="integer", description="CynosDB task flow id (FlowId)"),
    },
) as dag:
    wait_for_flow = TencentCynosdbFlowSensor(
        task_id="wait_for_cynosdb_flow",
        flow_id="{{ params.flow_id }}",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=TIMEOUT,
    )

    @task
    def announce(state: dict[str, Any]) -> str:
        """Say which flow finished and how."""
        message = (
            f"CynosDB flow {state['identifiers']['flow_id']} is {state['status']} "
            f"(Status={state['vendor_status']}, RequestId {state.get('request_id')})"
        )
        print(message)
        return message

    announce(wait_for_flow.output)
