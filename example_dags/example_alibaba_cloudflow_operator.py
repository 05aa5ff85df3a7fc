"""Start an Alibaba Cloud CloudFlow execution, wait for it, and use its output downstream.

What it shows:

* ``AlibabaCloudFlowStartExecutionOperator`` starts ``StartExecution`` with a JSON input and waits, deferred,
  with long polling (``DescribeExecution``); the task returns the final state with ``Output`` parsed.
* The default execution name is derived from the DAG, task, run and map index: a retry whose execution is
  still running reattaches to it (CloudFlow is idempotent by name); a succeeded one is adopted
  (``on_retry="reattach"``), a failed one starts ``<name>-try<N>``.
* ``StopExecution`` stops the execution when the task is killed or its ``timeout`` passes.
* The "Alibaba CloudFlow execution" extra link opens the execution in the console of the region's site.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.operators import AlibabaCloudFlowStartExecutionOperator

POLL_INTERVAL = 2.0  # emulator demo; long polling makes the interval matter little against Alibaba Cloud
TIMEOUT = 60 * 60

with DAG(
    dag_id="example_alibaba_cloudflow_operator",
    description="Start a CloudFlow execution, wait for it (deferrable), use its Output",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "alibaba"],
    params={"flow_name": Param("demo_flow", type="string", description="CloudFlow flow name")},
) as dag:
    run_flow = AlibabaCloudFlowStartExecutionOperator(
        task_id="run_flow",
        flow_name="{{ params.flow_name }}",
        input={"date": "{{ dag_run.run_after | ds }}", "mode": "incremental"},
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=TIMEOUT,
    )

    @task
    def publish(state: dict[str, Any]) -> int:
        """Use the flow's Output (parsed JSON) downstream."""
        output = state["Output"]
        print(f"execution {state['Name']} {state['vendor_status']}: {output['rows']} rows into {output['table']}")
        return int(output["rows"])

    publish(run_flow.output)
