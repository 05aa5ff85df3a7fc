"""Alibaba Cloud RPC, as the emulator serves it: CloudFlow (``fnf``), STS and the ECS metadata service.

``protocol`` is the HTTP side (ACS3 / RPC signature verification, envelopes); ``cloudflow_models`` holds the
CloudFlow builders and state rules and ``cloudflow`` its operations; this package assembles them into
handlers.
"""

from __future__ import annotations

from cloudflows_emulator.alibaba.cloudflow import CLOUDFLOW_SERVICE
from cloudflows_emulator.alibaba.cloudflow_models import cloudflow_execution, plan_cloudflow_execution
from cloudflows_emulator.alibaba.identity import (
    DEFAULT_ECS_ROLE,
    ECS_METADATA_SERVICE,
    IDENTITY_SERVICES,
    EcsMetadataHandler,
    set_ecs_imds,
    set_ecs_role,
)
from cloudflows_emulator.alibaba.protocol import DEFAULT_ALIBABA_CREDENTIALS, AlibabaHandler
from cloudflows_emulator.core.handler import VendorHandler

__all__ = [
    "DEFAULT_ALIBABA_CREDENTIALS",
    "DEFAULT_ECS_ROLE",
    "api_handler",
    "cloudflow_execution",
    "metadata_handlers",
    "plan_cloudflow_execution",
    "set_ecs_imds",
    "set_ecs_role",
]


def api_handler() -> VendorHandler:
    """A fresh handler of the signed APIs: CloudFlow and STS."""
    return AlibabaHandler([CLOUDFLOW_SERVICE, *IDENTITY_SERVICES])


def metadata_handlers() -> list[VendorHandler]:
    """Fresh handlers of what the API handler does not claim: the ECS metadata service."""
    return [EcsMetadataHandler([ECS_METADATA_SERVICE])]
