"""Tencent Cloud API 3.0 request signing: TC3-HMAC-SHA256.

Every Tencent Cloud product used here (EMR, CynosDB, Batch) is called as ``POST https://{host}/`` with a JSON
body. The scheme signs only ``content-type`` and ``host`` plus the body hash; the action, version, region and
token travel in unsigned ``X-TC-*`` headers, and the timestamp enters through the string to sign.

Everything here is a pure function of its arguments: the caller supplies the clock (``timestamp``) and the
exact body bytes that will be sent.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.authorization import parse_authorization

__all__ = [
    "TC3_ALGORITHM",
    "TC3_CONTENT_TYPE",
    "TC3_SIGNED_HEADERS",
    "Tc3Authorization",
    "parse_tc3_authorization",
    "sign_tc3",
    "tc3_canonical_request",
    "tc3_date",
    "tc3_signature",
    "tc3_string_to_sign",
]

TC3_ALGORITHM = "TC3-HMAC-SHA256"
# tencentcloud-sdk-python-common sends exactly this for a JSON POST (no charset parameter); the value is
# part of the canonical request, so any deviation from what is actually sent breaks the signature.
TC3_CONTENT_TYPE = "application/json"
TC3_SIGNED_HEADERS: tuple[str, ...] = ("content-type", "host")
_TERMINATOR = "tc3_request"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Tc3Authorization:
    """The parts of a ``TC3-HMAC-SHA256`` ``Authorization`` header.

    ``date`` is the ``YYYY-MM-DD`` credential-scope date and ``service`` the scope's product code.
    """

    key_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def tc3_date(timestamp: int) -> str:
    """Return the UTC calendar date (``YYYY-MM-DD``) of a unix timestamp, as used in the credential scope."""
    # The scope date is the UTC date of the timestamp, never the local one: near midnight they differ.
    return _utc_date(timestamp // 86400)


@functools.lru_cache(maxsize=4)
def _utc_date(day: int) -> str:
    # Formatted once per UTC day (unix days have exactly 86,400 s) rather than on every poll.
    return datetime.fromtimestamp(day * 86400, tz=timezone.utc).strftime("%Y-%m-%d")


def tc3_canonical_request(*, host: str, content_type: str, body: bytes) -> str:
    """Build the canonical request of a ``POST /`` with the given ``Content-Type``, ``Host`` and body bytes."""
    _reject_line_breaks(host=host, content_type=content_type)
    payload_hash = hashlib.sha256(body).hexdigest()
    return f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\n{';'.join(TC3_SIGNED_HEADERS)}\n{payload_hash}"


def tc3_string_to_sign(*, service: str, timestamp: int, canonical_request: str) -> str:
    """Build the TC3 string to sign from the product code, unix timestamp and canonical request."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return _string_to_sign(service, timestamp, digest)


def _string_to_sign(service: str, timestamp: int, canonical_digest: str) -> str:
    return f"{TC3_ALGORITHM}\n{timestamp}\n{tc3_date(timestamp)}/{service}/{_TERMINATOR}\n{canonical_digest}"


def tc3_signature(secret: str, *, service: str, timestamp: int, canonical_request: str) -> str:
    """Return the hex TC3 signature of a canonical request.

    The signing key is derived from the secret through the scope date and product code, so a signature is
    only valid for that day and service.
    """
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return _sign_digest(secret, service=service, timestamp=timestamp, canonical_digest=digest)


def _sign_digest(secret: str, *, service: str, timestamp: int, canonical_digest: str) -> str:
    string_to_sign = _string_to_sign(service, timestamp, canonical_digest)
    # A copy of the day's keyed HMAC state: one OpenSSL context copy instead of an HMAC set-up (key fetch and
    # pads) per poll, where a triggerer's cold code makes the set-up a large part of signing.
    mac = _tc3_signing_hmac(secret, tc3_date(timestamp), service).copy()
    mac.update(string_to_sign.encode("utf-8"))
    return mac.hexdigest()


@functools.lru_cache(maxsize=8192)
def _canonical_digest(host: str, content_type: str, body: bytes) -> str:
    # TC3's canonical request holds no timestamp: for the same host and body (every poll of one wait) its
    # hash is the same, so it and the body's hash are computed once per wait, not twice per poll. Bounded:
    # 8,192 waits' bodies are ~2 MB; beyond that the oldest are hashed again.
    return hashlib.sha256(tc3_canonical_request(host=host, content_type=content_type, body=body).encode()).hexdigest()


def sign_tc3(
    creds: Credentials,
    *,
    service: str,
    host: str,
    action: str,
    version: str,
    region: str | None,
    body: bytes,
    timestamp: int,
    language: str = "en-US",
) -> dict[str, str]:
    """Return every header to send with ``POST https://{host}/`` carrying ``body``.

    ``service`` is the product code (``emr``, ``cynosdb``, ``batch``) used in the credential scope; it is
    deliberately not derived from ``host``, because regional and international hosts
    (``emr.intl.tencentcloudapi.com``) would yield the wrong code. ``body`` must be the exact bytes sent.
    ``X-TC-Region`` is omitted when ``region`` is empty, ``X-TC-Token`` when there is no session token and
    ``X-TC-Language`` when ``language`` is empty, as the official SDK does.
    """
    if not service:
        raise ValueError("sign_tc3: service (product code) is empty")
    if not host:
        raise ValueError("sign_tc3: host is empty")
    _check_static_values(action, version, region or "", language)
    signature = _sign_digest(
        creds.secret,
        service=service,
        timestamp=timestamp,
        canonical_digest=_canonical_digest(host, TC3_CONTENT_TYPE, body),
    )
    headers = {
        "Content-Type": TC3_CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(timestamp),
    }
    if region:
        headers["X-TC-Region"] = region
    if creds.token:
        headers["X-TC-Token"] = creds.token
    if language:
        headers["X-TC-Language"] = language
    headers["Authorization"] = (
        f"{TC3_ALGORITHM} Credential={creds.key_id}/{tc3_date(timestamp)}/{service}/{_TERMINATOR}, "
        f"SignedHeaders={';'.join(TC3_SIGNED_HEADERS)}, Signature={signature}"
    )
    return headers


def parse_tc3_authorization(value: str) -> Tc3Authorization:
    """Parse a ``TC3-HMAC-SHA256`` ``Authorization`` header value; raise ``ValueError`` if it is malformed."""
    parsed = parse_authorization(
        value, algorithm=TC3_ALGORITHM, label="TC3", names=("Credential", "SignedHeaders", "Signature")
    )
    fields = parsed.fields
    # The key id comes first and the three scope parts after it never contain "/", so split from the right.
    parts = fields["Credential"].rsplit("/", 3)
    if len(parts) != 4 or not all(parts):
        raise ValueError("TC3 authorization: Credential is not {key_id}/{date}/{service}/tc3_request")
    key_id, date, service, terminator = parts
    if terminator != _TERMINATOR:
        raise ValueError(f"TC3 authorization: credential scope does not end with {_TERMINATOR!r}")
    if not _DATE.fullmatch(date):
        raise ValueError("TC3 authorization: credential date is not YYYY-MM-DD")
    return Tc3Authorization(
        key_id=key_id, date=date, service=service, signed_headers=parsed.signed_headers, signature=parsed.signature
    )


@functools.lru_cache(maxsize=64)
def _tc3_signing_key(secret: str, date: str, service: str) -> bytes:
    # Derived once per secret, day and product rather than with three HMACs on every poll. The
    # cache holds what the process already holds in its credentials; a rotated secret derives a new key.
    k_date = _hmac_sha256(("TC3" + secret).encode("utf-8"), date)
    k_service = _hmac_sha256(k_date, service)
    return _hmac_sha256(k_service, _TERMINATOR)


@functools.lru_cache(maxsize=64)
def _tc3_signing_hmac(secret: str, date: str, service: str) -> hmac.HMAC:
    # Keyed once; callers sign on a copy, so the cached state is never updated.
    return hmac.new(_tc3_signing_key(secret, date, service), digestmod=hashlib.sha256)


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


@functools.lru_cache(maxsize=256)
def _check_static_values(action: str, version: str, region: str, language: str) -> None:
    # The same few values on every poll of a wait: checked once each (errors are raised, never cached).
    _reject_line_breaks(action=action, version=version, region=region, language=language)


def _reject_line_breaks(**values: str) -> None:
    # A CR or LF would both split the HTTP header and shift the line-oriented canonical request.
    for name, text in values.items():
        if "\r" in text or "\n" in text:
            raise ValueError(f"TC3: {name} contains a line break")
