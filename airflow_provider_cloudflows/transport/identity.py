"""Temporary identities as sans-IO exchanges: a source yields calls (and token-file reads) and reads answers.

One driver runs every vendor's exchanges, from worker code (blocking) or on the event loop, through the same
client as the service APIs (signing, typed errors, deadline, bounded decoding, no redirects). An answer
becomes credentials only when every field is exactly what the vendor documents: a key that is not a
printable string, or an expiry that is not a documented timestamp in the future, is an
:class:`UnreadableAnswerError` naming the field, never a key the next call would sign with.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

import httpx

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, CredentialSource
from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    NotFoundError,
    ServerError,
    ThrottledError,
    UnexpectedStatusError,
    UnreadableAnswerError,
)
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.decoding import decode_json_object
from airflow_provider_cloudflows.transport.endpoints import check_metadata_endpoint
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from airflow_provider_cloudflows.transport.vendor_api import VendorApi

__all__ = [
    "MAX_TOKEN_FILE",
    "PROBE_SECONDS",
    "ChainSource",
    "ExchangeSource",
    "IdentitySettings",
    "MetadataApi",
    "MetadataCall",
    "ProbeSource",
    "TokenFile",
    "checked_credentials",
    "env_value",
    "expiry_from_iso",
    "read_token_file",
    "unreadable_credentials",
]

# A projected service-account token is ~1 KiB; a file far larger is not one.
MAX_TOKEN_FILE = 64 * 1024
# In a default chain, a machine without a metadata service must not hold up the next source: the SDKs give
# the metadata service a 1-3 s timeout, so a probe gives up within this many seconds.
PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class TokenFile:
    """A step of an exchange: read the OIDC token in ``path`` (kubelet rotates it, so every refresh reads it).
    ``setting`` names the extra or variable the path came from, for errors."""

    path: str
    setting: str = "oidc_token_file"


@dataclass(frozen=True)
class IdentitySettings:
    """What choosing a connection's source of keys reads, handed by the hook to its vendor's
    ``identity_from``: the stored key, the extras (``extra(name)``, task overrides first), and the region
    and retry policy, computed only when a source needs them (so a source that does not never fails on
    them)."""

    conn_id: str
    vendor_label: str
    login: str | None
    password: str | None = field(repr=False)
    # The stored session token, under whatever extra name the vendor uses.
    token: str | None = field(repr=False)
    extra: Callable[[str], str | None]
    region: Callable[[], str]
    policy: Callable[[], RetryPolicy]

    @property
    def stores_key(self) -> bool:
        """Whether the connection stores any part of a key pair."""
        return bool(self.login or self.password)

    def stored_credentials(self) -> Credentials:
        """The key pair (and session token) stored in the connection."""
        if not self.login or not self.password:
            raise ConfigurationError(
                f"connection {self.conn_id!r}",
                f"needs login ({self.vendor_label} key id) and password (secret key)",
            )
        return Credentials(self.login, self.password, self.token)


Step = tuple[CloudClient[Any], Any] | TokenFile
Exchange = Generator[Step, Any, Credentials]


def read_token_file(step: TokenFile) -> str:
    """The token in the file, stripped; a missing, empty, oversized or binary file is a configuration error
    naming the setting (never the token)."""
    try:
        with open(step.path, "rb") as handle:
            raw = handle.read(MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise ConfigurationError(step.setting, f"cannot read {step.path!r}: {exc.strerror or exc}") from None
    if len(raw) > MAX_TOKEN_FILE:
        raise ConfigurationError(step.setting, f"{step.path!r} holds more than {MAX_TOKEN_FILE} bytes: not a token")
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if not token or not token.isprintable():
        raise ConfigurationError(step.setting, f"{step.path!r} holds no token (empty, or not printable ASCII)")
    return token


class ExchangeSource(CredentialSource):
    """A source whose every fetch runs a fresh ``exchange()``: the calls it yields are made with their
    client, token files are read, and the credentials it returns are the result.

    A call that fails is thrown into the exchange, so an exchange may catch it and fall back (Alibaba's
    metadata token, IMDSv2, falls back to reads without one); an exchange that does not catch it fails with
    it."""

    def __init__(self, label: str, exchange: Callable[[], Exchange]) -> None:
        self.label = label
        self.exchange = exchange

    def fetch(self, deadline: float) -> Credentials:
        """Run the exchange with blocking calls."""
        steps = self.exchange()
        answer: Any = None
        failure: CloudApiError | None = None
        try:
            while True:
                step = steps.throw(failure) if failure is not None else steps.send(answer)
                answer, failure = None, None
                if isinstance(step, TokenFile):
                    answer = read_token_file(step)
                    continue
                client, call = step
                try:
                    answer = client.call(call, deadline=deadline)
                except CloudApiError as exc:
                    failure = exc
        except StopIteration as stop:
            creds: Credentials = stop.value
            return creds

    async def afetch(self, deadline: float) -> Credentials:
        """Run the exchange on the event loop (a token file is read in a worker thread)."""
        steps = self.exchange()
        answer: Any = None
        failure: CloudApiError | None = None
        try:
            while True:
                step = steps.throw(failure) if failure is not None else steps.send(answer)
                answer, failure = None, None
                if isinstance(step, TokenFile):
                    answer = await asyncio.to_thread(read_token_file, step)
                    continue
                client, call = step
                try:
                    answer = await client.acall(call, deadline=deadline)
                except CloudApiError as exc:
                    failure = exc
        except StopIteration as stop:
            creds: Credentials = stop.value
            return creds


class ProbeSource(CredentialSource):
    """``source`` given at most ``seconds`` (:data:`PROBE_SECONDS`) per fetch: in the default chain, a machine
    without that service (the instance metadata) moves on to the next source quickly. ``until_proven``: only
    until the source first yields a key, the caller's deadline from then on (:attr:`proven`)."""

    def __init__(
        self,
        source: CredentialSource,
        seconds: float = PROBE_SECONDS,
        *,
        label: str | None = None,
        until_proven: bool = True,
    ) -> None:
        self.source = source
        self.seconds = seconds
        self.label = source.label if label is None else label
        self.until_proven = until_proven
        self.proven = False

    def _deadline(self, deadline: float) -> float:
        if self.proven and self.until_proven:
            return deadline
        return min(deadline, time.time() + self.seconds)

    def fetch(self, deadline: float) -> Credentials:
        """The source's key, within the probe's bound."""
        creds = self.source.fetch(self._deadline(deadline))
        self.proven = True
        return creds

    async def afetch(self, deadline: float) -> Credentials:
        """:meth:`fetch` on the event loop."""
        creds = await self.source.afetch(self._deadline(deadline))
        self.proven = True
        return creds


class ChainSource(CredentialSource):
    """The SDKs' default chain past the environment: the first of ``sources`` that yields a key (say the
    instance's metadata, then the pod's OIDC token). The one that answered is used from then on; until one
    has, every fetch tries them in order and a failure of all raises the last source's error."""

    def __init__(self, sources: list[CredentialSource]) -> None:
        if not sources:
            raise ValueError("a credential chain needs at least one source")
        self.sources = sources
        self.chosen: CredentialSource | None = None
        self.label = "default chain: " + ", then ".join(source.label for source in sources)

    def _order(self) -> list[CredentialSource]:
        return [self.chosen] if self.chosen is not None else self.sources

    def fetch(self, deadline: float) -> Credentials:
        """The first key any source yields (blocking)."""
        failure: Exception | None = None
        for source in self._order():
            try:
                creds = source.fetch(deadline)
            except (CloudApiError, ConfigurationError) as exc:
                failure = exc
                continue
            self.chosen, self.label = source, source.label
            return creds
        assert failure is not None
        raise failure

    async def afetch(self, deadline: float) -> Credentials:
        """The first key any source yields, on the event loop."""
        failure: Exception | None = None
        for source in self._order():
            try:
                creds = await source.afetch(deadline)
            except (CloudApiError, ConfigurationError) as exc:
                failure = exc
                continue
            self.chosen, self.label = source, source.label
            return creds
        assert failure is not None
        raise failure


def unreadable_credentials(
    vendor: str, what: str, problem: str, answer: ApiResponse | None = None
) -> UnreadableAnswerError:
    """The error of an identity answer (``what``, e.g. ``sts:AssumeRole``) that holds no usable key: ``problem``
    names the field, never its value."""
    return UnreadableAnswerError(
        f"{what} {problem}",
        vendor=vendor,
        code="UnreadableCredentials",
        request_id=None if answer is None else answer.request_id,
        http_status=None if answer is None else answer.http_status,
    )


def expiry_from_iso(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 UTC timestamp as the vendors write expiries (``2026-12-06T10:00:00Z``,
    fractions allowed); None when it is anything else."""
    if not isinstance(value, str) or not value.endswith("Z") or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value[:-1])
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        return None
    return parsed.replace(tzinfo=timezone.utc).timestamp()


def checked_credentials(
    fields: Mapping[str, Any],
    *,
    names: tuple[str, str, str],
    expires_at: float | None,
    expiry_field: str,
    now: float,
    vendor: str,
    what: str,
    answer: ApiResponse | None = None,
) -> Credentials:
    """Credentials from ``fields[names]`` (key id, secret, token), each a printable string, expiring at
    ``expires_at`` (already parsed from ``expiry_field``), which must lie in the future."""
    values = []
    for name in names:
        value = fields.get(name)
        if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
            problem = f"has no usable {name!r} (a non-empty printable string)"
            raise unreadable_credentials(vendor, what, problem, answer)
        values.append(value)
    if expires_at is None:
        problem = f"has no {expiry_field!r} timestamp of the documented form"
        raise unreadable_credentials(vendor, what, problem, answer)
    if expires_at <= now:
        problem = f"answered credentials whose {expiry_field!r} has already passed"
        raise unreadable_credentials(vendor, what, problem, answer)
    key_id, secret, token = values
    return Credentials(key_id, secret, token, expires_at=expires_at)


@dataclass(frozen=True)
class MetadataCall:
    """One request to an instance metadata service: ``text`` answers are plain text (a role name, a token)."""

    method: str
    path: str
    name: str
    # May carry a metadata session token: kept out of repr.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    text: bool = False


class MetadataApi(VendorApi[MetadataCall]):
    """An instance metadata service: unsigned HTTP on the instance's link-local address (or the
    ``metadata_endpoint`` extra). Subclasses name the vendor."""

    vendor: ClassVar[str]

    def __init__(self, *, endpoint: str) -> None:
        super().__init__(None, region="", endpoint=check_metadata_endpoint(endpoint))

    def check_endpoint(self, endpoint: str, region: str) -> None:
        """Plain http to the metadata address is how every vendor serves it (see ``check_metadata_endpoint``)."""

    def prepare(self, call: MetadataCall, now: float) -> HttpRequest:
        """The path under the endpoint, with the call's own headers only."""
        return HttpRequest(call.method, self.endpoint + call.path, dict(call.headers))

    def parse(self, call: MetadataCall, status: int, headers: httpx.Headers, body: bytes) -> ApiResponse:
        """200: the JSON object (or ``{"text": ...}``); 404 no such role; 401/403 refused; else typed."""
        what = self.describe(call)
        if status == 200:
            if call.text:
                try:
                    text = body.decode("ascii").strip()
                except UnicodeDecodeError:
                    text = ""
                if not text or not text.isprintable() or len(text) > MAX_TOKEN_FILE:
                    raise unreadable_credentials(self.vendor, what, "answered no printable text")
                return ApiResponse({"text": text}, None, status)
            return ApiResponse(decode_json_object(body, vendor=self.vendor, what=what), None, status)
        cls: type[CloudApiError] = (
            NotFoundError
            if status == 404
            else AuthError
            if status in (401, 403)
            else ThrottledError
            if status == 429
            else ServerError
            if status >= 500
            else UnexpectedStatusError
        )
        snippet = body[:200].decode("utf-8", "replace").strip()
        raise cls(
            f"{what} answered HTTP {status}" + (f": {snippet}" if snippet and status < 500 else ""),
            vendor=self.vendor,
            code=f"HTTP{status}",
            http_status=status,
        )

    def describe(self, call: MetadataCall) -> str:
        """E.g. ``metadata:security-credentials``."""
        return f"metadata:{call.name}"


def env_value(name: str) -> str | None:
    """An environment variable, None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None
