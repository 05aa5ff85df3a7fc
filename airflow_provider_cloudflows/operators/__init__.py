"""Operators that start a cloud execution, wait for it, cancel it when Airflow stops waiting, and link to it."""

from airflow_provider_cloudflows.operators.alibaba import AlibabaCloudFlowStartExecutionOperator
from airflow_provider_cloudflows.operators.base import CloudExecutionOperator, CloudExecutionTimeout
from airflow_provider_cloudflows.operators.huawei import (
    HuaweiDwsCreateSnapshotOperator,
    HuaweiDwsResizeClusterOperator,
    HuaweiDwsRestoreClusterOperator,
)
from airflow_provider_cloudflows.operators.tencent import (
    TencentBatchSubmitJobOperator,
    TencentCynosdbFlowActionOperator,
    TencentEmrScaleOutClusterOperator,
    TencentEmrTerminateClusterNodesOperator,
)

__all__ = [
    "AlibabaCloudFlowStartExecutionOperator",
    "CloudExecutionOperator",
    "CloudExecutionTimeout",
    "HuaweiDwsCreateSnapshotOperator",
    "HuaweiDwsResizeClusterOperator",
    "HuaweiDwsRestoreClusterOperator",
    "TencentBatchSubmitJobOperator",
    "TencentCynosdbFlowActionOperator",
    "TencentEmrScaleOutClusterOperator",
    "TencentEmrTerminateClusterNodesOperator",
]
