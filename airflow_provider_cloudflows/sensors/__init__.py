"""Sensors: thin wrappers over the shared wait, in poke, reschedule and deferrable modes."""

from airflow_provider_cloudflows.sensors.alibaba import AlibabaCloudFlowExecutionSensor
from airflow_provider_cloudflows.sensors.base import CloudExecutionSensor
from airflow_provider_cloudflows.sensors.huawei import HuaweiDwsClusterTaskSensor
from airflow_provider_cloudflows.sensors.huawei_dws_job import HuaweiDwsJobSensor
from airflow_provider_cloudflows.sensors.tencent import (
    TencentBatchTaskSensor,
    TencentCynosdbFlowSensor,
    TencentEmrFlowSensor,
)
from airflow_provider_cloudflows.sensors.tencent_batch_job import TencentBatchJobSensor

__all__ = [
    "AlibabaCloudFlowExecutionSensor",
    "CloudExecutionSensor",
    "HuaweiDwsClusterTaskSensor",
    "HuaweiDwsJobSensor",
    "TencentBatchJobSensor",
    "TencentBatchTaskSensor",
    "TencentCynosdbFlowSensor",
    "TencentEmrFlowSensor",
]
