"""Tencent Cloud API 3.0, as the emulator serves it: EMR, CynosDB and Batch, STS and the CVM metadata service.

``protocol`` is the HTTP side (TC3 verification, envelopes); each product module holds its builders, state
rules and operations; this package assembles them into handlers, the one place that lists them.
"""

from __future__ import annotations

import dataclasses

from cloudflows_emulator.core.handler import EmulatedService, Operation, VendorHandler
from cloudflows_emulator.tencent.actions import (
    CYNOSDB_ACTION_OPERATIONS,
    EMR_ACTION_OPERATIONS,
    plan_cynosdb_flow,
    plan_emr_flow,
)
from cloudflows_emulator.tencent.batch import BATCH_SERVICE, BatchPhase, batch_task
from cloudflows_emulator.tencent.batch_job_models import plan_batch_job
from cloudflows_emulator.tencent.batch_jobs import BATCH_JOB_OPERATIONS, submit_batch_job
from cloudflows_emulator.tencent.cynosdb import CYNOSDB_SERVICE, FAILED, PROCESSING, SUCCEEDED, cynosdb_flow
from cloudflows_emulator.tencent.emr import EMR_SERVICE, EmrPhase, emr_flow
from cloudflows_emulator.tencent.identity import (
    CVM_METADATA_SERVICE,
    DEFAULT_CVM_ROLE,
    IDENTITY_SERVICES,
    CvmMetadataHandler,
    oidc_tokens_seen,
    set_cvm_role,
)
from cloudflows_emulator.tencent.protocol import DEFAULT_TENCENT_CREDENTIALS, TencentHandler

__all__ = [
    "DEFAULT_CVM_ROLE",
    "DEFAULT_TENCENT_CREDENTIALS",
    "FAILED",
    "PROCESSING",
    "SUCCEEDED",
    "BatchPhase",
    "EmrPhase",
    "api_handler",
    "batch_task",
    "cynosdb_flow",
    "emr_flow",
    "metadata_handlers",
    "oidc_tokens_seen",
    "plan_batch_job",
    "plan_cynosdb_flow",
    "plan_emr_flow",
    "set_cvm_role",
    "submit_batch_job",
]


def api_handler() -> VendorHandler:
    """A fresh handler of the signed APIs: each product's status reads, its write actions, and STS."""
    return TencentHandler(
        [
            _with_operations(EMR_SERVICE, EMR_ACTION_OPERATIONS),
            _with_operations(CYNOSDB_SERVICE, CYNOSDB_ACTION_OPERATIONS),
            _with_operations(BATCH_SERVICE, BATCH_JOB_OPERATIONS),
            *IDENTITY_SERVICES,
        ]
    )


def metadata_handlers() -> list[VendorHandler]:
    """Fresh handlers of what the API handler does not claim: the CVM metadata service."""
    return [CvmMetadataHandler([CVM_METADATA_SERVICE])]


def _with_operations(spec: EmulatedService, operations: tuple[Operation, ...]) -> EmulatedService:
    # The write actions live in their own modules and join the product's status reads here.
    return dataclasses.replace(spec, operations=spec.operations + operations)
