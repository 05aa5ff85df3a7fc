"""Cloud credentials: a value type that never prints its secrets, and the providers that keep it fresh.

A temporary identity (a role assumed through STS, an instance's metadata, a pod's OIDC token) is refreshed
in the background, before it expires, by one refresh at a time per identity per process: a thousand waits on
one role cause one STS call per lifetime, and none of them waits for it while the current key is still good.
A refresh that fails leaves the current key in use until it really expires, and is tried again with
backoff at the next call that needs a key.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import ClassVar

from airflow_provider_cloudflows.config_errors import ConfigurationError

log = logging.getLogger(__name__)

# Refresh at the later of this share of the lifetime and ``REFRESH_LEAD`` seconds before expiry.
REFRESH_SHARE = 0.85
REFRESH_LEAD = 300.0
# A failed refresh is tried again after 1, 2, 4... seconds, at most this, and never after a third of
# the time the current key has left.
MAX_REFRESH_BACKOFF = 60.0
# Identities kept per process (one per connection and role), oldest dropped first.
MAX_SHARED_IDENTITIES = 256


def check_secret_text(name: str, value: str | None) -> None:
    """Refuse a credential that would garble a signature or an HTTP header, without ever printing it.

    A trailing space or line break pasted with a key would otherwise reach the HTTP library, whose error text
    prints the raw header value (and each retry logs it again): refuse it here, naming the field only.
    """
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigurationError(name, f"must be a string, not {type(value).__name__}")
    if not value:
        raise ConfigurationError(name, "is empty")
    if value != value.strip():
        raise ConfigurationError(name, "has leading or trailing whitespace (a copy-paste slip?); remove it")
    if not value.isascii() or not value.isprintable():
        raise ConfigurationError(name, "must be printable ASCII: no line breaks, control or non-ASCII characters")


@dataclass(frozen=True)
class Credentials:
    """An access key pair, optionally with a temporary session token and its expiry (epoch seconds).

    ``secret`` and ``token`` are excluded from ``repr`` so that a credentials object that ends up in a log
    line or a traceback shows only the (non-secret) key id.
    """

    key_id: str
    secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    expires_at: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_secret_text("login (access key id)", self.key_id)
        check_secret_text("password (secret key)", self.secret)
        check_secret_text("session token extra", self.token)


class CredentialProvider(abc.ABC):
    """Where a client gets the key it signs with. ``account`` names the identity (never a secret): rate
    limits and shared waits are keyed by it, not by a key id that changes at every refresh."""

    account: str
    refreshable: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def cached(self) -> Credentials:
        """The key last obtained, without any I/O (raises if none was obtained yet)."""

    def fresh(self) -> Credentials | None:
        """The cached key when nothing needs doing first (the hot path: no I/O, no await), else None."""
        return self.cached

    def current(self, deadline: float | None = None) -> Credentials:
        """A usable key, refreshing first when needed (blocking: worker code)."""
        return self.cached

    async def acurrent(self, deadline: float | None = None) -> Credentials:
        """A usable key; a refresh runs as a task of its own and never blocks the event loop."""
        return self.cached

    def force_refresh(self, stale: Credentials, deadline: float | None = None) -> bool:
        """After the vendor answered that ``stale`` expired: refresh (unless another call already did).
        False when this provider cannot refresh (a static key)."""
        return False

    async def aforce_refresh(self, stale: Credentials, deadline: float | None = None) -> bool:
        """:meth:`force_refresh` for async code."""
        return False

    def secrets(self) -> tuple[str, ...]:
        """Every secret and token this provider has handed out recently (for redacting vendor text)."""
        creds = self.cached
        return tuple(s for s in (creds.secret, creds.token) if s)


class StaticCredentials(CredentialProvider):
    """A key stored in the connection (or the environment): used as it is, never refreshed."""

    def __init__(self, credentials: Credentials, *, account: str | None = None) -> None:
        self._credentials = credentials
        self.account = account or credentials.key_id

    @property
    def cached(self) -> Credentials:
        """The stored key."""
        return self._credentials


class CredentialSource(abc.ABC):
    """One way of obtaining a temporary key: an STS call, a metadata read, an OIDC exchange.

    ``label`` says which in a connection test's answer ("assume role", "instance metadata"...). A source
    returns credentials with ``expires_at`` set, or raises a typed error (never a secret in it).
    """

    label: str

    @abc.abstractmethod
    def fetch(self, deadline: float) -> Credentials:
        """Obtain a key (blocking)."""

    @abc.abstractmethod
    async def afetch(self, deadline: float) -> Credentials:
        """Obtain a key on the event loop."""


@dataclass(frozen=True)
class Identity:
    """A temporary identity a connection names: where its keys come from, the account it acts as (never a
    secret), and what makes it this identity (every input of the source; kept in memory only)."""

    source: CredentialSource
    account: str
    # May hold the stored secret (the key an STS call is signed with): never in a repr.
    key: Hashable = field(repr=False)


@dataclass
class _State:
    credentials: Credentials | None = None
    issued_at: float = 0.0
    refresh_at: float = 0.0
    failures: int = 0
    # Secrets of the previous key, still redacted from vendor text for one lifetime.
    previous: tuple[str, ...] = ()


# Seconds one refresh may take, retries included, when the caller has no deadline of its own.
REFRESH_BUDGET = 30.0
# Seconds a blocking caller spends refreshing a key that is due but still good.
EARLY_REFRESH_BUDGET = 5.0


class RefreshingCredentials(CredentialProvider):
    """A temporary key from ``source``, refreshed before it expires (see the module docstring)."""

    refreshable = True

    def __init__(self, source: CredentialSource, *, account: str, clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.account = account
        self.clock = clock
        self.refreshes = 0  # successful fetches (tests and benchmarks read it)
        self._state = _State()
        self._lock = threading.Lock()
        self._sync_flight = threading.Lock()
        # One refresh task per event loop (a loop that closes mid-refresh takes its entry with it).
        self._flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[Credentials]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def cached(self) -> Credentials:
        """The key last obtained."""
        creds = self._state.credentials
        if creds is None:
            raise LookupError(f"no credentials obtained yet for {self.account}")
        return creds

    def secrets(self) -> tuple[str, ...]:
        """The current and the previous key's secrets."""
        creds = self._state.credentials
        current = () if creds is None else tuple(s for s in (creds.secret, creds.token) if s)
        return current + self._state.previous

    def fresh(self) -> Credentials | None:
        """The cached key until its refresh time; None once a refresh is due (or no key is held)."""
        state = self._state
        creds = state.credentials
        if creds is None:
            return None
        now = self.clock()
        # A failed refresh plans its retry; an expired key is never handed out meanwhile.
        if now < state.refresh_at and (creds.expires_at is None or now < creds.expires_at):
            return creds
        return None

    def _usable(self) -> Credentials | None:
        """The cached key while it has not expired."""
        creds = self._state.credentials
        if creds is None or (creds.expires_at is not None and self.clock() >= creds.expires_at):
            return None
        return creds

    def _landed(self, creds: Credentials) -> Credentials:
        """Take a fetched key and plan its refresh."""
        now = self.clock()
        expires = creds.expires_at if creds.expires_at is not None else now + REFRESH_LEAD / (1 - REFRESH_SHARE)
        lifetime = max(0.0, expires - now)
        with self._lock:
            old = self._state.credentials
            previous = () if old is None else tuple(s for s in (old.secret, old.token) if s)
            self._state = _State(
                credentials=creds,
                issued_at=now,
                refresh_at=max(now + lifetime * REFRESH_SHARE, expires - REFRESH_LEAD),
                previous=previous,
            )
            self.refreshes += 1
        return creds

    def _failed(self, exc: BaseException) -> None:
        """Keep the current key and plan the next try with backoff."""
        with self._lock:
            state = self._state
            state.failures += 1
            now = self.clock()
            delay = min(MAX_REFRESH_BACKOFF, 2.0 ** (state.failures - 1))
            creds = state.credentials
            if creds is not None and creds.expires_at is not None:
                delay = min(delay, max(0.1, (creds.expires_at - now) / 3))
            state.refresh_at = now + delay
        # The error names the call and the vendor's code and RequestId; never a secret.
        log.warning("refreshing credentials of %s failed (try %d): %s", self.account, state.failures, exc)

    # --- sync (workers) -----------------------------------------------------------------------------------

    def current(self, deadline: float | None = None) -> Credentials:
        """The cached key, after a blocking refresh when one is due; concurrent threads do not queue
        behind a refresh while the current key is still good."""
        creds = self.fresh()
        if creds is not None:
            return creds
        usable = self._usable()
        if usable is not None:
            if not self._sync_flight.acquire(blocking=False):
                return usable  # another thread is refreshing
            # The key in hand is good: a slow or hung STS may delay this call a little, never by the
            # whole refresh budget (the next due call tries again).
            early = self.clock() + EARLY_REFRESH_BUDGET
            if usable.expires_at is not None:
                early = min(early, usable.expires_at)
            try:
                return self._refresh_sync(early if deadline is None else min(deadline, early), keep=usable)
            finally:
                self._sync_flight.release()
        with self._sync_flight:
            usable = self.fresh()
            if usable is not None:
                return usable
            return self._refresh_sync(deadline, keep=None)

    def _refresh_sync(self, deadline: float | None, *, keep: Credentials | None) -> Credentials:
        try:
            creds = self.source.fetch(deadline if deadline is not None else self.clock() + REFRESH_BUDGET)
        except Exception as exc:
            self._failed(exc)
            if keep is None:
                raise
            return keep
        return self._landed(creds)

    def force_refresh(self, stale: Credentials, deadline: float | None = None) -> bool:
        """Refresh now, unless another call already replaced ``stale``."""
        with self._sync_flight:
            if self._state.credentials != stale:
                return True
            self._refresh_sync(deadline, keep=None)
        return True

    # --- async (triggers) ---------------------------------------------------------------------------------

    async def acurrent(self, deadline: float | None = None) -> Credentials:
        """The cached key while it is good (a due refresh then runs in the background); otherwise the
        refresh's result, awaited within ``deadline``."""
        creds = self.fresh()
        if creds is not None:
            return creds
        flight = self._flight()
        usable = self._usable()
        if usable is not None:
            return usable
        return await self._await(flight, deadline)

    async def aforce_refresh(self, stale: Credentials, deadline: float | None = None) -> bool:
        """Refresh now (joining a refresh already running), unless another call already replaced ``stale``."""
        if self._state.credentials != stale:
            return True
        await self._await(self._flight(), deadline)
        return True

    def _flight(self) -> asyncio.Task[Credentials]:
        """The refresh running on this loop, started if none is."""
        loop = asyncio.get_running_loop()
        task = self._flights.get(loop)
        if task is None:
            task = self._flights[loop] = loop.create_task(self._arefresh())

            def landed(done: asyncio.Task[Credentials]) -> None:
                self._flights.pop(loop, None)
                if not done.cancelled():
                    done.exception()  # retrieved: a failure nobody awaits is already logged by _failed

            task.add_done_callback(landed)
        return task

    async def _arefresh(self) -> Credentials:
        try:
            creds = await self.source.afetch(self.clock() + REFRESH_BUDGET)
        except Exception as exc:
            self._failed(exc)
            raise
        return self._landed(creds)

    async def _await(self, flight: asyncio.Task[Credentials], deadline: float | None) -> Credentials:
        """Await the shared refresh, shielded: a caller cancelled or out of time leaves it to the others."""
        if deadline is None:
            return await asyncio.shield(flight)
        return await asyncio.wait_for(asyncio.shield(flight), max(0.0, deadline - self.clock()))


_SHARED: dict[Hashable, RefreshingCredentials] = {}
_SHARED_LOCK = threading.Lock()


def shared_identity(key: Hashable, build: Callable[[], RefreshingCredentials]) -> RefreshingCredentials:
    """The process's one provider for the identity ``key`` (connection, role, source and their inputs),
    built on first use: every hook, trigger and sensor of that identity shares its key and its refreshes."""
    with _SHARED_LOCK:
        provider = _SHARED.get(key)
        if provider is None:
            if len(_SHARED) >= MAX_SHARED_IDENTITIES:
                _SHARED.pop(next(iter(_SHARED)))
            provider = _SHARED[key] = build()
        return provider


def forget_shared_identities() -> None:
    """Drop every shared provider (tests: a new emulator issues new keys)."""
    with _SHARED_LOCK:
        _SHARED.clear()
