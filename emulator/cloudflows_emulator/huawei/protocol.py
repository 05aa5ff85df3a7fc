"""Huawei Cloud (APIG, SDK-HMAC-SHA256) protocol: REST path routing, AK/SK verification and the error envelope.

Requests whose path starts with ``/v1/``, ``/v1.0/``, ``/v3/`` or ``/v3.0/`` (IAM: ``iam.py``, ``identity.py``)
are Huawei's.
Each served API is a :class:`RestOperation` (an :class:`Operation` plus its method and path template, e.g.
``/v1/{project_id}/clusters/{cluster_id}/actions/{action_name}``); a path no operation matches is answered
like an unpublished API (404 ``APIG.0101``).

Authentication mirrors API Gateway in front of DWS:

- the SDK-HMAC-SHA256 signature is recomputed from the received method, the **raw** path (the signer
  decodes and re-encodes it itself, so the decoded path would sign differently for e.g. ``%25``), the query,
  the headers listed in ``SignedHeaders``, the body and ``X-Sdk-Date``;
- ``X-Sdk-Date`` more than 15 minutes off the server clock, an unknown AK, a bad signature, or a temporary
  AK (registered with a token) whose ``X-Security-Token`` is missing or wrong: 401 ``APIG.0301``; a temporary
  AK whose token has expired: 401 ``APIG.0307`` "The token must be updated." (what clients refresh on);
- an operation marked ``unsigned_allowed`` (IAM's token APIs, ``/v3.0/``) also takes a request without an
  ``Authorization`` header and authenticates it itself (an id token, an ``X-Auth-Token``);
- ``X-Project-Id`` must equal the path's project (else 400 ``DWS.0001``), and that project must be one the
  emulator serves. *Judgment*: another project is answered 403 ``APIG.0302`` (the IAM user is not
  authorized for it), which the client reports as an authentication/permission error rather than as an
  unknown cluster, because a wrong project id is a configuration mistake that no retry can fix.

Errors are ``{"error_code", "error_msg"}``; every answer the handler renders carries ``X-Request-Id``
(transport-level faults injected by the core, such as the plain 503, are below the gateway and do not).
The DWS operations live in ``dws.py``.

:func:`~cloudflows_emulator.huawei.scripted.script_error` makes the backend answer the next requests of an
operation with a vendor error (e.g. DWS's documented try-later 409 ``DWS.0011``), counted like the core's
faults. It strikes after the gateway checks, because such an answer comes from the service behind the
gateway, so a bad signature still wins.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.sdk_hmac import (
    SDK_HMAC_ALGORITHM,
    parse_sdk_hmac_authorization,
    sdk_hmac_canonical_request,
    sdk_hmac_signature,
)
from cloudflows_emulator.core.accounts import CredentialCheck
from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.faults import Fault
from cloudflows_emulator.core.handler import (
    ApiCall,
    ApiError,
    ConnectionSpec,
    EmulatedService,
    Operation,
    VendorHandler,
)
from cloudflows_emulator.huawei.scripted import take_scripted_error

__all__ = [
    "AUTH_FAILED",
    "DEFAULT_HUAWEI_CREDENTIALS",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_REGION",
    "MAX_SKEW_SECONDS",
    "HuaweiHandler",
    "RestOperation",
]

DEFAULT_HUAWEI_CREDENTIALS = Credentials("HWEMULATORAK0000", "emulator-huawei-secret")
DEFAULT_PROJECT_ID = "05f2cff45100d5112f4bc00b794ea08e"
DEFAULT_REGION = "cn-north-4"
MAX_SKEW_SECONDS = 15 * 60
"""APIG rejects an ``X-Sdk-Date`` more than 15 minutes off its clock."""
AUTH_FAILED = "APIG.0301"
"""APIG's code for any AK/SK problem (unknown key, bad signature, expired date, bad token)."""
TOKEN_EXPIRED = "APIG.0307"
"""APIG's answer (401) to a temporary AK/SK whose security token has expired: "The token must be updated."."""

_PREFIXES = ("/v1/", "/v1.0/", "/v3/", "/v3.0/")
_SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AUTH_PREFIX = "Incorrect IAM authentication information: "
# Headers that steer the gateway: a client must sign them when it sends them, or a proxy could swap them
# under a valid signature (judgment; the SDK signs every header it sends anyway).
_MUST_SIGN_IF_SENT = ("x-project-id", "x-security-token")
_ALWAYS_SIGNED = ("host", "x-sdk-date")


@dataclass(frozen=True)
class RestOperation(Operation):
    """A Huawei REST operation: where it lives (``method`` and ``path`` template) besides what it does.

    ``path`` placeholders (``{name}``) match one non-empty path segment each; their percent-decoded values
    reach the operation in ``call.params``. ``{project_id}`` is required unless ``project_scoped`` is False
    (IAM's account-wide APIs): the gateway then checks the signature but no project.
    """

    method: str = "GET"
    path: str = ""
    project_scoped: bool = True
    # IAM's token APIs also take requests without an AK/SK signature (an id token, an X-Auth-Token): the
    # gateway then lets them through and the operation authenticates them (``call.extra["signed"]`` False).
    unsigned_allowed: bool = False

    @property
    def quota_name(self) -> str:
        """A REST API's name in the quota table: its method and path template."""
        return f"{self.method} {self.path}"

    def __post_init__(self) -> None:
        if self.project_scoped and "{project_id}" not in self.path:
            raise ValueError(f"RestOperation {self.action}: the path must contain {{project_id}}")

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """The decoded path parameters if ``method`` and the raw ``raw_path`` address this operation."""
        if method != self.method:
            return None
        template = self.path.split("/")
        segments = raw_path.split("/")
        if len(template) != len(segments):
            return None
        params: dict[str, str] = {}
        for expected, segment in zip(template, segments, strict=True):
            if expected.startswith("{") and expected.endswith("}"):
                if not segment:
                    return None
                params[expected[1:-1]] = unquote(segment)
            elif expected != segment:
                return None
        return params


class HuaweiHandler(VendorHandler):
    """Huawei Cloud APIG-fronted REST APIs (DWS), signed with SDK-HMAC-SHA256.

    ``project_ids`` are the projects the emulated account owns (default: the documented example project
    ``05f2cff45100d5112f4bc00b794ea08e``, which the generated ``huaweicloud_default`` connection uses);
    ``regions`` names the region of each project IAM lists (region -> project id, default ``cn-north-4`` ->
    the example project), each one of ``project_ids``.
    """

    vendor = "huawei"
    default_credentials = (DEFAULT_HUAWEI_CREDENTIALS,)
    connection = ConnectionSpec(
        "huaweicloud_default",
        "huaweicloud",
        {"region": "cn-north-4", "project_id": DEFAULT_PROJECT_ID},
    )

    def __init__(
        self,
        services: Sequence[EmulatedService] = (),
        *,
        project_ids: Sequence[str] = (DEFAULT_PROJECT_ID,),
        regions: Mapping[str, str] | None = None,
    ):
        super().__init__(services)
        if not project_ids:
            raise ValueError("HuaweiHandler: at least one project id is needed")
        self.project_ids = frozenset(project_ids)
        self.regions = dict({DEFAULT_REGION: DEFAULT_PROJECT_ID} if regions is None else regions)
        strays = sorted(set(self.regions.values()) - self.project_ids)
        if strays:
            raise ValueError(f"HuaweiHandler: regions name projects not in project_ids: {strays}")
        for operation in self.operations:
            if not isinstance(operation, RestOperation):
                raise ValueError(f"HuaweiHandler: {operation.action} must be a RestOperation (it needs a path)")

    def claims(self, request: Request) -> bool:
        """Huawei APIs are versioned REST paths."""
        return request.url.path.startswith(_PREFIXES)

    def identify(self, call: ApiCall) -> None:
        """Route by method and raw path; remember the path parameters and the Authorization parts."""
        call.key_id = _access_key(call.request.headers.get("authorization", ""))
        raw_path = _raw_path(call.request)
        call.extra["raw_path"] = raw_path
        for operation in self.operations:
            assert isinstance(operation, RestOperation)  # checked in __init__
            params = operation.match(call.request.method, raw_path)
            if params is not None:
                call.service, call.action, call.version = operation.service, operation.action, operation.version
                call.extra["operation"] = operation
                call.extra["path_params"] = params
                return
        # Faults still apply to such requests (identify errors are raised after fault injection).
        call.action = f"{call.request.method} {call.request.url.path}"
        raise ApiError("APIG.0101", "The API does not exist or has not been published in the environment.", 404)

    def select_operation(self, call: ApiCall) -> Operation:
        """The operation found while identifying (unroutable requests never get here)."""
        operation: Operation = call.extra["operation"]
        return operation

    def authenticate(self, call: ApiCall, emulator: Emulator) -> None:
        """Verify SDK-HMAC-SHA256, the date, the token, then that the project is the caller's."""
        request = call.request
        headers = _header_map(request)
        authorization = headers.get("authorization")
        call.extra["signed"] = bool(authorization)
        call.extra["regions"] = self.regions
        if not authorization and call.extra["operation"].unsigned_allowed:
            self._backend_checks(call, emulator)
            return
        if not authorization:
            raise _auth_error("Authorization not found in request")
        try:
            auth = parse_sdk_hmac_authorization(authorization)
        except ValueError as exc:
            if not authorization.startswith(SDK_HMAC_ALGORITHM + " "):
                raise _auth_error(f"unsupported signing algorithm (expected {SDK_HMAC_ALGORITHM})") from exc
            raise _auth_error(f"verify aksk signature fail, malformed Authorization: {exc}") from exc
        sdk_date = headers.get("x-sdk-date", "")
        moment = _parse_sdk_date(sdk_date)
        if moment is None:
            raise _auth_error(f"verify aksk signature fail, X-Sdk-Date {sdk_date!r} is missing or not YYYYMMDDTHHMMSSZ")
        skew = moment.timestamp() - emulator.server_time()
        if abs(skew) > MAX_SKEW_SECONDS:
            raise _auth_error(
                f"verify aksk signature fail, the request has expired: X-Sdk-Date {sdk_date} differs from the "
                f"server time by {skew:+.0f} s (more than 15 minutes)"
            )
        signed = set(auth.signed_headers)
        unsigned = [name for name in _ALWAYS_SIGNED if name not in signed]
        unsigned += [name for name in _MUST_SIGN_IF_SENT if name in headers and name not in signed]
        if unsigned:
            raise _auth_error(f"verify aksk signature fail, these headers must be signed: {', '.join(unsigned)}")
        secret = emulator.secret_for(self.vendor, auth.key_id)
        if secret is None:
            # The same answer as a bad signature: APIG does not tell an attacker which keys exist.
            raise _auth_error(f"verify aksk signature fail, ak:{auth.key_id}")
        try:
            canonical = sdk_hmac_canonical_request(
                method=request.method,
                path=call.extra["raw_path"],
                query=parse_qsl(request.url.query, keep_blank_values=True),
                headers=headers,
                signed_headers=auth.signed_headers,
                body=call.body,
            )
        except ValueError as exc:
            raise _auth_error(f"verify aksk signature fail, {exc}") from exc
        expected = sdk_hmac_signature(secret, sdk_date=sdk_date, canonical_request=canonical)
        if not hmac.compare_digest(expected, auth.signature):
            raise _auth_error(f"verify aksk signature fail, ak:{auth.key_id}")
        check = emulator.check_credentials(self.vendor, auth.key_id, headers.get("x-security-token"))
        if check is CredentialCheck.EXPIRED:
            raise ApiError(TOKEN_EXPIRED, "The token must be updated.", 401)
        if check is not CredentialCheck.OK:
            raise _auth_error("verify aksk signature fail, the X-Security-Token is missing or does not match the AK")
        if call.extra["operation"].project_scoped:
            self._check_project(call, headers)
        self._backend_checks(call, emulator)

    def _backend_checks(self, call: ApiCall, emulator: Emulator) -> None:
        # Past the gateway: a scripted backend answer replaces the operation's.
        scripted = take_scripted_error(call.action, call.extra["path_params"], emulator)
        if scripted is not None:
            raise scripted

    def _check_project(self, call: ApiCall, headers: Mapping[str, str]) -> None:
        project = call.extra["path_params"]["project_id"]
        header = headers.get("x-project-id")
        if header != project:
            raise ApiError(
                "DWS.0001",
                f"Incorrect parameter: the X-Project-Id header ({header or 'missing'}) does not match the "
                f"project id in the URL ({project}).",
                400,
            )
        if project not in self.project_ids:
            raise ApiError(
                "APIG.0302",
                f"The IAM user is not authorized to access the API: project {project} does not belong to this account.",
                403,
            )

    def decode_params(self, call: ApiCall) -> None:
        """The decoded path parameters; a write's JSON body (an object) goes to ``call.extra["json"]``."""
        call.params = dict(call.extra["path_params"])
        call.extra["json"] = None
        if call.body.strip():
            try:
                parsed = json.loads(call.body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ApiError(
                    "DWS.0001", f"Incorrect parameter: the request body is not valid JSON ({exc}).", 400
                ) from exc
            if not isinstance(parsed, dict):
                raise ApiError("DWS.0001", "Incorrect parameter: the request body must be a JSON object.", 400)
            call.extra["json"] = parsed

    def render_success(self, call: ApiCall, payload: dict[str, Any]) -> Response:
        """The payload as is, under the operation's status (``call.extra["status"]``, default 200) with its
        headers (``call.extra["headers"]``); the request id travels in ``X-Request-Id``."""
        headers = {**call.extra.get("headers", {}), "X-Request-Id": call.request_id}
        return JSONResponse(payload, status_code=call.extra.get("status", 200), headers=headers)

    def render_error(self, call: ApiCall, error: ApiError) -> Response:
        """``{"error_code", "error_msg"}`` with the request id in ``X-Request-Id``."""
        return JSONResponse(
            {"error_code": error.code, "error_msg": error.message},
            status_code=error.status or 400,
            headers={**error.headers, "X-Request-Id": call.request_id},
        )

    def throttled(self, call: ApiCall, fault: Fault | None) -> ApiError:
        """429 ``APIG.0308`` (APIG sends no retry-after hint; clients back off by a few seconds)."""
        return ApiError(
            "APIG.0308",
            "The request is throttled. The throttling threshold has been reached: policy user over ratelimit.",
            429,
        )

    def invalid(self, call: ApiCall) -> ApiError:
        """400 ``DWS.0001`` "Incorrect parameter."."""
        return ApiError("DWS.0001", "Incorrect parameter (injected by the emulator).", 400)

    def internal_error(self, call: ApiCall) -> ApiError:
        """500 ``DWS.0005`` "Server failure." (the only Huawei backend served is DWS)."""
        return ApiError("DWS.0005", "Server failure.", 500)


def _auth_error(detail: str) -> ApiError:
    return ApiError(AUTH_FAILED, _AUTH_PREFIX + detail, 401)


def _raw_path(request: Request) -> str:
    # The path exactly as sent: Starlette's url.path is percent-decoded, which the signer would re-encode
    # differently (a literal "%25" would come back as "%").
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.decode("latin-1").split("?", 1)[0]
    return request.url.path


def _header_map(request: Request) -> dict[str, str]:
    # A repeated header makes the canonical request ambiguous; the SDK never sends one, so reject it
    # rather than guess which copy was signed.
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.headers.raw:
        name = raw_name.decode("latin-1").lower()
        if name in headers:
            raise _auth_error(f"verify aksk signature fail, header {name!r} appears more than once")
        headers[name] = raw_value.decode("latin-1")
    return headers


def _parse_sdk_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, _SDK_DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _access_key(authorization: str) -> str | None:
    # "SDK-HMAC-SHA256 Access=AK, SignedHeaders=..., Signature=..." -> AK, for the request log only.
    for part in authorization.split(","):
        name, _, value = part.strip().rpartition(" ")[2].partition("=")
        if name == "Access":
            return value
    return None
