"""A DWS cluster-task sensor in poke mode: the worker-side wait, through Airflow's task runner."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_cloudflows.sensors import HuaweiDwsClusterTaskSensor

CLUSTER = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"

with DAG("dws_poke", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dws_poke:
    HuaweiDwsClusterTaskSensor(
        task_id="wait",
        cluster_id=CLUSTER,
        action_name="SNAPSHOTTING",
        mode="poke",
        deferrable=False,
        poke_interval=0.2,
        timeout=60,
    )
