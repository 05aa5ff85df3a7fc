"""Tencent Cloud API 3.0 protocol: TC3-HMAC-SHA256 verification and the ``{"Response": ...}`` envelopes.

Requests are ``POST /`` with a JSON body and ``X-TC-Action`` / ``X-TC-Version`` / ``X-TC-Timestamp``
headers. The product (``emr``, ``cynosdb``, ``batch``) is read from the credential scope of the
``Authorization`` header, because that is what the real signature binds (the host cannot be trusted on a
loopback port). Every error is answered with HTTP 200 and ``{"Response": {"Error": {...}, "RequestId"}}``.

The per-product operations live in ``emr.py``, ``cynosdb.py`` and ``batch.py`` and use the parameter
helpers below.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.tc3 import (
    parse_tc3_authorization,
    tc3_canonical_request,
    tc3_date,
    tc3_signature,
)
from cloudflows_emulator.core.accounts import CredentialCheck
from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.faults import Fault
from cloudflows_emulator.core.handler import (
    ApiCall,
    ApiError,
    ConnectionSpec,
    Operation,
    VendorHandler,
)

__all__ = [
    "DEFAULT_TENCENT_CREDENTIALS",
    "MAX_SKEW_SECONDS",
    "UNSIGNED_ACTIONS",
    "TencentHandler",
    "optional_bool",
    "optional_int",
    "reject_unknown",
    "require_int",
    "require_object",
    "require_region",
    "require_str",
]

DEFAULT_TENCENT_CREDENTIALS = Credentials("AKIDEMULATOR00000000000000000000", "emulator-tencent-secret")
MAX_SKEW_SECONDS = 300
"""Documented: a timestamp more than five minutes off fails with ``AuthFailure.SignatureExpire``."""

_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SKIP_SIGNATURE = "SKIP"
UNSIGNED_ACTIONS: Mapping[str, str] = {"AssumeRoleWithWebIdentity": "sts"}
"""Actions served without a signature (``Authorization: SKIP``), with their service: STS's OIDC exchange."""


class TencentHandler(VendorHandler):
    """Tencent Cloud API 3.0 (TC3-HMAC-SHA256) for the EMR, CynosDB and Batch operations."""

    vendor = "tencent"
    default_credentials = (DEFAULT_TENCENT_CREDENTIALS,)
    connection = ConnectionSpec("tencentcloud_default", "tencentcloud", {"region": "ap-guangzhou"})

    def claims(self, request: Request) -> bool:
        """Tencent API 3.0 requests always carry ``X-TC-Action``."""
        return "x-tc-action" in request.headers

    def identify(self, call: ApiCall) -> None:
        """Read action and version headers and take the service from the signed credential scope (from the
        action for the documented unsigned ones, sent with ``Authorization: SKIP`` as the SDK does)."""
        headers = call.request.headers
        call.action = headers.get("x-tc-action")
        call.version = headers.get("x-tc-version")
        value = headers.get("authorization")
        if not value:
            raise ApiError("AuthFailure.InvalidAuthorization", "The Authorization header is missing.")
        if value == _SKIP_SIGNATURE:
            call.service = UNSIGNED_ACTIONS.get(call.action or "")
            call.extra["unsigned"] = True
            if call.service is None:
                raise ApiError(
                    "AuthFailure.InvalidAuthorization", f"The action `{call.action}` requires a TC3 signature."
                )
            return
        try:
            auth = parse_tc3_authorization(value)
        except ValueError as exc:
            raise ApiError("AuthFailure.InvalidAuthorization", f"The Authorization header is invalid: {exc}.") from exc
        call.service = auth.service
        call.key_id = auth.key_id
        call.extra["auth"] = auth

    def select_operation(self, call: ApiCall) -> Operation:
        """Match the scope's service and ``X-TC-Action``, then ``X-TC-Version``."""
        if call.request.method != "POST":
            raise ApiError(
                "UnsupportedProtocol",
                "The emulator accepts TC3-signed POST requests with a JSON body only.",
            )
        candidates = self.find_operations(service=call.service, action=call.action)
        if not candidates:
            raise ApiError(
                "InvalidAction", f"The requested action `{call.action}` of service `{call.service}` does not exist."
            )
        if not call.version:
            raise ApiError("MissingParameter", "The request is missing a required parameter `Version`.")
        for operation in candidates:
            if operation.version == call.version:
                return operation
        raise ApiError(
            "NoSuchVersion", f"The requested version `{call.version}` of action `{call.action}` does not exist."
        )

    def authenticate(self, call: ApiCall, emulator: Emulator) -> None:
        """Recompute the TC3 signature from Host, Content-Type, body, timestamp and the scope's service."""
        if call.extra.get("unsigned"):
            return  # an action documented as unsigned (``identify`` refused any other)
        auth = call.extra["auth"]
        headers = call.request.headers
        secret = emulator.secret_for(self.vendor, auth.key_id)
        if secret is None:
            raise ApiError(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure that your SecretId is correct.",
            )
        raw_timestamp = headers.get("x-tc-timestamp")
        if raw_timestamp is None:
            raise ApiError("MissingParameter", "The request is missing a required parameter `Timestamp`.")
        try:
            timestamp = int(raw_timestamp)
        except ValueError as exc:
            raise ApiError(
                "InvalidParameterValue", f"The header X-TC-Timestamp `{raw_timestamp}` is not unix seconds."
            ) from exc
        skew = timestamp - emulator.server_time()
        if abs(skew) > MAX_SKEW_SECONDS:
            raise ApiError(
                "AuthFailure.SignatureExpire",
                f"Signature expired. Timestamp and server time cannot differ by more than 5 minutes "
                f"(they differ by {skew:+.0f} s).",
            )
        if tuple(auth.signed_headers) != ("content-type", "host"):
            raise ApiError(
                "AuthFailure.SignatureFailure",
                f"SignedHeaders must be `content-type;host` (got `{';'.join(auth.signed_headers)}`).",
            )
        if auth.date != tc3_date(timestamp):
            raise ApiError(
                "AuthFailure.SignatureFailure",
                f"The credential scope date {auth.date} is not the UTC date of X-TC-Timestamp.",
            )
        # With X-TC-Content-SHA256: UNSIGNED-PAYLOAD the SDK hashes that literal instead of the body.
        signed_body = call.body
        if headers.get("x-tc-content-sha256") == _UNSIGNED_PAYLOAD:
            signed_body = _UNSIGNED_PAYLOAD.encode()
        canonical = tc3_canonical_request(
            host=headers.get("host", ""), content_type=headers.get("content-type", ""), body=signed_body
        )
        expected = tc3_signature(secret, service=auth.service, timestamp=timestamp, canonical_request=canonical)
        if not hmac.compare_digest(expected, auth.signature):
            raise ApiError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature is correct.",
            )
        check = emulator.check_credentials(self.vendor, auth.key_id, headers.get("x-tc-token"))
        if check is CredentialCheck.EXPIRED:
            raise ApiError("AuthFailure.TokenFailure", "Token verification failed: the token has expired.")
        if check is not CredentialCheck.OK:
            raise ApiError(
                "AuthFailure.TokenFailure",
                "Token verification failed: the token is missing, unknown, or not issued for this SecretId.",
            )

    def decode_params(self, call: ApiCall) -> None:
        """The business parameters are the JSON object in the body."""
        try:
            params = json.loads(call.body or b"{}")
        except ValueError as exc:
            raise ApiError("InvalidParameter", "The request body is not valid JSON.") from exc
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "The request body must be a JSON object.")
        call.params = params

    def render_success(self, call: ApiCall, payload: dict[str, Any]) -> Response:
        """``{"Response": {...fields, "RequestId"}}`` with HTTP 200."""
        return _json({"Response": {**payload, "RequestId": call.request_id}})

    def render_error(self, call: ApiCall, error: ApiError) -> Response:
        """``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``, HTTP 200 like the real API."""
        body = {
            "Response": {
                "Error": {"Code": error.code, "Message": error.message},
                "RequestId": call.request_id,
            }
        }
        return _json(body, status=error.status or 200, headers=error.headers)

    def throttled(self, call: ApiCall, fault: Fault | None) -> ApiError:
        """``RequestLimitExceeded``, with the documented per-second limit when one applies."""
        if fault is None and call.service and call.action:
            # Only reached through the rate limiter, which has a limit for this operation.
            return ApiError(
                "RequestLimitExceeded",
                f"Your current request times exceeds the frequency limit for `{call.action}` in a second. "
                "Please reduce the frequency of calls.",
            )
        return ApiError("RequestLimitExceeded", "The request frequency exceeds the limit.")

    def invalid(self, call: ApiCall) -> ApiError:
        """``InvalidParameterValue`` in the usual envelope."""
        return ApiError("InvalidParameterValue", "The parameter value is invalid (injected by the emulator).")

    def internal_error(self, call: ApiCall) -> ApiError:
        """``InternalError`` in the usual envelope."""
        return ApiError(
            "InternalError",
            "An internal error has occurred. Retry your request, but if the problem persists, contact us.",
        )


def _json(body: dict[str, Any], *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    # Exactly "application/json": the SDK only parses the envelope for that content type (no charset).
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type="application/json")


# --- parameter helpers for the operation modules ----------------------------------------------------------


def reject_unknown(params: Mapping[str, Any], allowed: frozenset[str] | set[str]) -> None:
    """``UnknownParameter`` for the first parameter the API does not define (catches client typos)."""
    for name in params:
        if name not in allowed:
            raise ApiError("UnknownParameter", f"The parameter `{name}` is not recognized.")


def require_str(params: Mapping[str, Any], name: str, *, path: str | None = None) -> str:
    """A required String parameter (``MissingParameter`` / ``InvalidParameter``)."""
    label = path or name
    if name not in params or params[name] is None:
        raise ApiError("MissingParameter", f"The request is missing a required parameter `{label}`.")
    value = params[name]
    if not isinstance(value, str):
        raise ApiError(
            "InvalidParameter", f"The type of parameter `{label}` is invalid: expected String, got {value!r}."
        )
    return value


def require_int(params: Mapping[str, Any], name: str) -> int:
    """A required Integer parameter (``MissingParameter`` / ``InvalidParameter``)."""
    if name not in params or params[name] is None:
        raise ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
    return _as_int(params[name], name)


def optional_int(params: Mapping[str, Any], name: str, default: int) -> int:
    """An optional Integer parameter."""
    value = params.get(name)
    return default if value is None else _as_int(value, name)


def optional_bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    """An optional Boolean parameter."""
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(
            "InvalidParameter", f"The type of parameter `{name}` is invalid: expected Boolean, got {value!r}."
        )
    return value


def require_object(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A required object (structure) parameter."""
    if name not in params or params[name] is None:
        raise ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
    value = params[name]
    if not isinstance(value, dict):
        raise ApiError(
            "InvalidParameter", f"The type of parameter `{name}` is invalid: expected an object, got {value!r}."
        )
    return value


def require_region(call: ApiCall) -> str:
    """The ``X-TC-Region`` common parameter, for APIs that document it as required."""
    region = call.request.headers.get("x-tc-region")
    if not region:
        raise ApiError("MissingParameter", "The request is missing a required parameter `Region`.")
    return region


def _as_int(value: Any, name: str) -> int:
    # bool is an int subclass in Python but a different type on the wire.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(
            "InvalidParameter", f"The type of parameter `{name}` is invalid: expected Integer, got {value!r}."
        )
    return value
