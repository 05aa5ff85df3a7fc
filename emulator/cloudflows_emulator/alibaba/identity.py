"""Alibaba identity services of the emulator: STS (``AssumeRole``, ``AssumeRoleWithOIDC``) and the ECS metadata
service's RAM role credentials, IMDSv2 tokens included.

STS is served by the Alibaba handler, so ``AssumeRole`` is verified like CloudFlow's RPC calls (a bad signature
gets the same 403), while ``AssumeRoleWithOIDC`` arrives unsigned, as the SDK sends it. Both validate their
parameters as STS documents them (``RoleArn`` ``acs:ram::<uid>:role/<name>``, ``RoleSessionName`` 2-64
characters, ``DurationSeconds`` 900 to the role's maximum, 3600 by default) and answer a fresh key from
:meth:`Emulator.issue_credentials`, so the emulator's identity lifetime and ``issued`` count apply. The
metadata service is a handler of its own (``PUT /latest/api/token`` and GETs under
``/latest/meta-data/ram/``), so faults can fail or hang it like any API: a GET with an unknown or expired
metadata token is refused 401, and one without a token 403 while IMDSv1 is disabled (:func:`set_ecs_imds`).

*Judgment*: any well-formed role ARN, OIDC provider ARN and JWT-shaped OIDC token is accepted (no trust
policy is emulated); the service names are ``alibaba-sts`` and ``alibaba-metadata`` so that faults and rate
limits never collide with another vendor's STS; STS declares no rate limit (none is documented per action);
the emulated ECS has the role :data:`DEFAULT_ECS_ROLE` bound (:func:`set_ecs_role`), and every metadata read
issues a fresh key (the real service hands out the same key until shortly before it expires).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from airflow_provider_cloudflows.credentials import Credentials
from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import ExecutionKey
from cloudflows_emulator.core.handler import ApiCall, ApiError, EmulatedService, Operation
from cloudflows_emulator.core.metadata import MetadataHandler, route_role

__all__ = [
    "DEFAULT_ECS_ROLE",
    "ECS_METADATA",
    "IDENTITY_SERVICES",
    "STS",
    "STS_SERVICE",
    "EcsMetadataHandler",
    "set_ecs_imds",
    "set_ecs_role",
]

STS = "alibaba-sts"
STS_VERSION = "2015-04-01"
ECS_METADATA = "alibaba-metadata"
"""The metadata service's name in the request log and for faults (actions ``token``, ``role-name``,
``role-credentials``)."""
DEFAULT_DURATION = 3600
MIN_DURATION = 900
ROLE_MAX_SESSION = 3600
"""A RAM role's maximum session duration by default (an account may raise it to 12 hours)."""
DEFAULT_ECS_ROLE = "airflow-ecs-role"
ECS_KEY_LIFETIME = 6 * 3600
TOKEN_PATH = "/latest/api/token"
ROLE_PATH = "/latest/meta-data/ram/security-credentials/"
TOKEN_TTL_HEADER = "x-aliyun-ecs-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aliyun-ecs-metadata-token"
MAX_TOKEN_TTL = 21600
_ROLE_ARN = re.compile(r"acs:ram::([0-9]{1,20}):role/([A-Za-z0-9._-]{1,64})")
_PROVIDER_ARN = re.compile(r"acs:ram::[0-9]{1,20}:oidc-provider/[A-Za-z0-9._-]{1,128}")
_SESSION_NAME = re.compile(r"[A-Za-z0-9.@_-]{2,64}")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9=,.@:/_-]{2,1224}")
_JWT_PART = re.compile(r"[A-Za-z0-9_-]+")
_SCRATCH = "alibaba_identity"


def set_ecs_role(emulator: Emulator, role: str | None) -> None:
    """Bind ``role`` to the emulated ECS (None: no role, the role listing answers 404)."""
    emulator.scratch(_SCRATCH)["ecs_role"] = role


def set_ecs_imds(emulator: Emulator, *, v1: bool = True, v2: bool = True) -> None:
    """Which metadata access modes the emulated ECS allows: ``v1=False`` refuses reads without a token
    (IMDSv2 enforced), ``v2=False`` answers the token request 404 (a service without IMDSv2)."""
    state = emulator.scratch(_SCRATCH)
    state["imds_v1"], state["imds_v2"] = v1, v2


def _expiration(creds: Credentials) -> str:
    # To the second, rounded down, as STS writes it: a client never believes a key lives longer than it does.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(creds.expires_at or 0)))


def _credentials(creds: Credentials) -> dict[str, Any]:
    return {
        "AccessKeyId": creds.key_id,
        "AccessKeySecret": creds.secret,
        "SecurityToken": creds.token,
        "Expiration": _expiration(creds),
    }


def _invalid(name: str, message: str | None = None) -> ApiError:
    return ApiError(f"InvalidParameter.{name}", message or f"The parameter {name} is wrongly formed.", 400)


def _required(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(f"Missing{name}", f"{name} is mandatory for this action.", 400)
    return value


def _role(params: Mapping[str, Any]) -> tuple[str, str, str, int]:
    """``RoleArn`` (its account and role name), ``RoleSessionName`` and ``DurationSeconds``, as STS checks them."""
    arn = _required(params, "RoleArn")
    match = _ROLE_ARN.fullmatch(arn)
    if match is None:
        raise _invalid("RoleArn")
    session = _required(params, "RoleSessionName")
    if not _SESSION_NAME.fullmatch(session):
        raise _invalid("RoleSessionName")
    raw = params.get("DurationSeconds", str(DEFAULT_DURATION))
    if not isinstance(raw, str) or not raw.isdigit() or not MIN_DURATION <= int(raw) <= ROLE_MAX_SESSION:
        raise _invalid("DurationSeconds", "The Min/Max value of DurationSeconds is 15min/1hr.")
    return match.group(1), match.group(2), session, int(raw)


def _assumed(emulator: Emulator, params: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    account, name, session, duration = _role(params)
    creds = emulator.issue_credentials("alibaba", duration)
    user = {"Arn": f"acs:ram::{account}:role/{name}/{session}", "AssumedRoleId": f"3{account[:17]}:{session}"}
    return {"AssumedRoleUser": user, "Credentials": _credentials(creds)}, session


async def assume_role(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """A temporary key of the role, for a caller whose signature the handler verified."""
    external_id = call.params.get("ExternalId")
    if external_id is not None and not _EXTERNAL_ID.fullmatch(str(external_id)):
        raise _invalid("ExternalId")
    answer, _ = _assumed(emulator, call.params)
    return answer


def _claims(token: str) -> dict[str, Any]:
    """The claims of a JWT-shaped token (three base64url parts); the signature is not checked."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_JWT_PART.fullmatch(part) for part in parts):
        raise _invalid("OIDCToken", "The parameter OIDCToken is not a valid JWT.")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise _invalid("OIDCToken", "The parameter OIDCToken is not a valid JWT.") from None
    if not isinstance(claims, dict):
        raise _invalid("OIDCToken", "The parameter OIDCToken is not a valid JWT.")
    return claims


async def assume_role_with_oidc(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """A temporary key of the role for the bearer of a well-formed OIDC token of a well-formed provider."""
    if not _PROVIDER_ARN.fullmatch(_required(call.params, "OIDCProviderArn")):
        raise _invalid("OIDCProviderArn")
    claims = _claims(_required(call.params, "OIDCToken"))
    answer, _ = _assumed(emulator, call.params)
    answer["OIDCTokenInfo"] = {
        "Subject": str(claims.get("sub", "")),
        "Issuer": str(claims.get("iss", "")),
        "ClientIds": str(claims.get("aud", "")),
    }
    return answer


def _no_executions(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    raise ValueError("identity services have no executions to script")


STS_SERVICE = EmulatedService(
    vendor="alibaba",
    service=STS,
    operations=(
        Operation(STS, "AssumeRole", STS_VERSION, assume_role),
        Operation(STS, "AssumeRoleWithOIDC", STS_VERSION, assume_role_with_oidc),
    ),
    execution_keys=_no_executions,
)
"""STS as served by the Alibaba handler."""

IDENTITY_SERVICES: tuple[EmulatedService, ...] = (STS_SERVICE,)
"""Services served by the vendor's API handler (signed like its other APIs)."""


# --- ECS metadata -----------------------------------------------------------------------------------------


def _state(emulator: Emulator) -> dict[str, Any]:
    state = emulator.scratch(_SCRATCH)
    state.setdefault("ecs_role", DEFAULT_ECS_ROLE)
    state.setdefault("imds_v1", True)
    state.setdefault("imds_v2", True)
    state.setdefault("tokens", {})
    return state


async def metadata_token(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """``PUT /latest/api/token``: a token valid for the asked TTL (1 to 21600 seconds)."""
    state = _state(emulator)
    if not state["imds_v2"]:
        raise ApiError("NotFound", "Not Found", 404)
    ttl = call.request.headers.get(TOKEN_TTL_HEADER, "")
    if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TOKEN_TTL:
        raise ApiError("BadRequest", f"{TOKEN_TTL_HEADER} must be 1 to {MAX_TOKEN_TTL}", 400)
    token = secrets.token_urlsafe(32)
    state["tokens"][token] = emulator.wall_clock() + int(ttl)
    return {"text": token}


def _check_access(call: ApiCall, emulator: Emulator) -> None:
    state = _state(emulator)
    token = call.request.headers.get(TOKEN_HEADER)
    if token is None:
        if not state["imds_v1"]:
            raise ApiError("Forbidden", "Forbidden: a metadata token is required (IMDSv2 enforced)", 403)
        return
    expires = state["tokens"].get(token)
    if expires is None or emulator.wall_clock() >= expires:
        raise ApiError("Unauthorized", "Unauthorized: the metadata token is invalid or expired", 401)


async def role_name(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """The role bound to the instance, as text; 404 without one."""
    _check_access(call, emulator)
    role = _state(emulator)["ecs_role"]
    if role is None:
        raise ApiError("NotFound", "Not Found", 404)
    return {"text": role}


async def role_credentials(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """A fresh key of the bound role; 404 for any other role name."""
    _check_access(call, emulator)
    if call.extra["role"] != _state(emulator)["ecs_role"]:
        raise ApiError("NotFound", "Not Found", 404)
    creds = emulator.issue_credentials("alibaba", ECS_KEY_LIFETIME)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(emulator.wall_clock()))
    return {**_credentials(creds), "LastUpdated": now, "Code": "Success"}


ECS_METADATA_SERVICE = EmulatedService(
    vendor="alibaba",
    service=ECS_METADATA,
    operations=(
        Operation(ECS_METADATA, "token", "latest", metadata_token),
        Operation(ECS_METADATA, "role-name", "latest", role_name),
        Operation(ECS_METADATA, "role-credentials", "latest", role_credentials),
    ),
    execution_keys=_no_executions,
)


class EcsMetadataHandler(MetadataHandler):
    """The ECS metadata service: ``PUT /latest/api/token`` and GETs under ``/latest/meta-data/ram/``.

    The metadata token is checked by the reads themselves (:func:`role_name`, :func:`role_credentials`).
    """

    vendor = "alibaba"
    methods = {"token": "PUT"}

    def claims(self, request: Request) -> bool:
        """The RAM role paths, and the token request that carries Alibaba's TTL header."""
        path = request.url.path
        return path.startswith("/latest/meta-data/ram/") or (path == TOKEN_PATH and TOKEN_TTL_HEADER in request.headers)

    def identify(self, call: ApiCall) -> None:
        """The token request, the role listing, or one role's credentials (the last path segment)."""
        call.service = ECS_METADATA
        if call.request.url.path == TOKEN_PATH:
            call.action = "token"
        elif not route_role(call, ROLE_PATH):
            raise ApiError("NotFound", "Not Found", 404)
