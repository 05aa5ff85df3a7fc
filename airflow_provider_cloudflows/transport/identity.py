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
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, CredentialSource
from airflow_provider_cloudflows.errors import (
    CloudApiError,
)
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.retry import RetryPolicy

__all__ = [
    "MAX_TOKEN_FILE",
    "PROBE_SECONDS",
    "ChainSource",
    "ExchangeSource",
    "IdentitySettings",
    "ProbeSource",
    "TokenFile",
    "env_value",
    "read_token_file",
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


def env_value(name: str) -> str | None:
    """An environment variable, None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None
