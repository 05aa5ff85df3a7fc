"""The vendors and products the emulator serves by default.

Adding an API: write its module (operation, ``ServiceSpec``, builder) and list the spec under its vendor
here. Adding a vendor: write its ``VendorHandler`` module and add it to the list; request routing tries the
handlers in this order.
"""

from __future__ import annotations

from airflow_provider_cloudflows.emulator.alibaba import AlibabaHandler
from airflow_provider_cloudflows.emulator.batch import BATCH_SERVICE
from airflow_provider_cloudflows.emulator.cloudflow import CLOUDFLOW_SERVICE
from airflow_provider_cloudflows.emulator.cynosdb import CYNOSDB_SERVICE
from airflow_provider_cloudflows.emulator.dws import DWS_SERVICE
from airflow_provider_cloudflows.emulator.emr import EMR_SERVICE
from airflow_provider_cloudflows.emulator.handler import VendorHandler
from airflow_provider_cloudflows.emulator.huawei import HuaweiHandler
from airflow_provider_cloudflows.emulator.tencent import TencentHandler

__all__ = ["default_handlers"]


def default_handlers() -> list[VendorHandler]:
    """Fresh instances of every built-in vendor handler with its services."""
    return [
        TencentHandler([EMR_SERVICE, CYNOSDB_SERVICE, BATCH_SERVICE]),
        AlibabaHandler([CLOUDFLOW_SERVICE]),
        HuaweiHandler([DWS_SERVICE]),
    ]
