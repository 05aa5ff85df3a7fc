"""Huawei Cloud (APIG, SDK-HMAC-SHA256), as the emulator serves it: DWS, IAM and the ECS metadata service.

``protocol`` is the HTTP side (REST routing, AK/SK verification, envelopes); ``dws_models`` holds the DWS
builders and state rules and ``dws`` / ``dws_actions`` its operations; ``dws_snapshots`` lists the snapshots
(``plan_dws_snapshot`` scripts one); this package assembles them into handlers.
"""

from __future__ import annotations

import dataclasses

from cloudflows_emulator.core.handler import VendorHandler
from cloudflows_emulator.huawei.dws import DWS_SERVICE
from cloudflows_emulator.huawei.dws_actions import DWS_ACTION_OPERATIONS, dws_job, plan_dws_action
from cloudflows_emulator.huawei.dws_models import (
    ACTION_NAMES,
    FAILURE_VIEWS,
    LIST_CLUSTER_DETAILS,
    TRY_LATER,
    DwsPhase,
    dws_answer,
    dws_cluster,
    dws_record,
    dws_task,
    dws_try_later,
)
from cloudflows_emulator.huawei.dws_snapshots import (
    LIST_SNAPSHOTS,
    SNAPSHOT_OPERATIONS,
    dws_snapshot,
    plan_dws_snapshot,
)
from cloudflows_emulator.huawei.iam import DOMAIN_ID, IAM_SERVICE, LIST_PROJECTS, iam_answer
from cloudflows_emulator.huawei.identity import (
    IDENTITY_SERVICES,
    METADATA_SPEC,
    HuaweiMetadataHandler,
    agencies_assumed,
    ecs_metadata,
    id_tokens_received,
)
from cloudflows_emulator.huawei.protocol import (
    DEFAULT_HUAWEI_CREDENTIALS,
    DEFAULT_PROJECT_ID,
    TOKEN_EXPIRED,
    HuaweiHandler,
)
from cloudflows_emulator.huawei.scripted import script_error

__all__ = [
    "ACTION_NAMES",
    "DEFAULT_HUAWEI_CREDENTIALS",
    "DEFAULT_PROJECT_ID",
    "DOMAIN_ID",
    "FAILURE_VIEWS",
    "LIST_CLUSTER_DETAILS",
    "LIST_PROJECTS",
    "LIST_SNAPSHOTS",
    "TOKEN_EXPIRED",
    "TRY_LATER",
    "DwsPhase",
    "agencies_assumed",
    "api_handler",
    "dws_answer",
    "dws_cluster",
    "dws_job",
    "dws_record",
    "dws_snapshot",
    "dws_task",
    "dws_try_later",
    "ecs_metadata",
    "iam_answer",
    "id_tokens_received",
    "metadata_handlers",
    "plan_dws_action",
    "plan_dws_snapshot",
    "script_error",
]


def api_handler() -> VendorHandler:
    """A fresh handler of the signed APIs: DWS (status reads, snapshots and write actions) and IAM."""
    dws = dataclasses.replace(
        DWS_SERVICE,
        operations=DWS_SERVICE.operations + SNAPSHOT_OPERATIONS + DWS_ACTION_OPERATIONS,
        builders={**DWS_SERVICE.builders, "dws_snapshot": dws_snapshot},
    )
    return HuaweiHandler([dws, IAM_SERVICE, *IDENTITY_SERVICES])


def metadata_handlers() -> list[VendorHandler]:
    """Fresh handlers of what the API handler does not claim: the ECS metadata service."""
    return [HuaweiMetadataHandler([METADATA_SPEC])]
