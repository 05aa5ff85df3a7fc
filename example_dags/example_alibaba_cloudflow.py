"""Wait for an Alibaba Cloud CloudFlow (Serverless Workflow) execution and use its Output downstream.

What it shows:

* ``AlibabaCloudFlowExecutionSensor`` in deferrable mode: the triggerer long-polls ``DescribeExecution``
  (``WaitTimeSeconds``), so the end is seen within about a second with very few requests. Failed, Stopped
  and TimedOut executions fail the task naming the failing step and its cause.
* ``flow_name`` / ``execution_name`` are DAG params defaulting to the emulator demo scenario's execution.
* The sensor's XCom carries ``Output`` parsed from JSON; the downstream task reads ``rows`` from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.sensors import AlibabaCloudFlowExecutionSensor

# The trigger long-polls, so this is mostly the pause between long polls and the sensor's retry pace;
# 2 s suits the demo, 30-60 s is fine for a real cloud.
POKE_INTERVAL = 2.0
TIMEOUT = 2 * 60 * 60

with DAG(
    dag_id="example_alibaba_cloudflow",
    description="Wait for an Alibaba CloudFlow execution (deferrable sensor) and use its Output",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "alibaba"],
    params={
        "flow_name": Param("nightly_etl", type="string", description="CloudFlow flow name"),
        "execution_name": Param("demo_run", type="string", description="Execution name"),
    },
) as dag:
    wait_for_execution = AlibabaCloudFlowExecutionSensor(
        task_id="wait_for_cloudflow_execution",
        flow_name="{{ params.flow_name }}",
        execution_name="{{ params.execution_name }}",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=TIMEOUT,
    )

    @task
    def use_output(state: dict[str, Any]) -> int | None:
        """Read the execution's Output (parsed JSON) and hand ``rows`` on."""
        output = state.get("Output")
        rows = output.get("rows") if isinstance(output, dict) else None
        print(
            f"CloudFlow execution {state.get('FlowName')}/{state.get('Name')} is {state['status']} "
            f"(Status={state['vendor_status']}); Output={output!r}; rows={rows}"
        )
        return rows

    use_output(wait_for_execution.output)
