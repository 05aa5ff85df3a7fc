"""DAGs for the operator tests: each Tencent operator deferrable and not, plus timeout and retry variants."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_cloudflows.compat import AirflowException
from airflow_provider_cloudflows.operators import (
    TencentBatchSubmitJobOperator,
    TencentCynosdbFlowActionOperator,
    TencentEmrScaleOutClusterOperator,
    TencentEmrTerminateClusterNodesOperator,
)

START = dt.datetime(2026, 1, 1)
FAST: dict[str, Any] = {"poll_interval": 0.6, "timeout": 30}
JOB = {
    "JobName": "{{ params.job_name }}",
    "Tasks": [{"TaskName": "A", "TaskInstanceNum": 2, "Application": {"Command": "echo hi", "DeliveryForm": "LOCAL"}}],
}


def batch(task_id: str = "run", **kwargs: Any) -> TencentBatchSubmitJobOperator:
    """A Batch job operator on the emulator's defaults."""
    return TencentBatchSubmitJobOperator(
        task_id=task_id, placement={"Zone": "ap-guangzhou-3"}, job=JOB, **{**FAST, **kwargs}
    )


class FailOnceAfterStart(TencentBatchSubmitJobOperator):
    """Fails its first try right after the job started (a worker lost mid-wait), to test reattaching."""

    def _persist(self, context: Any, record: dict[str, Any]) -> None:
        super()._persist(context, record)
        if context["ti"].try_number == 1:
            raise AirflowException("simulated transient failure after the start")


PARAMS = {"job_name": "demo"}

for mode, deferrable in (("deferrable", True), ("sync", False)):
    with DAG(f"op_batch_{mode}", schedule=None, start_date=START, params=PARAMS) as dag:
        batch(deferrable=deferrable)
    globals()[dag.dag_id] = dag

    with DAG(f"op_batch_timeout_{mode}", schedule=None, start_date=START, params=PARAMS) as dag:
        batch(deferrable=deferrable, timeout=1.5)
    globals()[dag.dag_id] = dag

    with DAG(f"op_emr_scale_out_{mode}", schedule=None, start_date=START) as dag:
        TencentEmrScaleOutClusterOperator(
            task_id="run", instance_id="emr-abc123", node_count="{{ 1 + 1 }}", deferrable=deferrable, **FAST
        )
    globals()[dag.dag_id] = dag

    with DAG(f"op_emr_terminate_nodes_{mode}", schedule=None, start_date=START) as dag:
        TencentEmrTerminateClusterNodesOperator(
            task_id="run", instance_id="emr-abc123", cvm_instance_ids=["ins-1"], deferrable=deferrable, **FAST
        )
    globals()[dag.dag_id] = dag

    with DAG(f"op_cynosdb_{mode}", schedule=None, start_date=START) as dag:
        TencentCynosdbFlowActionOperator(
            task_id="run", action="PauseServerless", cluster_id="cynosdbmysql-abc", deferrable=deferrable, **FAST
        )
    globals()[dag.dag_id] = dag

with DAG("op_batch_retry", schedule=None, start_date=START, params=PARAMS) as dag:
    FailOnceAfterStart(
        task_id="run",
        placement={"Zone": "ap-guangzhou-3"},
        job=JOB,
        deferrable=True,
        retries=1,
        retry_delay=timedelta(seconds=0),
        **FAST,
    )
globals()[dag.dag_id] = dag
