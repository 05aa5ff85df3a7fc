"""Huawei identity services of the emulator: IAM security tokens, the OIDC id-token exchange, ECS metadata.

IAM's two token APIs are served by the Huawei handler, so a signed request is checked exactly as in front of
DWS (and an expired temporary key is answered 401 ``APIG.0307``), and faults and scripted errors strike them
like any Huawei API:

- ``POST /v3.0/OS-CREDENTIAL/securitytokens`` (``CreateTemporaryAccessKey``): ``"methods": ["assume_role"]``
  must be AK/SK-signed (``assume_role: {agency_name, domain_id | domain_name, duration_seconds?}``);
  ``"methods": ["token"]`` is authenticated by a federated token this emulator issued, in ``X-Auth-Token``
  or ``token.id`` (the SDK sends the latter). ``duration_seconds`` 900-86400, default 900 (IAM's).
  Answer 201 ``{"credential": {"access", "secret", "securitytoken", "expires_at"}}``.
- ``POST /v3.0/OS-AUTH/id-token/tokens`` (``CreateTokenWithIdToken``, unsigned): a non-empty ``X-Idp-Id`` and
  ``auth.id_token.id``; answer 201 with the federated token in ``X-Subject-Token`` (valid 24 h) and a
  Keystone token body. The id tokens received are kept (:func:`id_tokens_received`), as are the agencies assumed
  (:func:`agencies_assumed`).

The ECS metadata service (its own handler: unsigned paths no API claims) answers ``PUT
/meta-data/latest/api/token`` (``X-Metadata-Token-Ttl-Seconds`` 1-21600) with a token, and ``GET
/openstack/latest/securitykey`` with the agency key, ``X-Metadata-Token`` optional unless
:func:`ecs_metadata` requires it; an ECS without an agency answers 401 "Please configure Cloud Service
Agency first". *Judgment*: every securitykey read issues a fresh key valid 24 h (capped by the identity
lifetime), so a count of issued keys is a count of reads; the real service hands out the same key until it
rotates it.

Every key comes from ``Emulator.issue_credentials("huawei", duration)``. *Judgment*: IAM's error codes
for a bad body (400 ``IAM.0001``) and a missing or unknown token (401 ``IAM.0002``) are placeholders in the
handler's envelope, not verified against IAM.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import ExecutionKey
from cloudflows_emulator.core.handler import ApiCall, ApiError, EmulatedService, Operation
from cloudflows_emulator.core.metadata import MetadataHandler, MetadataWording
from cloudflows_emulator.huawei.protocol import RestOperation

__all__ = [
    "CREATE_TEMPORARY_ACCESS_KEY",
    "CREATE_TOKEN_WITH_ID_TOKEN",
    "GET_SECURITY_KEY",
    "IDENTITY_SERVICES",
    "METADATA_SERVICE",
    "PUT_METADATA_TOKEN",
    "agencies_assumed",
    "ecs_metadata",
    "id_tokens_received",
]

SERVICE = "iam"
CREATE_TEMPORARY_ACCESS_KEY = "CreateTemporaryAccessKey"
CREATE_TOKEN_WITH_ID_TOKEN = "CreateTokenWithIdToken"
METADATA_SERVICE = "ecs_metadata"
GET_SECURITY_KEY = "GetSecurityKey"
PUT_METADATA_TOKEN = "PutMetadataToken"

MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 900, 86400, 900
FEDERATED_TOKEN_LIFETIME = 86400.0
METADATA_KEY_LIFETIME = 86400.0
MAX_METADATA_TOKEN_TTL = 21600
NO_AGENCY = "Please configure Cloud Service Agency first"
_TOKEN_PATH = "/meta-data/latest/api/token"
_SECURITY_KEY_PATH = "/openstack/latest/securitykey"
_SCRATCH = "huawei_identity"


def _state(emulator: Emulator) -> dict[str, Any]:
    state = emulator.scratch(_SCRATCH)
    state.setdefault("subject_tokens", {})  # token -> (idp id, expiry)
    state.setdefault("metadata_tokens", {})  # token -> expiry
    state.setdefault("id_tokens", [])
    state.setdefault("assumed", [])
    state.setdefault("agency", True)
    state.setdefault("token_required", False)
    return state


def ecs_metadata(emulator: Emulator, *, agency: bool = True, token_required: bool = False) -> None:
    """Script the ECS: ``agency`` False answers securitykey 401 (no agency); ``token_required`` refuses a
    read without ``X-Metadata-Token`` (401). Reset with the emulator's executions."""
    state = _state(emulator)
    state["agency"], state["token_required"] = agency, token_required


def agencies_assumed(emulator: Emulator) -> list[dict[str, Any]]:
    """The ``assume_role`` objects of the agency requests answered so far, oldest first."""
    return [dict(entry) for entry in _state(emulator)["assumed"]]


def id_tokens_received(emulator: Emulator) -> list[str]:
    """The OIDC id tokens exchanged so far, oldest first."""
    return list(_state(emulator)["id_tokens"])


def _iso(epoch: float) -> str:
    # IAM's form, which huaweicloudsdkcore parses with "%Y-%m-%dT%H:%M:%S.%fZ" (the fraction is required).
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _invalid(problem: str) -> ApiError:
    return ApiError("IAM.0001", f"The request body is invalid: {problem}.", 400)


def _unauthenticated(problem: str) -> ApiError:
    return ApiError("IAM.0002", f"The request you have made requires authentication: {problem}.", 401)


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    if not isinstance(value, Mapping):
        raise _invalid(f"{name} must be an object")
    return value


def _text(parent: Mapping[str, Any], name: str) -> str | None:
    value = parent.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{name} must be a non-empty string")
    return value


def _duration(parent: Mapping[str, Any]) -> int:
    value = parent.get("duration_seconds", DEFAULT_DURATION)
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_DURATION <= value <= MAX_DURATION:
        raise _invalid(f"duration_seconds must be an integer from {MIN_DURATION} to {MAX_DURATION}")
    return value


def _credential(emulator: Emulator, duration: float) -> dict[str, Any]:
    creds = emulator.issue_credentials("huawei", duration)
    assert creds.expires_at is not None  # issued keys always expire
    return {
        "credential": {
            "access": creds.key_id,
            "secret": creds.secret,
            "securitytoken": creds.token,
            "expires_at": _iso(creds.expires_at),
        }
    }


async def create_temporary_access_key(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """A temporary key for an agency (AK/SK-signed) or for a federated token (``X-Auth-Token`` / token.id)."""
    body = call.extra["json"]
    if not isinstance(body, Mapping):
        raise _invalid("a JSON object is required")
    identity = _object(_object(body, "auth"), "identity")
    methods = identity.get("methods")
    if methods == ["assume_role"]:
        if not call.extra["signed"]:
            raise _unauthenticated("assume_role needs an AK/SK signature")
        assume = _object(identity, "assume_role")
        if _text(assume, "agency_name") is None:
            raise _invalid("assume_role.agency_name is required")
        if (_text(assume, "domain_id") is None) == (_text(assume, "domain_name") is None):
            raise _invalid("assume_role needs exactly one of domain_id and domain_name")
        duration = _duration(assume)
        _state(emulator)["assumed"].append(dict(assume))
    elif methods == ["token"]:
        token = _object(identity, "token")
        in_body, in_header = _text(token, "id"), call.request.headers.get("x-auth-token")
        if in_body is not None and in_header is not None and in_body != in_header:
            raise _invalid("token.id and X-Auth-Token differ")
        subject = in_body or in_header
        known = _state(emulator)["subject_tokens"].get(subject) if subject else None
        if known is None or known[1] <= emulator.wall_clock():
            raise _unauthenticated("the token is missing, unknown or expired")
        duration = _duration(token)
    else:
        raise _invalid('auth.identity.methods must be ["assume_role"] or ["token"]')
    call.extra["status"] = 201
    return _credential(emulator, duration)


async def create_token_with_id_token(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """An unscoped federated token for an OIDC id token of the identity provider named by ``X-Idp-Id``."""
    idp_id = call.request.headers.get("x-idp-id", "").strip()
    if not idp_id:
        raise _invalid("the X-Idp-Id header is required")
    body = call.extra["json"]
    if not isinstance(body, Mapping):
        raise _invalid("a JSON object is required")
    id_token = _text(_object(_object(body, "auth"), "id_token"), "id")
    if id_token is None:
        raise _invalid("auth.id_token.id is required")
    state = _state(emulator)
    state["id_tokens"].append(id_token)
    now = emulator.wall_clock()
    subject = "MII" + secrets.token_urlsafe(96)
    state["subject_tokens"][subject] = (idp_id, now + FEDERATED_TOKEN_LIFETIME)
    call.extra["status"] = 201
    call.extra["headers"] = {"X-Subject-Token": subject}
    return {
        "token": {
            "methods": ["mapped"],
            "issued_at": _iso(now),
            "expires_at": _iso(now + FEDERATED_TOKEN_LIFETIME),
            "user": {
                "OS-FEDERATION": {"identity_provider": {"id": idp_id}, "protocol": {"id": "oidc"}, "groups": []},
                "name": "FederationUser",
                "id": secrets.token_hex(16),
            },
        }
    }


def _no_executions(fields: Mapping[str, Any]) -> list[ExecutionKey]:
    raise ValueError("identity services have no executions to script")


IDENTITY_SERVICES: tuple[EmulatedService, ...] = (
    EmulatedService(
        vendor="huawei",
        service=SERVICE,
        operations=(
            RestOperation(
                SERVICE,
                CREATE_TEMPORARY_ACCESS_KEY,
                "v3.0",
                create_temporary_access_key,
                method="POST",
                path="/v3.0/OS-CREDENTIAL/securitytokens",
                project_scoped=False,
                unsigned_allowed=True,
            ),
            RestOperation(
                SERVICE,
                CREATE_TOKEN_WITH_ID_TOKEN,
                "v3.0",
                create_token_with_id_token,
                method="POST",
                path="/v3.0/OS-AUTH/id-token/tokens",
                project_scoped=False,
                unsigned_allowed=True,
            ),
        ),
        execution_keys=_no_executions,
    ),
)
"""Services served by the vendor's API handler (signed like its other APIs)."""


async def get_security_key(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """The ECS agency's temporary key."""
    if not _state(emulator)["agency"]:
        raise ApiError("Unauthorized", NO_AGENCY, 401)
    return _credential(emulator, METADATA_KEY_LIFETIME)


async def put_metadata_token(call: ApiCall, emulator: Emulator) -> dict[str, Any]:
    """A session token of the metadata service, valid for the seconds asked."""
    token = secrets.token_urlsafe(32)
    _state(emulator)["metadata_tokens"][token] = emulator.wall_clock() + call.params["ttl"]
    return {"text": token}


METADATA_SPEC = EmulatedService(
    vendor="huawei",
    service=METADATA_SERVICE,
    operations=(
        Operation(METADATA_SERVICE, GET_SECURITY_KEY, "latest", get_security_key),
        Operation(METADATA_SERVICE, PUT_METADATA_TOKEN, "latest", put_metadata_token),
    ),
    execution_keys=_no_executions,
)


class HuaweiMetadataHandler(MetadataHandler):
    """The ECS metadata service at ``http://169.254.169.254`` (plain text errors, as the service answers)."""

    vendor = "huawei"
    methods = {PUT_METADATA_TOKEN: "PUT"}
    wording = MetadataWording(throttled_code="TooManyRequests", page="{message}")

    def claims(self, request: Request) -> bool:
        """The two paths of the securitykey exchange."""
        return request.url.path in (_TOKEN_PATH, _SECURITY_KEY_PATH)

    def identify(self, call: ApiCall) -> None:
        """GET securitykey or PUT token; any other method is 405, before faults can strike the action."""
        call.service = METADATA_SERVICE
        path = call.request.url.path
        call.action = GET_SECURITY_KEY if path == _SECURITY_KEY_PATH else PUT_METADATA_TOKEN
        if not self.method_allowed(call):
            call.action = f"{call.request.method} {path}"
            raise self.wrong_method()
        call.version = "latest"

    def authenticate(self, call: ApiCall, emulator: Emulator) -> None:
        """A metadata token, when sent (or required), must be one issued and not expired."""
        if call.action != GET_SECURITY_KEY:
            return
        state = _state(emulator)
        token = call.request.headers.get("x-metadata-token")
        if token is None:
            if state["token_required"]:
                raise ApiError("Unauthorized", "X-Metadata-Token is required", 401)
            return
        expiry = state["metadata_tokens"].get(token)
        if expiry is None or expiry <= emulator.wall_clock():
            raise ApiError("Unauthorized", "X-Metadata-Token is invalid or expired", 401)

    def decode_params(self, call: ApiCall) -> None:
        """The token's lifetime from ``X-Metadata-Token-Ttl-Seconds`` (1-21600)."""
        if call.action != PUT_METADATA_TOKEN:
            return
        raw = call.request.headers.get("x-metadata-token-ttl-seconds", "")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_METADATA_TOKEN_TTL:
            raise ApiError("BadRequest", f"X-Metadata-Token-Ttl-Seconds must be 1 to {MAX_METADATA_TOKEN_TTL}", 400)
        call.params["ttl"] = int(raw)
