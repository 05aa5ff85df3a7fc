"""Alibaba Cloud RPC-style protocol: RPC v2 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) verification, envelopes.

A request is Alibaba's when it carries an ``Action`` query parameter (RPC v2, what the official fnf SDK
sends) or an ``x-acs-action`` header (V3). Errors use real HTTP statuses with a JSON body
``{"RequestId", "HostId", "Code", "Message"}``. Alibaba's signatures do not name the product, so the
service is found from the action (and version) among the registered operations.

The CloudFlow operations live in ``cloudflow.py``, STS in ``identity.py``. An expired STS token is
answered 403 ``InvalidSecurityToken.Expired``, the code clients refresh on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.acs import (
    ACS3_ALGORITHM,
    RPC_V2_COMMON_PARAMETERS,
    RPC_V2_SIGNATURE_METHOD,
    acs3_canonical_request,
    acs3_signature,
    parse_acs3_authorization,
    rpc_v2_canonical_query,
    rpc_v2_signature,
    rpc_v2_string_to_sign,
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
    "ANONYMOUS_ACTIONS",
    "DEFAULT_ALIBABA_CREDENTIALS",
    "MAX_SKEW_SECONDS",
    "NONCE_TTL_SECONDS",
    "AlibabaHandler",
]

DEFAULT_ALIBABA_CREDENTIALS = Credentials("LTAIEMULATOR0000", "emulator-alibaba-secret")
MAX_SKEW_SECONDS = 15 * 60
"""Alibaba rejects a request time more than 15 minutes off the server clock."""
NONCE_TTL_SECONDS = 15 * 60
"""A signature nonce may not be reused within 15 minutes."""

# What a server strips from an RPC v2 query to get the business parameters: the signer's common set plus
# two optional ones clients may send.
_RPC_V2_COMMON = RPC_V2_COMMON_PARAMETERS | {"SignatureType", "RegionId"}
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")
ANONYMOUS_ACTIONS = frozenset({"AssumeRoleWithOIDC"})
"""Actions Alibaba documents as callable without a signature."""


class AlibabaHandler(VendorHandler):
    """Alibaba Cloud RPC-style APIs (CloudFlow), signed with RPC v2 or V3."""

    vendor = "alibaba"
    default_credentials = (DEFAULT_ALIBABA_CREDENTIALS,)
    connection = ConnectionSpec("alibabacloud_default", "alibabacloud", {"region": "cn-hangzhou"})

    def claims(self, request: Request) -> bool:
        """An ``Action`` query parameter (RPC v2) or an ``x-acs-action`` header (V3)."""
        return "Action" in request.query_params or "x-acs-action" in request.headers

    def identify(self, call: ApiCall) -> None:
        """Pick the signature scheme, read action, version and key id, and find the product."""
        request = call.request
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        form: dict[str, str] = {}
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
        call.extra.update(query=query, form=form)
        authorization = request.headers.get("authorization", "")
        if authorization.startswith(ACS3_ALGORITHM):
            call.extra["scheme"] = "v3"
            call.action = request.headers.get("x-acs-action")
            call.version = request.headers.get("x-acs-version")
            try:
                auth = parse_acs3_authorization(authorization)
            except ValueError as exc:
                raise ApiError("IncompleteSignature", f"The Authorization header is malformed: {exc}.", 400) from exc
            call.extra["auth"] = auth
            call.key_id = auth.key_id
        else:
            call.extra["scheme"] = "v2"
            call.action = query.get("Action") or form.get("Action")
            call.version = query.get("Version") or form.get("Version")
            call.key_id = query.get("AccessKeyId")
        candidates = self.find_operations(action=call.action)
        exact = [op for op in candidates if op.version == call.version]
        if exact or candidates:
            call.service = (exact or candidates)[0].service

    def select_operation(self, call: ApiCall) -> Operation:
        """The operation for the action and version (``ActionNotSupported`` / ``APIVersionNotSupported``)."""
        if not call.action:
            raise ApiError("MissingRequiredParams", "The HTTP query 'Action' must be specified.", 400)
        candidates = self.find_operations(action=call.action)
        if not candidates:
            raise ApiError(
                "ActionNotSupported", f"The requested API operation '{call.action}' is incorrect. Please check.", 400
            )
        for operation in candidates:
            if operation.version == call.version:
                return operation
        raise ApiError(
            "APIVersionNotSupported",
            f"The requested API version '{call.version}' is not supported yet. Please check.",
            400,
        )

    def authenticate(self, call: ApiCall, emulator: Emulator) -> None:
        """Verify an RPC v2 or a V3 signature, the request time, the nonce and any STS token.

        An anonymous action (STS ``AssumeRoleWithOIDC``: the OIDC token is the proof) sent without a signature
        only needs a well-formed request time.
        """
        if call.action in ANONYMOUS_ACTIONS and call.extra["scheme"] == "v2" and "Signature" not in call.extra["query"]:
            timestamp = call.extra["query"].get("Timestamp")
            if timestamp is not None:
                self._check_time(emulator, timestamp)
            return
        if call.extra["scheme"] == "v3":
            self._authenticate_v3(call, emulator)
        else:
            self._authenticate_v2(call, emulator)

    def _authenticate_v2(self, call: ApiCall, emulator: Emulator) -> None:
        signed: dict[str, str] = {**call.extra["query"], **call.extra["form"]}
        for name in ("AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "Timestamp"):
            if not signed.get(name):
                raise ApiError("IncompleteSignature", f"The request signature is incomplete: '{name}' is missing.", 400)
        if signed["SignatureMethod"] != RPC_V2_SIGNATURE_METHOD:
            raise ApiError(
                "IncompleteSignature", f"SignatureMethod '{signed['SignatureMethod']}' is not supported.", 400
            )
        secret = self._secret(emulator, signed["AccessKeyId"])
        self._check_time(emulator, signed["Timestamp"])
        canonical = rpc_v2_canonical_query(signed)
        expected = rpc_v2_signature(secret, method=call.request.method, canonical_query=canonical)
        if not hmac.compare_digest(expected, signed["Signature"]):
            string_to_sign = rpc_v2_string_to_sign(method=call.request.method, canonical_query=canonical)
            # The real service echoes its string to sign, the quickest way to debug a signer.
            raise ApiError(
                "SignatureDoesNotMatch",
                f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}",
                403,
            )
        self._check_nonce(emulator, signed["AccessKeyId"], signed["SignatureNonce"])
        self._check_token(emulator, signed["AccessKeyId"], signed.get("SecurityToken"))

    def _authenticate_v3(self, call: ApiCall, emulator: Emulator) -> None:
        auth = call.extra["auth"]
        headers = _header_map(call.request)
        for name in ("x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"):
            if not headers.get(name):
                raise ApiError("MissingRequiredHeader", f"The HTTP header '{name}' must be specified.", 400)
        secret = self._secret(emulator, auth.key_id)
        self._check_time(emulator, headers["x-acs-date"])
        if headers["x-acs-content-sha256"].lower() != hashlib.sha256(call.body).hexdigest():
            raise ApiError(
                "SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the request body.", 403
            )
        signed = set(auth.signed_headers)
        # V3 requires host and every x-acs-* header to be signed, or a proxy could rewrite them.
        unsigned = sorted(n for n in headers if (n == "host" or n.startswith("x-acs-")) and n not in signed)
        if unsigned:
            raise ApiError("SignatureDoesNotMatch", f"These headers must be signed: {', '.join(unsigned)}.", 403)
        try:
            canonical = acs3_canonical_request(
                method=call.request.method,
                query=call.extra["query"],
                headers=headers,
                signed_headers=auth.signed_headers,
                body=call.body,
                path=call.request.url.path,
            )
        except ValueError as exc:
            raise ApiError("SignatureDoesNotMatch", str(exc), 403) from exc
        if not hmac.compare_digest(acs3_signature(secret, canonical), auth.signature):
            raise ApiError(
                "SignatureDoesNotMatch",
                f"The request signature does not conform to Aliyun standards. server canonical request is:{canonical}",
                403,
            )
        self._check_nonce(emulator, auth.key_id, headers["x-acs-signature-nonce"])
        self._check_token(emulator, auth.key_id, headers.get("x-acs-security-token"))

    def _secret(self, emulator: Emulator, key_id: str) -> str:
        secret = emulator.secret_for(self.vendor, key_id)
        if secret is None:
            raise ApiError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 403)
        return secret

    def _check_time(self, emulator: Emulator, value: str) -> None:
        moment = _parse_time(value)
        if moment is None:
            raise ApiError(
                "InvalidTimeStamp.Format", f"Specified time stamp or date value '{value}' is not well formatted.", 400
            )
        if abs(moment.timestamp() - emulator.server_time()) > MAX_SKEW_SECONDS:
            raise ApiError(
                "InvalidTimeStamp.Expired",
                f"Specified time stamp or date value is expired: {value} is more than 15 minutes off.",
                403,
            )

    def _check_nonce(self, emulator: Emulator, key_id: str, nonce: str) -> None:
        # Checked after the signature, so that unsigned junk cannot burn a client's nonces.
        if not emulator.use_nonce(self.vendor, key_id, nonce, NONCE_TTL_SECONDS):
            raise ApiError("SignatureNonceUsed", "Specified signature nonce was used already.", 400)

    def _check_token(self, emulator: Emulator, key_id: str, token: str | None) -> None:
        check = emulator.check_credentials(self.vendor, key_id, token)
        if check is CredentialCheck.EXPIRED:
            raise ApiError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.", 403)
        if check is not CredentialCheck.OK:
            raise ApiError(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken is missing or does not belong to the AccessKey.",
                403,
            )

    def decode_params(self, call: ApiCall) -> None:
        """Business parameters: the query (and form body) minus the RPC common parameters."""
        merged = {**call.extra["query"], **call.extra["form"]}
        if call.extra["scheme"] == "v2":
            merged = {name: value for name, value in merged.items() if name not in _RPC_V2_COMMON}
        call.params = merged

    def render_success(self, call: ApiCall, payload: dict[str, Any]) -> Response:
        """The operation's fields plus ``RequestId``, HTTP 200."""
        return _json({**payload, "RequestId": call.request_id}, 200)

    def render_error(self, call: ApiCall, error: ApiError) -> Response:
        """``{"RequestId", "HostId", "Code", "Message"}`` with the error's HTTP status."""
        body = {
            "RequestId": call.request_id,
            "HostId": call.request.headers.get("host", ""),
            "Code": error.code,
            "Message": error.message,
        }
        return _json(body, error.status or 400, error.headers)

    def throttled(self, call: ApiCall, fault: Fault | None) -> ApiError:
        """429 ``Throttling.User``; an injected fault may add ``x-acs-retry-after`` (milliseconds)."""
        headers = {}
        if fault is not None and fault.retry_after is not None:
            headers["x-acs-retry-after"] = str(fault.retry_after)
        return ApiError("Throttling.User", "Request was denied due to user flow control.", 429, headers)

    def invalid(self, call: ApiCall) -> ApiError:
        """400 ``InvalidArgument``."""
        return ApiError("InvalidArgument", "Parameter error (injected by the emulator).", 400)

    def internal_error(self, call: ApiCall) -> ApiError:
        """500 ``InternalServerError``."""
        return ApiError("InternalServerError", "An internal error has occurred. Please retry.", 500)

    def nonce_reused(self, call: ApiCall) -> ApiError | None:
        """400 ``SignatureNonceUsed``, as the real check in :meth:`authenticate` answers a replayed nonce."""
        return ApiError("SignatureNonceUsed", "Specified signature nonce was used already.", 400)


def _json(body: dict[str, Any], status: int, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type="application/json;charset=utf-8"
    )


def _header_map(request: Request) -> dict[str, str]:
    # A repeated header is signed as its values sorted and comma-joined, as the SDK canonicalizes it.
    values: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        values.setdefault(name.lower(), []).append(value.strip())
    return {name: ",".join(sorted(vals)) for name, vals in values.items()}


def _parse_time(value: str) -> datetime | None:
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None
