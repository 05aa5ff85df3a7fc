"""Wait for a Tencent Cloud EMR cluster flow (a scale-out, a config change...) without holding a worker slot.

What it shows:

* ``TencentEmrFlowSensor`` in deferrable mode: one ``DescribeClusterFlowStatusDetail`` call from the worker,
  then the triggerer polls until ``FlowTotalStatus`` is terminal (2/3 succeed, -1/-3 fail with the failed
  stage's ``FailedReason`` and the RequestId in the error).
* The ids come from DAG ``params`` whose defaults match the local emulator's demo scenario, so the same DAG
  runs against the emulator (``scripts/demo.sh``) and, triggered with real ids and a real
  ``tencentcloud_default`` connection, against Tencent Cloud.
* The sensor returns the flow's final state (XCom); a downstream task reads the stages from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.sensors import TencentEmrFlowSensor

# 2 s keeps the emulator demo snappy; against a real cloud 30-60 s is plenty (EMR flows take minutes) and
# keeps you far from the API's rate limit.
POKE_INTERVAL = 2.0
# Give up after an hour: generous for a scale-out, and the failure is an AirflowSensorTimeout, not a hang.
TIMEOUT = 60 * 60

with DAG(
    dag_id="example_tencent_emr",
    description="Wait for a Tencent EMR flow (deferrable sensor)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "tencent"],
    params={
        "instance_id": Param("emr-demo01", type="string", description="EMR cluster id (emr-...)"),
        "flow_id": Param("1001", type="string", description="Flow id returned by the call that started the flow"),
    },
) as dag:
    wait_for_flow = TencentEmrFlowSensor(
        task_id="wait_for_emr_flow",
        instance_id="{{ params.instance_id }}",
        flow_id="{{ params.flow_id }}",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=TIMEOUT,
    )

    @task
    def summarize_flow(state: dict[str, Any]) -> dict[str, Any]:
        """Print the flow's stages as the sensor saw them last."""
        stages = state.get("StageDetails") or []
        print(
            f"EMR flow {state.get('FlowName')!r} is {state['status']} "
            f"(FlowTotalStatus={state['vendor_status']}, progress {state.get('FlowTotalProgress')}, "
            f"RequestId {state.get('request_id')})"
        )
        for stage in stages:
            span = f"{stage.get('Starttime')} .. {stage.get('Endtime')}"
            print(f"  stage {stage.get('Name')!r}: status {stage.get('Status')} ({span})")
        return {"flow_name": state.get("FlowName"), "stages": len(stages)}

    summarize_flow(wait_for_flow.output)
