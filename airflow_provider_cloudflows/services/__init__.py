"""Service specs: one small declaration per vendor API, looked up by name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_cloudflows.services.base import ServiceSpec

_SPECS = {
    "tencent_emr_flow": "airflow_provider_cloudflows.services.tencent_emr.TencentEmrFlow",
    "tencent_cynosdb_flow": "airflow_provider_cloudflows.services.tencent_cynosdb.TencentCynosdbFlow",
    "tencent_batch_task": "airflow_provider_cloudflows.services.tencent_batch.TencentBatchTask",
    "tencent_batch_job": "airflow_provider_cloudflows.services.tencent_batch_job.TencentBatchJob",
    "alibaba_cloudflow_execution": "airflow_provider_cloudflows.services.alibaba_cloudflow.AlibabaCloudFlowExecution",
    "huawei_dws_cluster_task": "airflow_provider_cloudflows.services.huawei_dws.HuaweiDwsClusterTask",
    "huawei_dws_job": "airflow_provider_cloudflows.services.huawei_dws_job.HuaweiDwsJob",
}


def service_names() -> list[str]:
    """Every registered service."""
    return sorted(_SPECS)


def get_service(name: str) -> ServiceSpec:
    """The spec registered under ``name``."""
    try:
        path = _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown service {name!r}; known: {service_names()}") from None
    spec: ServiceSpec = _load(path)()
    return spec


def _load(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)
