"""Operators that start a cloud execution, wait for it, cancel it when Airflow stops waiting, and link to it."""

from airflow_provider_cloudflows.operators.base import CloudExecutionOperator, CloudExecutionTimeout
from airflow_provider_cloudflows.operators.tencent import (
    TencentBatchSubmitJobOperator,
    TencentCynosdbFlowActionOperator,
    TencentEmrScaleOutClusterOperator,
    TencentEmrTerminateClusterNodesOperator,
)

__all__ = [
    "CloudExecutionOperator",
    "CloudExecutionTimeout",
    "TencentBatchSubmitJobOperator",
    "TencentCynosdbFlowActionOperator",
    "TencentEmrScaleOutClusterOperator",
    "TencentEmrTerminateClusterNodesOperator",
]
