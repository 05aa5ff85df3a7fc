"""Start and cancel specs: one small declaration per vendor write call, looked up by name.

The trigger rebuilds a cancel spec from its registered name (the trigger's kwargs hold only the name and
the identifiers, never a secret), so every cancel spec is listed here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_cloudflows.actions.base import CancelSpec, StartSpec

_STARTS = {
    "tencent_batch_submit_job": "airflow_provider_cloudflows.actions.tencent.BatchSubmitJob",
    "tencent_emr_scale_out_cluster": "airflow_provider_cloudflows.actions.tencent.EmrScaleOutCluster",
    "tencent_emr_terminate_cluster_nodes": "airflow_provider_cloudflows.actions.tencent.EmrTerminateClusterNodes",
    "tencent_cynosdb_flow_action": "airflow_provider_cloudflows.actions.tencent.CynosdbFlowAction",
    "alibaba_cloudflow_start_execution": "airflow_provider_cloudflows.actions.alibaba.CloudFlowStartExecution",
    "huawei_dws_create_snapshot": "airflow_provider_cloudflows.actions.huawei.DwsCreateSnapshot",
    "huawei_dws_resize_cluster": "airflow_provider_cloudflows.actions.huawei.DwsResizeCluster",
    "huawei_dws_restore_cluster": "airflow_provider_cloudflows.actions.huawei.DwsRestoreCluster",
}
_CANCELS = {
    "tencent_batch_terminate_job": "airflow_provider_cloudflows.actions.tencent.BatchTerminateJob",
    "alibaba_cloudflow_stop_execution": "airflow_provider_cloudflows.actions.alibaba.CloudFlowStopExecution",
}


def get_start(name: str) -> StartSpec:
    """The start spec registered under ``name``."""
    return _build(_STARTS, name, "start")  # type: ignore[no-any-return]


def get_cancel(name: str) -> CancelSpec:
    """The cancel spec registered under ``name``."""
    return _build(_CANCELS, name, "cancel")  # type: ignore[no-any-return]


def _build(table: dict[str, str], name: str, kind: str) -> Any:
    try:
        path = table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} action {name!r}; known: {sorted(table)}") from None
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)()
