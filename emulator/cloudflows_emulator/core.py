"""Vendor-neutral emulator state: scripted executions, faults, rate limits, credentials and the request log.

Nothing here knows a vendor's wire format. Vendor handler modules (``tencent.py``, ``alibaba.py``, ...) read
and update this state through :class:`CloudEmulator`; tests and the control API script it the same way.

All methods are thread-safe: the HTTP server runs on its own thread while a test thread scripts the state.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import enum
import itertools
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.limits import Quota, quota

if TYPE_CHECKING:
    from cloudflows_emulator.handler import VendorHandler

__all__ = [
    "CloudEmulator",
    "CredentialCheck",
    "Execution",
    "ExecutionKey",
    "ExecutionView",
    "Fault",
    "FaultKind",
    "RequestRecord",
    "TimedItem",
]

ExecutionKey = tuple[str, ...]
"""How an execution is addressed within its service, e.g. ``("job-abcdefgh", "A")`` for a Batch task."""

TimedItem = tuple[float, dict[str, Any]]
"""A ``(offset_seconds, payload)`` pair of a timeline or event log."""

# How long a long-poll sleeps at most before re-reading state, so that a reset, a replaced execution or
# advance() issued from another thread is noticed without waiting for the next scripted step.
_MAX_POLL_SLEEP = 0.25
# Wake just after a scripted step rather than exactly on it, so the re-read is not a hair too early.
_STEP_MARGIN = 0.002
# A "clock_skew" fault's offset for the request being answered (set by the handler around authentication).
_SIGNATURE_SKEW: contextvars.ContextVar[float] = contextvars.ContextVar("cloudflows_emulator_skew", default=0.0)
# Defaults of the fault kinds added for the fault matrix: a trickled body sends this many bytes per pause,
# and a skewed clock is an hour off (past Tencent's 5-minute and Alibaba's and Huawei's 15-minute windows).
TRICKLE_CHUNK = 4
DEFAULT_TRICKLE_INTERVAL = 0.25
DEFAULT_CLOCK_SKEW = 3600.0


@dataclass
class Execution:
    """A long-running cloud execution whose observable state follows a scripted timeline.

    ``timeline`` lists ``(offset_seconds, payload)`` steps, where ``payload`` holds the vendor-native response
    fields of that phase. The current payload is the last step whose offset is ``<=`` the elapsed time; the
    first step applies from time zero whatever its offset. The clock starts at the first request that reads
    the execution (so slow test setup does not eat into the script), or at registration when
    ``start_immediately`` is set.

    ``events`` is an optional timed event log (for APIs that expose an execution history): an event is
    visible once its offset has passed. ``aliases`` are additional keys that address the same execution.
    """

    service: str
    key: ExecutionKey
    timeline: list[TimedItem]
    events: list[TimedItem] = field(default_factory=list)
    aliases: tuple[ExecutionKey, ...] = ()
    start_immediately: bool = False
    started_at: float | None = field(default=None, compare=False)
    # Seconds added to the elapsed time by CloudEmulator.advance(); it applies before and after the start.
    skipped: float = field(default=0.0, compare=False)
    # Wall-clock time a client stopped it (TerminateJob...), for tests and the control API; None if never.
    stopped_at: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.timeline:
            raise ValueError(f"execution {self.service}{list(self.key)}: the timeline is empty")
        self.key = tuple(str(part) for part in self.key)
        self.aliases = tuple(tuple(str(part) for part in alias) for alias in self.aliases)
        self.timeline = _sorted_items(self.timeline, "timeline")
        self.events = _sorted_items(self.events, "events")

    @property
    def keys(self) -> tuple[ExecutionKey, ...]:
        """The primary key followed by the aliases."""
        return (self.key, *self.aliases)

    def elapsed(self, now: float) -> float:
        """Seconds of script played at monotonic time ``now`` (0 before the clock starts)."""
        started = 0.0 if self.started_at is None else max(0.0, now - self.started_at)
        return started + self.skipped

    def payload_at(self, elapsed: float) -> dict[str, Any]:
        """A deep copy of the payload in force ``elapsed`` seconds into the script."""
        current = self.timeline[0][1]
        for offset, payload in self.timeline:
            if offset > elapsed:
                break
            current = payload
        return copy.deepcopy(current)

    def events_at(self, elapsed: float) -> list[dict[str, Any]]:
        """Deep copies of the events visible ``elapsed`` seconds into the script, in order."""
        return [copy.deepcopy(event) for offset, event in self.events if offset <= elapsed]

    def next_change_after(self, elapsed: float) -> float | None:
        """Offset of the first step or event strictly after ``elapsed``, or None when the script is over."""
        offsets = [offset for offset, _ in itertools.chain(self.timeline, self.events) if offset > elapsed]
        return min(offsets) if offsets else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (control API)."""
        return {
            "service": self.service,
            "key": list(self.key),
            "aliases": [list(alias) for alias in self.aliases],
            "timeline": [[offset, payload] for offset, payload in self.timeline],
            "events": [[offset, event] for offset, event in self.events],
            "start_immediately": self.start_immediately,
            "started": self.started_at is not None,
            "stopped_at": self.stopped_at,
        }


@dataclass(frozen=True)
class ExecutionView:
    """What a request sees of an execution at one instant: elapsed time, payload and visible events."""

    execution: Execution
    elapsed: float
    payload: dict[str, Any]
    events: list[dict[str, Any]]


class FaultKind(str, enum.Enum):
    """Injectable failure modes.

    ``throttle``, ``internal_error`` and ``nonce_reuse`` are answered in the vendor's own error envelope;
    ``clock_skew`` makes the vendor's own signature-time rule reject the request; the others are
    transport-level and look the same for every vendor.
    """

    THROTTLE = "throttle"
    SERVER_ERROR = "server_error"
    INTERNAL_ERROR = "internal_error"
    SLOW = "slow"
    MALFORMED = "malformed"
    DROP = "drop"
    # The real answer, sent TRICKLE_CHUNK bytes at a time with ``interval`` seconds between them.
    TRICKLE = "trickle"
    # The request is read and never answered (until the client goes away).
    HANG = "hang"
    # The real answer's status line, headers and first half of its body, then the connection is closed.
    RESET = "reset"
    # The server's clock is ``skew`` seconds off while it checks the signature's timestamp.
    CLOCK_SKEW = "clock_skew"
    # The vendor says the signature nonce was used already (Alibaba ``SignatureNonceUsed``); vendors whose
    # signatures carry no nonce (Tencent TC3, Huawei SDK-HMAC) answer normally.
    NONCE_REUSE = "nonce_reuse"
    # The vendor's own invalid-parameter error, after the signature was checked: the request was refused.
    INVALID = "invalid"


@dataclass
class Fault:
    """A scripted failure consumed, in injection order, by the requests it matches.

    ``service`` / ``action`` of None match anything. ``remaining`` counts the requests still to be hit
    (None: until reset). ``delay`` seconds pass before the fault is answered (for ``slow`` that is the whole
    effect: the request is then served normally). ``retry_after`` (milliseconds) is sent by vendors that
    support a retry hint on throttling. ``interval`` is a ``trickle`` fault's pause between chunks and
    ``skew`` a ``clock_skew`` fault's offset of the server clock (seconds; negative: behind the client).
    """

    id: int
    kind: FaultKind
    service: str | None = None
    action: str | None = None
    remaining: int | None = 1
    delay: float = 0.0
    retry_after: int | None = None
    interval: float = DEFAULT_TRICKLE_INTERVAL
    skew: float = DEFAULT_CLOCK_SKEW

    def matches(self, service: str | None, action: str | None) -> bool:
        """Whether a request for ``service`` / ``action`` is hit by this fault."""
        return (self.service is None or self.service == service) and (self.action is None or self.action == action)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (control API)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "service": self.service,
            "action": self.action,
            "remaining": self.remaining,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "interval": self.interval,
            "skew": self.skew,
        }


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator answered it.

    ``error`` is the vendor error code, or None for a success. ``fault`` names the injected fault that hit
    the request, if any. ``time`` is when it was answered and ``received`` when it arrived, both wall-clock
    (unix seconds): a long poll is answered up to a minute after it was sent. A request a ``hang`` fault
    never answers is logged when it arrives, with ``status`` 0; a ``trickle`` or ``reset`` answer is logged
    with its real status when it starts to go out.
    """

    vendor: str
    service: str | None
    action: str | None
    key: ExecutionKey | None
    status: int
    error: str | None
    time: float
    fault: str | None = None
    key_id: str | None = None
    received: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (control API)."""
        return {
            "vendor": self.vendor,
            "service": self.service,
            "action": self.action,
            "key": None if self.key is None else list(self.key),
            "status": self.status,
            "error": self.error,
            "time": self.time,
            "fault": self.fault,
            "key_id": self.key_id,
            "received": self.received,
        }


@dataclass
class _KeyEntry:
    secret: str
    # A key registered without a token is a permanent key; one registered only with tokens is a temporary
    # (STS) key and must present one of them.
    permanent: bool = False
    tokens: set[str] = field(default_factory=set)
    # Wall-clock expiry of a temporary key (None: never expires).
    expires_at: float | None = None
    # The account whose quotas the key's requests count against.
    account: str = "default"


DEFAULT_ACCOUNT = "default"


class CredentialCheck(enum.Enum):
    """Outcome of :meth:`CloudEmulator.check_credentials`."""

    OK = "ok"
    UNKNOWN_KEY = "unknown_key"
    BAD_TOKEN = "bad_token"
    EXPIRED = "expired"


class _RateLimiter:
    """The quotas of :mod:`airflow_provider_cloudflows.limits`, enforced per (account, service, action).

    A window quota admits at most ``rate`` requests in any one-second window; a bucket quota holds ``burst``
    tokens refilled at ``rate`` per second, one per request.
    """

    def __init__(self) -> None:
        self.defaults: dict[tuple[str, str], Quota | None] = {}
        self.overrides: dict[tuple[str, str], Quota | None] = {}
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        # (tokens, time they were counted) per bucket.
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}

    def quota(self, service: str, action: str) -> Quota | None:
        key = (service, action)
        return self.overrides[key] if key in self.overrides else self.defaults.get(key)

    def admit(self, service: str, action: str, now: float, account: str = DEFAULT_ACCOUNT) -> bool:
        quota = self.quota(service, action)
        if quota is None:
            return True
        key = (account, service, action)
        if quota.burst is not None:
            tokens, counted = self._buckets.get(key, (float(quota.burst), now))
            tokens = min(float(quota.burst), tokens + (now - counted) * quota.rate)
            admitted = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if admitted else tokens, now)
            return admitted
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        # Only admitted requests enter the window: a client hammering past the limit still gets its fair
        # share through once a second has passed, as with the vendors' gateways.
        if len(window) >= quota.rate:
            return False
        window.append(now)
        return True

    def clear_windows(self) -> None:
        self._windows.clear()
        self._buckets.clear()


class CloudEmulator:
    """The emulated clouds' state, and the control surface tests use to script it.

    ``handlers`` are the vendor handlers served (default: every built-in vendor); they contribute the
    default credentials, the documented rate limits, and the builders and key layouts the control API
    accepts. ``credentials`` maps a vendor to the credentials accepted instead of that vendor's defaults;
    ``rate_limits`` overrides documented limits per ``(service, action)`` (None: unlimited).
    ``clock`` (monotonic seconds, for timelines and rate limits) and ``wall_clock`` (unix seconds, for
    signature timestamps and the log) are injectable.
    """

    def __init__(
        self,
        *,
        handlers: Sequence[VendorHandler] | None = None,
        credentials: Mapping[str, Iterable[Credentials]] | None = None,
        rate_limits: Mapping[tuple[str, str], int | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if handlers is None:
            # Imported here: the vendor modules import this one.
            from cloudflows_emulator.registry import default_handlers

            handlers = default_handlers()
        self.handlers: tuple[VendorHandler, ...] = tuple(handlers)
        self.clock = clock
        self.wall_clock = wall_clock
        self._lock = threading.RLock()
        # A vendor may also be named by its Airflow connection type ("tencentcloud" for "tencent").
        self._vendor_names: dict[str, str] = {}
        for handler in self.handlers:
            self._vendor_names[handler.vendor] = handler.vendor
            if handler.connection is not None:
                self._vendor_names[handler.connection.conn_type] = handler.vendor
        self._initial_credentials: dict[str, tuple[Credentials, ...]] = {}
        for handler in self.handlers:
            # A vendor may be served by several handlers (its APIs, its metadata service): keys add up.
            known = self._initial_credentials.get(handler.vendor, ())
            self._initial_credentials[handler.vendor] = known + tuple(handler.default_credentials)
        for vendor, creds in (credentials or {}).items():
            self._initial_credentials[self.vendor_name(vendor)] = tuple(creds)
        self._initial_rate_limits = {
            key: None if limit is None else Quota(limit) for key, limit in (rate_limits or {}).items()
        }
        self._rate = _RateLimiter()
        conn_types = {h.vendor: h.connection.conn_type for h in self.handlers if h.connection is not None}
        for handler in self.handlers:
            for operation in handler.operations:
                vendor = conn_types.get(handler.vendor, handler.vendor)
                self._rate.defaults[(operation.service, operation.action)] = quota(
                    vendor, f"{operation.service}:{operation.quota_name}"
                )
        self._executions: dict[tuple[str, ExecutionKey], Execution] = {}
        self._faults: list[Fault] = []
        self._fault_ids = itertools.count(1)
        self._log: list[RequestRecord] = []
        # Per-product scratch state of write operations (submitted jobs, ClientTokens, plans), see scratch().
        self._scratch: dict[str, dict[str, Any]] = {}
        self._nonces: dict[tuple[str, str, str], float] = {}
        self._keys: dict[str, dict[str, _KeyEntry]] = {}
        self._identity_lifetime: float | None = None
        self._issued: dict[str, int] = {}
        self._restore_settings()

    # --- executions -------------------------------------------------------------------------------------

    def add_execution(self, execution: Execution) -> Execution:
        """Register ``execution`` under its key and aliases (replacing what they addressed) and return it."""
        with self._lock:
            if execution.start_immediately and execution.started_at is None:
                execution.started_at = self.clock()
            for key in execution.keys:
                self._executions[(execution.service, key)] = execution
        return execution

    def add_executions(self, executions: Iterable[Execution]) -> list[Execution]:
        """Register several executions; see :meth:`add_execution`."""
        return [self.add_execution(execution) for execution in executions]

    def get_execution(self, service: str, key: Sequence[str]) -> Execution | None:
        """The execution registered under ``key``, without starting its clock."""
        with self._lock:
            return self._executions.get((service, tuple(key)))

    @property
    def executions(self) -> list[Execution]:
        """Every registered execution once (aliases folded)."""
        with self._lock:
            unique = {id(execution): execution for execution in self._executions.values()}
        return list(unique.values())

    def has_key_prefix(self, service: str, prefix: Sequence[str]) -> bool:
        """Whether any execution of ``service`` has a key starting with ``prefix`` (e.g. a known job id)."""
        prefix = tuple(prefix)
        with self._lock:
            return any(svc == service and key[: len(prefix)] == prefix for svc, key in self._executions)

    def observe(self, service: str, key: Sequence[str]) -> ExecutionView | None:
        """Read an execution as a request does: start its clock if needed and return the current view."""
        with self._lock:
            execution = self._executions.get((service, tuple(key)))
            if execution is None:
                return None
            now = self.clock()
            if execution.started_at is None:
                execution.started_at = now
            elapsed = execution.elapsed(now)
            return ExecutionView(
                execution=execution,
                elapsed=elapsed,
                payload=execution.payload_at(elapsed),
                events=execution.events_at(elapsed),
            )

    async def wait_for(
        self,
        service: str,
        key: Sequence[str],
        done: Callable[[dict[str, Any]], bool],
        timeout: float,
    ) -> ExecutionView | None:
        """Long-poll: return the view once ``done(payload)`` holds or ``timeout`` seconds have passed.

        Sleeps until the next scripted step (without blocking the event loop), so the answer leaves within
        a few milliseconds of the step that makes ``done`` true. None if the execution does not exist.
        """
        deadline = self.clock() + timeout
        while True:
            view = self.observe(service, key)
            if view is None or done(view.payload):
                return view
            remaining = deadline - self.clock()
            if remaining <= 0:
                return view
            next_change = view.execution.next_change_after(view.elapsed)
            pause = min(remaining, _MAX_POLL_SLEEP)
            if next_change is not None:
                pause = min(pause, next_change - view.elapsed + _STEP_MARGIN)
            await asyncio.sleep(max(pause, 0.0))

    def stop_execution(
        self,
        service: str,
        key: Sequence[str],
        update: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        after: float = 0.0,
    ) -> Execution | None:
        """Stop an execution as a cancel call does: drop the rest of its script, and from ``after`` seconds on
        serve ``update(current payload)``. Marks it ``stopped_at`` (visible in ``GET /_emulator/executions``).

        None if no such execution exists.
        """
        with self._lock:
            execution = self._executions.get((service, tuple(key)))
            if execution is None:
                return None
            now = self.clock()
            if execution.started_at is None:
                execution.started_at = now
            elapsed = execution.elapsed(now)
            current = execution.payload_at(elapsed)
            kept = [(offset, payload) for offset, payload in execution.timeline if offset <= elapsed]
            execution.timeline = [*kept, (elapsed + after, update(copy.deepcopy(current)))]
            execution.stopped_at = self.wall_clock()
            return execution

    def scratch(self, name: str) -> dict[str, Any]:
        """A product's mutable state between requests (e.g. ``"batch"``: submitted jobs, ClientTokens); reset
        with the executions. Callers hold no lock across requests: operations run on the server's one loop."""
        with self._lock:
            return self._scratch.setdefault(name, {})

    def advance(self, seconds: float) -> None:
        """Move every execution's script ``seconds`` forward, as if that much time had passed."""
        if seconds < 0:
            raise ValueError("advance: seconds must not be negative")
        with self._lock:
            for execution in self.executions:
                execution.skipped += seconds

    # --- faults -----------------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind | str,
        *,
        service: str | None = None,
        action: str | None = None,
        count: int | None = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
        interval: float = DEFAULT_TRICKLE_INTERVAL,
        skew: float = DEFAULT_CLOCK_SKEW,
    ) -> Fault:
        """Script a failure for the next ``count`` matching requests (None: every one until reset).

        Kinds: ``throttle`` (the vendor's throttling error; ``retry_after`` in milliseconds where the
        vendor supports a hint), ``server_error`` (HTTP 503), ``internal_error`` (the vendor's internal
        error envelope), ``slow`` (answer normally after ``delay`` seconds), ``malformed`` (HTTP 200 with a
        truncated non-JSON body), ``drop`` (the connection closes mid-reply), ``trickle`` (the real answer,
        a few bytes every ``interval`` seconds), ``hang`` (never answered), ``reset`` (the real answer cut
        off halfway through its body), ``clock_skew`` (the signature's timestamp is checked against a clock
        ``skew`` seconds off: each vendor's "expired" auth error when past its window), ``nonce_reuse``
        (Alibaba's ``SignatureNonceUsed``), ``invalid`` (the vendor's invalid-parameter error, answered after
        the signature check). ``delay`` applies to any kind.
        """
        fault_kind = FaultKind(kind)
        if count is not None and count < 1:
            raise ValueError("inject: count must be at least 1 (or None for unlimited)")
        if delay < 0:
            raise ValueError("inject: delay must not be negative")
        if interval <= 0:
            raise ValueError("inject: a trickle interval must be positive")
        if fault_kind is FaultKind.SLOW and delay <= 0:
            raise ValueError("inject: a 'slow' fault needs a positive delay")
        with self._lock:
            fault = Fault(
                id=next(self._fault_ids),
                kind=fault_kind,
                service=service,
                action=action,
                remaining=count,
                delay=delay,
                retry_after=retry_after,
                interval=float(interval),
                skew=float(skew),
            )
            self._faults.append(fault)
        return fault

    def consume_fault(self, service: str | None, action: str | None) -> Fault | None:
        """Take one use of the first pending fault matching the request, if any (used by handlers)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(service, action):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    @property
    def faults(self) -> list[Fault]:
        """Faults still pending, in the order they will be consumed."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    # --- rate limits ------------------------------------------------------------------------------------

    def quota(self, service: str, action: str) -> Quota | None:
        """The quota enforced per account on ``service`` / ``action`` (None: unlimited)."""
        with self._lock:
            return self._rate.quota(service, action)

    def rate_limit(self, service: str, action: str) -> float | None:
        """Requests per second ``service`` / ``action`` sustains per account (None: unlimited)."""
        found = self.quota(service, action)
        return None if found is None else found.rate

    def set_rate_limit(self, service: str, action: str, per_second: float | None, *, burst: int | None = None) -> None:
        """Override the documented quota of ``service`` / ``action`` (None: unlimited): ``per_second`` in any
        one-second window, or with ``burst`` a token bucket of ``burst`` refilled at ``per_second``."""
        if per_second is not None and per_second < 1:
            raise ValueError("set_rate_limit: the limit must be at least 1 request per second (or None)")
        with self._lock:
            self._rate.overrides[(service, action)] = None if per_second is None else Quota(per_second, burst)

    def admit(self, service: str, action: str, account: str = DEFAULT_ACCOUNT) -> bool:
        """Count a request of ``account`` against its quota; False when it must be throttled (handlers)."""
        with self._lock:
            return self._rate.admit(service, action, self.clock(), account)

    def account_of(self, vendor: str, key_id: str | None) -> str:
        """The account a key's requests count against (the default account for an unknown or no key)."""
        with self._lock:
            entry = self._keys.get(self._vendor_names.get(vendor, vendor), {}).get(key_id or "")
            return DEFAULT_ACCOUNT if entry is None else entry.account

    # --- credentials ------------------------------------------------------------------------------------

    def vendor_name(self, vendor: str) -> str:
        """The canonical vendor name (``tencent``) for a vendor or connection type (``tencentcloud``)."""
        try:
            return self._vendor_names[vendor]
        except KeyError:
            # Credentials stored under a name no handler reads would fail every request obscurely.
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(sorted(self._vendor_names))}") from None

    def add_credentials(
        self, vendor: str, key_id: str, secret: str, token: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> None:
        """Accept ``key_id`` / ``secret`` for ``vendor``; with ``token``, accept that session token for it.
        Its requests count against ``account``'s quotas (every key shares the default account unless told).

        ``vendor`` is ``tencent``, ``alibaba`` or ``huawei`` (or the connection type, e.g. ``tencentcloud``).

        A key added only with tokens is temporary: requests must carry one of its tokens. Adding a key
        again with another secret replaces the secret.
        """
        vendor = self.vendor_name(vendor)
        with self._lock:
            keys = self._keys.setdefault(vendor, {})
            entry = keys.get(key_id)
            if entry is None or entry.secret != secret or entry.account != account:
                entry = keys[key_id] = _KeyEntry(secret=secret, account=account)
            if token is None:
                entry.permanent = True
            else:
                entry.tokens.add(token)

    def issue_credentials(self, vendor: str, duration: float) -> Credentials:
        """A fresh temporary key (key id, secret, session token) for ``vendor``, accepted until it expires:
        ``duration`` seconds from now, or the identity lifetime set by :meth:`set_identity_lifetime` if
        shorter. What the emulated STS, IAM and metadata services hand out."""
        vendor = self.vendor_name(vendor)
        lifetime = duration if self._identity_lifetime is None else min(duration, self._identity_lifetime)
        expires_at = self.wall_clock() + lifetime
        creds = Credentials(
            f"TMP{secrets.token_hex(10).upper()}", secrets.token_urlsafe(24), secrets.token_urlsafe(48), expires_at
        )
        with self._lock:
            self._keys.setdefault(vendor, {})[creds.key_id] = _KeyEntry(
                secret=creds.secret, tokens={creds.token or ""}, expires_at=expires_at
            )
            self._issued[vendor] = self._issued.get(vendor, 0) + 1
        return creds

    def issued(self, vendor: str) -> int:
        """How many temporary keys were issued for ``vendor`` since the last reset (refreshes counted)."""
        with self._lock:
            return self._issued.get(self.vendor_name(vendor), 0)

    def set_identity_lifetime(self, seconds: float | None) -> None:
        """Cap the lifetime of issued temporary keys (None: as asked, like the vendors); tests use seconds."""
        if seconds is not None and not seconds > 0:
            raise ValueError(f"identity lifetime must be positive seconds, got {seconds!r}")
        with self._lock:
            self._identity_lifetime = seconds

    def remove_credentials(self, vendor: str, key_id: str) -> None:
        """Stop accepting ``key_id`` for ``vendor``."""
        vendor = self.vendor_name(vendor)
        with self._lock:
            self._keys.get(vendor, {}).pop(key_id, None)

    def secret_for(self, vendor: str, key_id: str) -> str | None:
        """The secret of an accepted key, or None if the key is unknown (used by verifiers)."""
        with self._lock:
            entry = self._keys.get(self._vendor_names.get(vendor, vendor), {}).get(key_id)
            return None if entry is None else entry.secret

    def check_credentials(self, vendor: str, key_id: str, token: str | None) -> CredentialCheck:
        """Whether ``key_id`` is known and ``token`` (None: none sent) is acceptable for it."""
        with self._lock:
            entry = self._keys.get(self._vendor_names.get(vendor, vendor), {}).get(key_id)
            if entry is None:
                return CredentialCheck.UNKNOWN_KEY
            if token is None or token == "":
                return CredentialCheck.OK if entry.permanent else CredentialCheck.BAD_TOKEN
            if token not in entry.tokens:
                return CredentialCheck.BAD_TOKEN
            if entry.expires_at is not None and self.server_time() >= entry.expires_at:
                return CredentialCheck.EXPIRED
            return CredentialCheck.OK

    def credentials(self, vendor: str) -> Credentials:
        """The first permanent key accepted for ``vendor`` (what generated connections use)."""
        vendor = self.vendor_name(vendor)
        with self._lock:
            for key_id, entry in self._keys.get(vendor, {}).items():
                if entry.permanent:
                    return Credentials(key_id, entry.secret)
        raise LookupError(f"no permanent credentials registered for vendor {vendor!r}")

    def use_nonce(self, vendor: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Remember a signature nonce for ``ttl`` seconds; False if it was already used within its window."""
        with self._lock:
            now = self.clock()
            for stale in [k for k, expiry in self._nonces.items() if expiry <= now]:
                del self._nonces[stale]
            slot = (vendor, key_id, nonce)
            if slot in self._nonces:
                return False
            self._nonces[slot] = now + ttl
            return True

    def server_time(self) -> float:
        """The server's wall clock as signature checks read it: ``wall_clock()`` plus a ``clock_skew`` fault's
        offset while that fault answers the request (used by the vendors' authenticators)."""
        return self.wall_clock() + _SIGNATURE_SKEW.get()

    # --- request log ------------------------------------------------------------------------------------

    def record(self, record: RequestRecord) -> None:
        """Append a request to the log (used by handlers)."""
        with self._lock:
            self._log.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered since the last reset, oldest first."""
        with self._lock:
            return list(self._log)

    def count(
        self,
        service: str | None = None,
        action: str | None = None,
        *,
        error: str | None = None,
        ok: bool | None = None,
    ) -> int:
        """How many logged requests match ``service`` / ``action`` (None: any).

        ``error`` keeps only requests answered with that error code; ``ok=True`` only successes,
        ``ok=False`` only failures.
        """
        with self._lock:
            return sum(
                1
                for r in self._log
                if (service is None or r.service == service)
                and (action is None or r.action == action)
                and (error is None or r.error == error)
                and (ok is None or (r.error is None and r.fault is None and r.status < 400) is ok)
            )

    # --- lifecycle --------------------------------------------------------------------------------------

    def reset(self, *, settings: bool = False) -> None:
        """Forget executions, faults, the request log, rate-limit windows and used nonces.

        With ``settings``, also restore the credentials and rate limits given at construction, undoing
        :meth:`add_credentials` and :meth:`set_rate_limit` (the pytest fixture does this between tests).
        """
        with self._lock:
            self._executions.clear()
            self._faults.clear()
            self._log.clear()
            self._nonces.clear()
            self._rate.clear_windows()
            self._scratch.clear()
            self._issued.clear()
            if settings:
                self._restore_settings()

    def _restore_settings(self) -> None:
        self._keys.clear()
        for vendor, creds in self._initial_credentials.items():
            for cred in creds:
                self.add_credentials(vendor, cred.key_id, cred.secret, cred.token)
        self._rate.overrides = dict(self._initial_rate_limits)
        self._identity_lifetime = None

    # --- integration ------------------------------------------------------------------------------------

    def airflow_connections(self, url: str) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` environment values (Airflow's JSON form) pointing every vendor at ``url``.

        One connection per handler that declares one (e.g. ``tencentcloud_default``), using the vendor's
        first permanent key.
        """
        env: dict[str, str] = {}
        for handler in self.handlers:
            spec = handler.connection
            if spec is None:
                continue
            creds = self.credentials(handler.vendor)
            value = {
                "conn_type": spec.conn_type,
                "login": creds.key_id,
                "password": creds.secret,
                "extra": {**spec.extra, "endpoint": url},
            }
            env[f"AIRFLOW_CONN_{spec.conn_id.upper()}"] = json.dumps(value)
        return env


def _sorted_items(items: Iterable[Sequence[Any]], what: str) -> list[TimedItem]:
    result: list[TimedItem] = []
    for item in items:
        if len(item) != 2:
            raise ValueError(f"{what}: each entry must be an (offset_seconds, payload) pair, got {item!r}")
        offset, payload = item
        if not isinstance(offset, int | float) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"{what}: offsets must be non-negative numbers, got {offset!r}")
        if not isinstance(payload, dict):
            raise ValueError(f"{what}: payloads must be dicts, got {type(payload).__name__}")
        result.append((float(offset), payload))
    # sorted() is stable: steps sharing an offset keep their order and the last one wins.
    return sorted(result, key=lambda item: item[0])
