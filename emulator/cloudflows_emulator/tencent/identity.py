"""Tencent identity services of the emulator: STS (``AssumeRole``, ``AssumeRoleWithWebIdentity``) and the CVM
metadata service's role credentials.

STS is served by the Tencent handler, so ``AssumeRole`` is TC3-verified exactly like EMR or CynosDB (and must
be signed with a permanent key), while ``AssumeRoleWithWebIdentity`` arrives unsigned (``Authorization:
SKIP``) as the SDK sends it. Both validate ``RoleArn``, ``RoleSessionName`` and ``DurationSeconds`` as STS
documents them and answer a fresh key from :meth:`Emulator.issue_credentials`, so the emulator's
identity lifetime and ``issued`` count apply. The metadata service is a handler of its own (plain GETs
under ``/latest/meta-data/cam/``), so faults can fail or hang it like any API.

*Judgment*: any well-formed role ARN exists; the emulated instance has the role :data:`DEFAULT_CVM_ROLE`
bound (:func:`set_cvm_role` changes or removes it), and every metadata read issues a fresh key (the real
service may hand out the same key until shortly before it expires).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from airflow_provider_cloudflows.credentials import Credentials
from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import ExecutionKey
from cloudflows_emulator.core.handler import ApiCall, ApiError, EmulatedService, Operation
from cloudflows_emulator.core.metadata import MetadataHandler, MetadataWording, route_role
from cloudflows_emulator.tencent.protocol import optional_int, reject_unknown, require_str

__all__ = [
    "CVM_METADATA",
    "CVM_ROLE_PATH",
    "DEFAULT_CVM_ROLE",
    "IDENTITY_SERVICES",
    "STS_SERVICE",
    "CvmMetadataHandler",
    "oidc_tokens_seen",
    "set_cvm_role",
]

STS_VERSION = "2018-08-13"
DEFAULT_DURATION = 7200
MAX_DURATION = 43200
CVM_METADATA = "metadata"
"""The metadata service's name in the request log and for faults (actions ``role-name``, ``role-credentials``)."""
CVM_ROLE_PATH = "/latest/meta-data/cam/security-credentials/"
DEFAULT_CVM_ROLE = "airflow-cvm-role"
# How long the metadata service's keys live before the identity lifetime caps them.
CVM_KEY_LIFETIME = 7200
_ROLE_ARN = re.compile(r"qcs::cam::uin/[0-9]{1,20}:(roleName|role)/[\w+=,.@/-]{1,128}", re.ASCII)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,128}", re.ASCII)
_SCRATCH = "tencent_identity"


def set_cvm_role(emulator: Emulator, role: str | None) -> None:
    """Bind ``role`` to the emulated CVM (None: no role, the listing answers 404)."""
    emulator.scratch(_SCRATCH)["cvm_role"] = role


def oidc_tokens_seen(emulator: Emulator) -> list[str]:
    """The ``WebIdentityToken`` of every accepted ``AssumeRoleWithWebIdentity``, oldest first (tests)."""
    seen: list[str] = emulator.scratch(_SCRATCH).setdefault("oidc_tokens", [])
    return list(seen)


def _cvm_role(emulator: Emulator) -> str | None:
    state = emulator.scratch(_SCRATCH)
    role: str | None = state.get("cvm_role", DEFAULT_CVM_ROLE)
    return role


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _expiry_fields(creds: Credentials) -> dict[str, Any]:
    # ExpiredTime is documented as integer seconds: rounded down, so a client never trusts a key past its end.
    expired = int(creds.expires_at or 0)
    return {"ExpiredTime": expired, "Expiration": _iso(expired)}


# --- STS ---------------------------------------------------------------------------------------------------

_COMMON = frozenset({"RoleArn", "RoleSessionName", "DurationSeconds", "Policy", "Tags", "SourceIdentity"})


def _role_request(params: Mapping[str, Any], extra: frozenset[str]) -> int:
    """Check the parameters both actions share; the lifetime asked for."""
    reject_unknown(params, _COMMON | extra)
    role_arn = require_str(params, "RoleArn")
    if not _ROLE_ARN.fullmatch(role_arn):
        raise ApiError(
            "InvalidParameter.ParamError",
            f"RoleArn `{role_arn[:200]}` is not of the form qcs::cam::uin/<uin>:roleName/<name>.",
        )
    session = require_str(params, "RoleSessionName")
    if not _SESSION_NAME.fullmatch(session):
        raise ApiError("InvalidParameter.ParamError", "RoleSessionName must be 2-128 characters of [\\w+=,.@-].")
    duration = optional_int(params, "DurationSeconds", DEFAULT_DURATION)
    if not 0 < duration <= MAX_DURATION:
        raise ApiError(
            "InvalidParameter.OverTimeError", f"DurationSeconds must be from 1 to {MAX_DURATION} (got {duration})."
        )
    return duration


def _sts_answer(emulator: Emulator, duration: int) -> dict[str, Any]:
    creds = emulator.issue_credentials("tencent", duration)
    return {
        "Credentials": {"Token": creds.token, "TmpSecretId": creds.key_id, "TmpSecretKey": creds.secret},
        **_expiry_fields(creds),
    }


async def assume_role(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """A temporary key of the role, for a request signed with a permanent key."""
    if call.request.headers.get("x-tc-token"):
        raise ApiError(
            "AuthFailure.UnauthorizedOperation",
            "AssumeRole must be signed with a permanent SecretId, not a temporary key.",
        )
    duration = _role_request(call.params, frozenset({"ExternalId"}))
    return _sts_answer(emulator, duration)


async def assume_role_with_web_identity(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """A temporary key of the role for an OIDC token of an identity provider (unsigned request)."""
    duration = _role_request(call.params, frozenset({"ProviderId", "WebIdentityToken"}))
    for name in ("ProviderId", "WebIdentityToken"):
        if not require_str(call.params, name):
            raise ApiError("InvalidParameter.ParamError", f"The parameter `{name}` is empty.")
    emulator.scratch(_SCRATCH).setdefault("oidc_tokens", []).append(call.params["WebIdentityToken"])
    return _sts_answer(emulator, duration)


def _no_executions(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    raise ValueError("STS has no executions to script")


STS_SERVICE = EmulatedService(
    vendor="tencent",
    service="sts",
    operations=(
        Operation("sts", "AssumeRole", STS_VERSION, assume_role),
        Operation("sts", "AssumeRoleWithWebIdentity", STS_VERSION, assume_role_with_web_identity),
    ),
    execution_keys=_no_executions,
)
"""STS as served by the Tencent handler, with the documented rate limits (600/s and 20/s)."""

IDENTITY_SERVICES: tuple[EmulatedService, ...] = (STS_SERVICE,)
"""Services served by the vendor's API handler (signed like its other APIs)."""


# --- CVM metadata ------------------------------------------------------------------------------------------


async def role_name(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """The name of the role bound to the instance (text), 404 when none is."""
    role = _cvm_role(emulator)
    if role is None:
        raise ApiError("NotFound", "no role is bound to this instance", status=404)
    return {"text": role}


async def role_credentials(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """The bound role's temporary key; 404 for any other role name."""
    if call.extra["role"] != _cvm_role(emulator):
        raise ApiError("NotFound", "no such role is bound to this instance", status=404)
    creds = emulator.issue_credentials("tencent", CVM_KEY_LIFETIME)
    return {
        "TmpSecretId": creds.key_id,
        "TmpSecretKey": creds.secret,
        **_expiry_fields(creds),
        "Token": creds.token,
        "Code": "Success",
    }


CVM_METADATA_SERVICE = EmulatedService(
    vendor="tencent",
    service=CVM_METADATA,
    operations=(
        Operation(CVM_METADATA, "role-name", "latest", role_name),
        Operation(CVM_METADATA, "role-credentials", "latest", role_credentials),
    ),
    execution_keys=_no_executions,
)


class CvmMetadataHandler(MetadataHandler):
    """The CVM metadata service: unsigned GETs under ``/latest/meta-data/cam/``, text or JSON answers."""

    vendor = "tencent"
    wording = MetadataWording(
        throttled="too many requests",
        internal_error="internal error",
        invalid="bad request (injected by the emulator)",
        wrong_method="the metadata service answers GET only",
    )

    def claims(self, request: Request) -> bool:
        """Paths of the CAM role credentials."""
        return request.url.path.startswith("/latest/meta-data/cam/")

    def identify(self, call: ApiCall) -> None:
        """The listing, or one role's credentials (the role named by the last path segment)."""
        call.service = CVM_METADATA
        if not route_role(call, CVM_ROLE_PATH):
            raise ApiError("NotFound", "no such metadata path", status=404)
