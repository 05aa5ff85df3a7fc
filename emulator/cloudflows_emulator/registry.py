"""The vendors and products the emulator serves by default.

Adding an API: write its module (operation, ``ServiceSpec``, builder) and list the spec under its vendor
here. Adding a vendor: write its ``VendorHandler`` module and add it to the list; request routing tries the
handlers in this order.
"""

from __future__ import annotations

import dataclasses

from cloudflows_emulator import alibaba_identity, huawei_identity, tencent_identity
from cloudflows_emulator.alibaba import AlibabaHandler
from cloudflows_emulator.batch import BATCH_SERVICE
from cloudflows_emulator.batch_jobs import BATCH_JOB_OPERATIONS
from cloudflows_emulator.cloudflow import CLOUDFLOW_SERVICE
from cloudflows_emulator.cynosdb import CYNOSDB_SERVICE
from cloudflows_emulator.dws import DWS_SERVICE
from cloudflows_emulator.dws_actions import DWS_ACTION_OPERATIONS
from cloudflows_emulator.emr import EMR_SERVICE
from cloudflows_emulator.handler import Operation, ServiceSpec, VendorHandler
from cloudflows_emulator.huawei import HuaweiHandler
from cloudflows_emulator.huawei_iam import IAM_SERVICE
from cloudflows_emulator.tencent import TencentHandler
from cloudflows_emulator.tencent_actions import CYNOSDB_ACTION_OPERATIONS, EMR_ACTION_OPERATIONS

__all__ = ["default_handlers"]


def default_handlers() -> list[VendorHandler]:
    """Fresh instances of every built-in vendor handler with its services."""
    return [
        TencentHandler(
            [
                _with(EMR_SERVICE, EMR_ACTION_OPERATIONS),
                _with(CYNOSDB_SERVICE, CYNOSDB_ACTION_OPERATIONS),
                _with(BATCH_SERVICE, BATCH_JOB_OPERATIONS),
                *tencent_identity.IDENTITY_SERVICES,
            ]
        ),
        AlibabaHandler([CLOUDFLOW_SERVICE, *alibaba_identity.IDENTITY_SERVICES]),
        HuaweiHandler([_with(DWS_SERVICE, DWS_ACTION_OPERATIONS), IAM_SERVICE, *huawei_identity.IDENTITY_SERVICES]),
        # The metadata services answer unsigned paths no API handler claims: tried last.
        *tencent_identity.identity_handlers(),
        *alibaba_identity.identity_handlers(),
        *huawei_identity.identity_handlers(),
    ]


def _with(spec: ServiceSpec, operations: tuple[Operation, ...]) -> ServiceSpec:
    # The write actions (operators) live in their own modules and join the product's status operation here.
    return dataclasses.replace(spec, operations=spec.operations + operations)
