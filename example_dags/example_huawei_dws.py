"""Wait for a Huawei Cloud DWS cluster task (here a snapshot) to finish, from a deferrable sensor.

What it shows:

* ``HuaweiDwsClusterTaskSensor`` in deferrable mode: the DWS API only shows *ongoing* tasks, so the sensor
  follows the action view (``SNAPSHOTTING``), then decides the end from evidence (the ``SNAPSHOTTING_FAILED``
  view and the cluster's detail). Start it while the action is still running.
* ``cluster_id``, ``action_name`` and ``project_id`` are DAG params defaulting to the emulator demo scenario;
  ``project_id`` overrides the one in the ``huaweicloud_default`` connection.
* A downstream task prints the evidence the sensor based its verdict on (from the XCom).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_cloudflows.sensors import HuaweiDwsClusterTaskSensor

# 2 s suits the emulator demo; use 30-60 s against the real cloud (and mind DWS's API rate limits).
POKE_INTERVAL = 2.0
TIMEOUT = 4 * 60 * 60

with DAG(
    dag_id="example_huawei_dws",
    description="Wait for a Huawei DWS cluster task (deferrable sensor)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "huawei"],
    params={
        "cluster_id": Param("9f76c502-fc9c-4a52-8656-65d0da6e3d57", type="string", description="DWS cluster id"),
        "action_name": Param(
            "SNAPSHOTTING",
            type="string",
            enum=["GROWING", "RESTORING", "SNAPSHOTTING", "FINE_GRAINED_RESTORING"],
            description="The ongoing action to wait for",
        ),
        "project_id": Param("05f2cff45100d5112f4bc00b794ea08e", type="string", description="Huawei project id"),
    },
) as dag:
    wait_for_task = HuaweiDwsClusterTaskSensor(
        task_id="wait_for_dws_task",
        cluster_id="{{ params.cluster_id }}",
        action_name="{{ params.action_name }}",
        project_id="{{ params.project_id }}",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=TIMEOUT,
    )

    @task
    def report(state: dict[str, Any]) -> str:
        """Print how the task's end was established."""
        message = (
            f"DWS {state.get('action_name')} on {state['identifiers']['cluster_id']} is {state['status']} "
            f"(status={state['vendor_status']}; evidence: {state.get('evidence')}; RequestId {state.get('request_id')})"
        )
        print(message)
        return message

    report(wait_for_task.output)
