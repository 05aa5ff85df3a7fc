"""DAGs for the credential-lifetime tests: per vendor, a deferred wait, a poke-mode sensor and an operator,
each on an execution that outlives several lifetimes of the connection's temporary key.

The connection (``identity_<vendor>``) is set by the test for each source: an assumed role, the instance's
metadata, a pod's OIDC token, or nothing stored (the default chain).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG

from airflow_provider_cloudflows.operators import (
    AlibabaCloudFlowStartExecutionOperator,
    HuaweiDwsCreateSnapshotOperator,
    TencentCynosdbFlowActionOperator,
)
from airflow_provider_cloudflows.sensors import (
    AlibabaCloudFlowExecutionSensor,
    HuaweiDwsClusterTaskSensor,
    TencentCynosdbFlowSensor,
)

START = dt.datetime(2026, 1, 1)
# Seconds an emulated temporary key lives (Tencent's whole-second ExpiredTime needs at least 1); each
# execution runs for SPAN, over three lifetimes.
LIFETIME = 1.0
SPAN = 3.2 * LIFETIME
WAIT: dict[str, Any] = {"poke_interval": 0.2, "timeout": 60}
POKE: dict[str, Any] = {"mode": "poke", "deferrable": False, "poke_interval": 0.2, "timeout": 60}
OPERATE: dict[str, Any] = {"deferrable": True, "poll_interval": 0.2, "timeout": 60}
# Execution ids the tests script.
CYNOSDB_FLOWS = {"wait": 7101, "poke": 7102}
CYNOSDB_CLUSTER = "cynosdbmysql-identity"
FLOW = "identity_flow"
EXECUTIONS = {"wait": "identity-wait", "poke": "identity-poke"}
DWS_CLUSTERS = {
    "wait": "5a1d7c9e-0b2f-4e6a-8c3d-1f2e3d4c5b01",
    "poke": "5a1d7c9e-0b2f-4e6a-8c3d-1f2e3d4c5b02",
    "operate": "5a1d7c9e-0b2f-4e6a-8c3d-1f2e3d4c5b03",
}

with DAG("identity_tencent", schedule=None, start_date=START) as identity_tencent:
    conn = {"tencentcloud_conn_id": "identity_tencent"}
    TencentCynosdbFlowSensor(task_id="wait", flow_id=CYNOSDB_FLOWS["wait"], deferrable=True, **conn, **WAIT)
    TencentCynosdbFlowSensor(task_id="poke", flow_id=CYNOSDB_FLOWS["poke"], **conn, **POKE)
    TencentCynosdbFlowActionOperator(
        task_id="operate", action="PauseServerless", cluster_id=CYNOSDB_CLUSTER, **conn, **OPERATE
    )

with DAG("identity_alibaba", schedule=None, start_date=START) as identity_alibaba:
    conn = {"alibabacloud_conn_id": "identity_alibaba"}
    for task_id in ("wait", "poke"):
        AlibabaCloudFlowExecutionSensor(
            task_id=task_id,
            flow_name=FLOW,
            execution_name=EXECUTIONS[task_id],
            **conn,
            **({"deferrable": True, **WAIT} if task_id == "wait" else POKE),
        )
    AlibabaCloudFlowStartExecutionOperator(task_id="operate", flow_name=FLOW, **conn, **OPERATE)

with DAG("identity_huawei", schedule=None, start_date=START) as identity_huawei:
    conn = {"huaweicloud_conn_id": "identity_huawei"}
    HuaweiDwsClusterTaskSensor(
        task_id="wait", cluster_id=DWS_CLUSTERS["wait"], action_name="SNAPSHOTTING", deferrable=True, **conn, **WAIT
    )
    HuaweiDwsClusterTaskSensor(
        task_id="poke", cluster_id=DWS_CLUSTERS["poke"], action_name="SNAPSHOTTING", **conn, **POKE
    )
    HuaweiDwsCreateSnapshotOperator(
        task_id="operate", cluster_id=DWS_CLUSTERS["operate"], snapshot_name="identity-snap", **conn, **OPERATE
    )
