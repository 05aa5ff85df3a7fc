"""Every API the provider speaks, by name: the service specs (waits) and the start and cancel specs (writes).

One table, so that adding an API is one line here. Each spec is named by its import path and imported on
first use: looking one up loads only its own vendor's modules. The trigger rebuilds a cancel spec from its
name (its kwargs hold only the name and the identifiers, never a secret), so every cancel spec is listed.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_cloudflows.actions.base import CancelSpec, StartSpec
    from airflow_provider_cloudflows.services.base import ServiceSpec
    from airflow_provider_cloudflows.services.watching import WatchSpec


class Kind(enum.Enum):
    """What a registered name stands for (its value names it in errors)."""

    SERVICE = "service"
    START = "start action"
    CANCEL = "cancel action"
    WATCH = "watch"


_PACKAGE = "airflow_provider_cloudflows"

# name: (kind, spec class under the package)
_TABLE: dict[str, tuple[Kind, str]] = {
    "tencent_emr_flow": (Kind.SERVICE, "services.tencent_emr.TencentEmrFlow"),
    "tencent_cynosdb_flow": (Kind.SERVICE, "services.tencent_cynosdb.TencentCynosdbFlow"),
    "tencent_batch_task": (Kind.SERVICE, "services.tencent_batch.TencentBatchTask"),
    "tencent_batch_job": (Kind.SERVICE, "services.tencent_batch_job.TencentBatchJob"),
    "alibaba_cloudflow_execution": (Kind.SERVICE, "services.alibaba_cloudflow.AlibabaCloudFlowExecution"),
    "huawei_dws_cluster_task": (Kind.SERVICE, "services.huawei_dws.HuaweiDwsClusterTask"),
    "huawei_dws_job": (Kind.SERVICE, "services.huawei_dws_job.HuaweiDwsJob"),
    "tencent_batch_submit_job": (Kind.START, "actions.tencent.BatchSubmitJob"),
    "tencent_emr_scale_out_cluster": (Kind.START, "actions.tencent.EmrScaleOutCluster"),
    "tencent_emr_terminate_cluster_nodes": (Kind.START, "actions.tencent.EmrTerminateClusterNodes"),
    "tencent_cynosdb_flow_action": (Kind.START, "actions.tencent.CynosdbFlowAction"),
    "alibaba_cloudflow_start_execution": (Kind.START, "actions.alibaba.CloudFlowStartExecution"),
    "huawei_dws_create_snapshot": (Kind.START, "actions.huawei.DwsCreateSnapshot"),
    "huawei_dws_resize_cluster": (Kind.START, "actions.huawei.DwsResizeCluster"),
    "huawei_dws_restore_cluster": (Kind.START, "actions.huawei.DwsRestoreCluster"),
    "tencent_batch_terminate_job": (Kind.CANCEL, "actions.tencent.BatchTerminateJob"),
    "alibaba_cloudflow_stop_execution": (Kind.CANCEL, "actions.alibaba.CloudFlowStopExecution"),
    # Watches (lists read for executions that finished): added with their specs.
    "alibaba_cloudflow_executions": (Kind.WATCH, "services.alibaba_cloudflow_watch.AlibabaCloudFlowExecutions"),
    "tencent_batch_jobs": (Kind.WATCH, "services.tencent_batch_watch.TencentBatchJobs"),
    "huawei_dws_snapshots": (Kind.WATCH, "services.huawei_dws_snapshots_watch.HuaweiDwsSnapshots"),
}


def _of(kind: Kind) -> Mapping[str, str]:
    return MappingProxyType({name: path for name, (found, path) in _TABLE.items() if found is kind})


# The registered names of each kind, with their spec paths (read-only views).
SERVICES = _of(Kind.SERVICE)
STARTS = _of(Kind.START)
CANCELS = _of(Kind.CANCEL)
WATCHES = _of(Kind.WATCH)
_BY_KIND = {Kind.SERVICE: SERVICES, Kind.START: STARTS, Kind.CANCEL: CANCELS, Kind.WATCH: WATCHES}


def names(kind: Kind) -> list[str]:
    """Every name registered as ``kind``, sorted."""
    return sorted(_BY_KIND[kind])


def build(kind: Kind, name: str) -> Any:
    """A new instance of the spec registered as ``kind`` under ``name``; an unknown name is a ValueError."""
    try:
        path = _BY_KIND[kind][name]
    except KeyError:
        raise ValueError(f"unknown {kind.value} {name!r}; known: {names(kind)}") from None
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(f"{_PACKAGE}.{module}"), attr)()


def get_service(name: str) -> ServiceSpec:
    """The service spec registered under ``name``."""
    spec: ServiceSpec = build(Kind.SERVICE, name)
    return spec


def get_start(name: str) -> StartSpec:
    """The start spec registered under ``name``."""
    spec: StartSpec = build(Kind.START, name)
    return spec


def get_cancel(name: str) -> CancelSpec:
    """The cancel spec registered under ``name``."""
    spec: CancelSpec = build(Kind.CANCEL, name)
    return spec


def get_watch(name: str) -> WatchSpec:
    """The watch spec registered under ``name``."""
    spec: WatchSpec = build(Kind.WATCH, name)
    return spec
