"""Alibaba Cloud request signing: RPC v2 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256).

The official CloudFlow (``fnf``) SDK signs with RPC v2; V3 is the scheme Alibaba documents for all products.
Both are provided. Each signer returns the query string to send, built exactly as it was canonicalized, so
that what the server re-canonicalizes from the received request is what was signed.

Everything here is a pure function of its arguments: the caller supplies the clock (``timestamp``) and the
per-request ``nonce``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.authorization import parse_authorization

__all__ = [
    "ACS3_ALGORITHM",
    "RPC_V2_SIGNATURE_METHOD",
    "RPC_V2_SIGNATURE_VERSION",
    "Acs3Authorization",
    "acs3_canonical_query",
    "acs3_canonical_request",
    "acs3_signature",
    "acs3_string_to_sign",
    "acs_timestamp",
    "parse_acs3_authorization",
    "percent_encode",
    "rpc_form_body",
    "rpc_v2_canonical_query",
    "rpc_v2_signature",
    "rpc_v2_string_to_sign",
    "sign_acs3",
    "sign_rpc_v2",
]

RPC_V2_SIGNATURE_METHOD = "HMAC-SHA1"
RPC_V2_SIGNATURE_VERSION = "1.0"
ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# RPC v2 common parameters: a business parameter with one of these names would silently replace a
# signing input, so it is refused instead.
RPC_V2_COMMON_PARAMETERS = frozenset(
    {
        "Action",
        "Format",
        "Version",
        "Timestamp",
        "SignatureNonce",
        "SignatureMethod",
        "SignatureVersion",
        "AccessKeyId",
        "SecurityToken",
        "Signature",
    }
)

# V3 headers computed by sign_acs3 itself; callers may add headers but not replace these.
_ACS3_RESERVED = frozenset(
    {
        "authorization",
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
        "x-acs-accesskey-id",
        "x-acs-security-token",
    }
)


@dataclass(frozen=True)
class Acs3Authorization:
    """The parts of an ``ACS3-HMAC-SHA256`` ``Authorization`` header."""

    key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def percent_encode(value: str) -> str:
    """Percent-encode a string the way Alibaba Cloud signing requires (RFC 3986).

    Only ``A-Z a-z 0-9 - _ . ~`` stay literal: a space becomes ``%20`` (not ``+``), ``*`` becomes ``%2A`` and
    non-ASCII characters are encoded as their UTF-8 bytes.
    """
    # quote() already treats "~" as unreserved (Python >= 3.7); naming it keeps that explicit, and
    # safe="~" also stops "/" from being left literal as quote() does by default.
    return quote(value, safe="~", encoding="utf-8")


def acs_timestamp(timestamp: datetime) -> str:
    """Format a timezone-aware time as the ISO 8601 UTC string Alibaba Cloud expects (``...T...Z``)."""
    return _as_utc(timestamp).strftime(_TIMESTAMP_FORMAT)


# --- RPC v2 (HMAC-SHA1) ---------------------------------------------------------------------------------


def rpc_v2_canonical_query(params: Mapping[str, str]) -> str:
    """Return the RPC v2 canonicalized query string of ``params``.

    Pairs are sorted by parameter name and both sides percent-encoded. A ``Signature`` entry is ignored, so a
    verifier can pass every parameter it received.
    """
    pairs = sorted((name, value) for name, value in params.items() if name != "Signature")
    return "&".join(f"{percent_encode(name)}={percent_encode(value)}" for name, value in pairs)


def rpc_v2_string_to_sign(*, method: str, canonical_query: str) -> str:
    """Return the RPC v2 string to sign: ``{METHOD}&%2F&{percent-encoded canonical query}``."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query)}"


def rpc_v2_signature(secret: str, *, method: str, canonical_query: str) -> str:
    """Return the base64 RPC v2 signature (HMAC-SHA1 keyed by ``secret + "&"``) of a canonical query."""
    string_to_sign = rpc_v2_string_to_sign(method=method, canonical_query=canonical_query)
    digest = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_rpc_v2(
    creds: Credentials,
    *,
    action: str,
    version: str,
    params: Mapping[str, str],
    timestamp: datetime,
    nonce: str,
    method: str = "GET",
    form: Mapping[str, str] | None = None,
) -> str:
    """Return the complete signed RPC v2 query string to send (without the leading ``?``).

    It holds the common parameters (``Action``, ``Format=json``, ``Version``, ``Timestamp``,
    ``SignatureNonce``, ``SignatureMethod``, ``SignatureVersion``, ``AccessKeyId``, ``SecurityToken`` with a
    session token) and the business ``params``, in canonical order and encoding, followed by
    ``&Signature=...``. Send it verbatim. ``timestamp`` must be timezone-aware; ``nonce`` must be unique per
    request (the server rejects a reused one with ``SignatureNonceUsed``).

    ``form`` holds the parameters of a POST's form body (``StartExecution``...): they are signed together
    with the query's, as the official SDK signs the merge of both, but are not part of the returned query
    (send them as the body, see :func:`rpc_form_body`).
    """
    body_params = dict(form or {})
    clashes = sorted(RPC_V2_COMMON_PARAMETERS.intersection(set(params) | set(body_params)))
    if clashes:
        raise ValueError(f"sign_rpc_v2: business parameters may not set {', '.join(clashes)}")
    both = sorted(set(params) & set(body_params))
    if both:
        raise ValueError(f"sign_rpc_v2: {', '.join(both)} given both as query and as form parameters")
    if not nonce:
        raise ValueError("sign_rpc_v2: nonce is empty")
    query: dict[str, str] = {
        "Action": action,
        "Format": "json",
        "Version": version,
        "Timestamp": acs_timestamp(timestamp),
        "SignatureNonce": nonce,
        "SignatureMethod": RPC_V2_SIGNATURE_METHOD,
        "SignatureVersion": RPC_V2_SIGNATURE_VERSION,
        "AccessKeyId": creds.key_id,
    }
    if creds.token:
        query["SecurityToken"] = creds.token
    query.update(params)
    canonical_query = rpc_v2_canonical_query(query)
    signed_query = rpc_v2_canonical_query({**query, **body_params}) if body_params else canonical_query
    signature = rpc_v2_signature(creds.secret, method=method, canonical_query=signed_query)
    return f"{canonical_query}&Signature={percent_encode(signature)}"


def rpc_form_body(form: Mapping[str, str]) -> bytes:
    """The ``application/x-www-form-urlencoded`` body of an RPC POST, byte for byte as the official SDK
    builds it (``darabonba`` ``Form.to_form_string``: names sorted, ``urlencode``: space as ``+``)."""
    return urlencode(sorted(form.items())).encode("ascii")


# --- V3 (ACS3-HMAC-SHA256) ------------------------------------------------------------------------------


def acs3_canonical_query(params: Mapping[str, str]) -> str:
    """Return the V3 canonical query string of ``params``: sorted by name, name and value percent-encoded.

    Empty values keep their ``=`` (``name=``). This is also the query string to send.
    """
    # The SDK leaves names unencoded, the V3 specification encodes them; the two agree for every real
    # parameter name (ASCII letters and digits), and the server follows the specification.
    pairs = sorted(params.items())
    return "&".join(f"{percent_encode(name)}={percent_encode(value)}" for name, value in pairs)


def acs3_canonical_request(
    *,
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
    path: str = "/",
) -> str:
    """Build the V3 canonical request.

    ``query`` holds the decoded query parameters, ``headers`` the request headers (looked up
    case-insensitively; only those named in ``signed_headers`` enter, in that order, with values trimmed) and
    ``body`` the exact payload. A verifier passes the ``SignedHeaders`` of the received ``Authorization``;
    a missing signed header raises ``ValueError``.
    """
    by_name = _lower_keys(headers)
    lines = []
    for name in signed_headers:
        value = by_name.get(name.lower())
        if value is None:
            raise ValueError(f"ACS3: signed header {name!r} is not among the request headers")
        lines.append(f"{name.lower()}:{value.strip()}\n")
    return "\n".join(
        [
            method.upper(),
            path or "/",
            acs3_canonical_query(query),
            "".join(lines),
            ";".join(name.lower() for name in signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    """Return the V3 string to sign: the algorithm name and the hex SHA-256 of the canonical request."""
    return f"{ACS3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"


def acs3_signature(secret: str, canonical_request: str) -> str:
    """Return the hex V3 signature (HMAC-SHA256 keyed by the access key secret) of a canonical request."""
    string_to_sign = acs3_string_to_sign(canonical_request)
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_acs3(
    creds: Credentials,
    *,
    host: str,
    action: str,
    version: str,
    params: Mapping[str, str],
    timestamp: datetime,
    nonce: str,
    method: str = "GET",
    body: bytes = b"",
    extra_headers: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """Sign an RPC-style call with V3 and return ``(query string to send, headers to send)``.

    The headers are ``host``, ``x-acs-action``, ``x-acs-version``, ``x-acs-date``, ``x-acs-signature-nonce``,
    ``accept: application/json``, ``x-acs-content-sha256`` (of ``body``, also when empty), with a session
    token ``x-acs-accesskey-id`` and ``x-acs-security-token``, then ``extra_headers`` (names lower-cased; use
    it for ``content-type`` when there is a body), and ``Authorization``. Like the official SDK, every
    returned header except ``Authorization`` is signed, so a proxy cannot alter any of them. The query string
    is canonical and must be sent verbatim. ``timestamp`` must be timezone-aware.
    """
    if not host:
        raise ValueError("sign_acs3: host is empty")
    if not nonce:
        raise ValueError("sign_acs3: nonce is empty")
    headers: dict[str, str] = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": acs_timestamp(timestamp),
        "x-acs-signature-nonce": nonce,
        # The SDK asks for JSON this way: V3 RPC calls carry no Format parameter.
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    if creds.token:
        # The SDK sends the key id a second time as a header alongside the STS token, signed.
        headers["x-acs-accesskey-id"] = creds.key_id
        headers["x-acs-security-token"] = creds.token
    for name, value in (extra_headers or {}).items():
        lower = name.lower()
        if lower in _ACS3_RESERVED:
            raise ValueError(f"sign_acs3: extra header {name!r} is computed by the signer")
        headers[lower] = value.strip()
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"sign_acs3: header {name!r} contains a line break")
    signed_headers = sorted(headers)
    canonical_request = acs3_canonical_request(
        method=method, query=params, headers=headers, signed_headers=signed_headers, body=body
    )
    signature = acs3_signature(creds.secret, canonical_request)
    headers["Authorization"] = (
        f"{ACS3_ALGORITHM} Credential={creds.key_id},SignedHeaders={';'.join(signed_headers)},Signature={signature}"
    )
    return acs3_canonical_query(params), headers


def parse_acs3_authorization(value: str) -> Acs3Authorization:
    """Parse an ``ACS3-HMAC-SHA256`` ``Authorization`` header value; raise ``ValueError`` if it is malformed."""
    parsed = parse_authorization(
        value, algorithm=ACS3_ALGORITHM, label="ACS3", names=("Credential", "SignedHeaders", "Signature")
    )
    return Acs3Authorization(
        key_id=parsed.fields["Credential"], signed_headers=parsed.signed_headers, signature=parsed.signature
    )


def _as_utc(timestamp: datetime) -> datetime:
    # A naive datetime is ambiguous (local time or UTC?); guessing wrong shifts the signed time by hours and
    # the server rejects it as expired, so require the caller to say.
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("Alibaba Cloud signing: timestamp must be timezone-aware")
    return timestamp.astimezone(timezone.utc)


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in lowered:
            raise ValueError(f"ACS3: header {name!r} appears more than once")
        lowered[lower] = value
    return lowered
