"""DAGs for the Alibaba CloudFlow and Huawei DWS operator tests: deferrable and not, timeout and retry."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_cloudflows.compat import AirflowException
from airflow_provider_cloudflows.operators import (
    AlibabaCloudFlowStartExecutionOperator,
    HuaweiDwsCreateSnapshotOperator,
    HuaweiDwsResizeClusterOperator,
    HuaweiDwsRestoreClusterOperator,
)

START = dt.datetime(2026, 1, 1)
FAST: dict[str, Any] = {"poll_interval": 0.6, "timeout": 30}
CLUSTER = "3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f"


class FailOnceAfterStart(AlibabaCloudFlowStartExecutionOperator):
    """Fails its first try right after the execution started (a worker lost mid-wait), to test reattaching."""

    def _persist(self, context: Any, record: dict[str, Any]) -> None:
        super()._persist(context, record)
        if context["ti"].try_number == 1:
            raise AirflowException("simulated transient failure after the start")


def flow(task_id: str = "run", **kwargs: Any) -> AlibabaCloudFlowStartExecutionOperator:
    """A CloudFlow operator on the emulator's defaults."""
    return AlibabaCloudFlowStartExecutionOperator(
        task_id=task_id, flow_name="etl_flow", input={"day": "{{ ds }}"}, **{**FAST, **kwargs}
    )


for mode, deferrable in (("deferrable", True), ("sync", False)):
    with DAG(f"op_fnf_{mode}", schedule=None, start_date=START) as dag:
        flow(deferrable=deferrable)
    globals()[dag.dag_id] = dag

    with DAG(f"op_fnf_timeout_{mode}", schedule=None, start_date=START) as dag:
        flow(deferrable=deferrable, timeout=1.5)
    globals()[dag.dag_id] = dag

    with DAG(f"op_dws_snapshot_{mode}", schedule=None, start_date=START) as dag:
        HuaweiDwsCreateSnapshotOperator(
            task_id="run", cluster_id=CLUSTER, snapshot_name="snap-{{ ds_nodash }}", deferrable=deferrable, **FAST
        )
    globals()[dag.dag_id] = dag

    with DAG(f"op_dws_resize_{mode}", schedule=None, start_date=START) as dag:
        HuaweiDwsResizeClusterOperator(
            task_id="run", cluster_id=CLUSTER, node_count="{{ 1 + 2 }}", deferrable=deferrable, **FAST
        )
    globals()[dag.dag_id] = dag

    with DAG(f"op_dws_restore_{mode}", schedule=None, start_date=START) as dag:
        HuaweiDwsRestoreClusterOperator(
            task_id="run",
            snapshot_id="{{ dag_run.conf.get('snapshot_id', 'none') }}",
            restore={"name": "restored"},
            deferrable=deferrable,
            **FAST,
        )
    globals()[dag.dag_id] = dag

with DAG("op_fnf_retry", schedule=None, start_date=START) as dag:
    FailOnceAfterStart(
        task_id="run",
        flow_name="etl_flow",
        deferrable=True,
        retries=1,
        retry_delay=timedelta(seconds=0),
        **FAST,
    )
globals()[dag.dag_id] = dag
