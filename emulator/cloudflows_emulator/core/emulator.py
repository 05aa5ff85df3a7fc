"""The emulator's facade: one object that tests, the control API and the vendor handlers script and read.

It knows no vendor: it is given the handlers it serves and learns from them the service names, default keys
and connections, and composes the components that hold the state (executions, faults, accounts, rate limits,
the request log). Its many small methods are the public control surface, each delegating to one component;
that is why this module is long rather than split further.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.limits import Quota, quota
from cloudflows_emulator.core.accounts import Accounts, CredentialCheck
from cloudflows_emulator.core.executions import Execution, ExecutionStore, ExecutionView
from cloudflows_emulator.core.faults import (
    DEFAULT_CLOCK_SKEW,
    DEFAULT_TRICKLE_INTERVAL,
    Fault,
    FaultKind,
    FaultQueue,
    signature_skew,
)
from cloudflows_emulator.core.handler import VendorHandler
from cloudflows_emulator.core.limits import DEFAULT_ACCOUNT, RateLimiter
from cloudflows_emulator.core.request_log import RequestLog, RequestRecord

__all__ = ["Emulator"]


class Emulator:
    """The emulated clouds' state, and the control surface tests use to script it.

    ``handlers`` are the vendor handlers served; they contribute the service names, the default credentials,
    the documented rate limits, and the builders and key layouts the control API accepts. ``credentials``
    maps a vendor to the credentials accepted instead of that vendor's defaults; ``rate_limits`` overrides
    documented limits per ``(service, action)`` (None: unlimited). ``clock`` (monotonic seconds, for
    timelines and rate limits) and ``wall_clock`` (unix seconds, for signature timestamps and the log) are
    injectable. Every method is thread-safe: the server runs on its own thread while a test scripts state.
    """

    def __init__(
        self,
        *,
        handlers: Sequence[VendorHandler],
        credentials: Mapping[str, Iterable[Credentials]] | None = None,
        rate_limits: Mapping[tuple[str, str], int | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.handlers: tuple[VendorHandler, ...] = tuple(handlers)
        self.clock = clock
        self.wall_clock = wall_clock
        self._lock = threading.RLock()
        # Every service name the served handlers answer: what inject(), count()... accept.
        self.known_services: frozenset[str] = frozenset(
            {op.service for handler in self.handlers for op in handler.operations}
            | {spec.service for handler in self.handlers for spec in handler.services}
        )
        # A vendor may also be named by its Airflow connection type ("tencentcloud" for "tencent").
        vendor_names: dict[str, str] = {}
        initial: dict[str, tuple[Credentials, ...]] = {}
        for handler in self.handlers:
            vendor_names[handler.vendor] = handler.vendor
            if handler.connection is not None:
                vendor_names[handler.connection.conn_type] = handler.vendor
            # A vendor may be served by several handlers (its APIs, its metadata service): keys add up.
            initial[handler.vendor] = initial.get(handler.vendor, ()) + tuple(handler.default_credentials)
        for vendor, creds in (credentials or {}).items():
            initial[vendor_names.get(vendor, vendor)] = tuple(creds)
        # The components read the facade's clocks at each use, so that a test replacing ``clock`` or
        # ``wall_clock`` on the emulator moves every component's time at once.
        self._accounts = Accounts(
            vendor_names, initial, clock=lambda: self.clock(), wall_clock=lambda: self.wall_clock()
        )
        self._initial_rate_limits = {
            key: None if limit is None else Quota(limit) for key, limit in (rate_limits or {}).items()
        }
        self._rate = RateLimiter()
        for handler in self.handlers:
            conn_type = handler.vendor if handler.connection is None else handler.connection.conn_type
            for operation in handler.operations:
                self._rate.defaults[(operation.service, operation.action)] = quota(
                    conn_type, f"{operation.service}:{operation.quota_name}"
                )
        self._rate.overrides = dict(self._initial_rate_limits)
        self._executions = ExecutionStore(lambda: self.clock(), lambda: self.wall_clock())
        self._faults = FaultQueue()
        self._log = RequestLog()

    def check_service(self, service: str | None) -> None:
        """Raise ValueError when ``service`` (None: any) names no service this emulator serves."""
        if service is not None and service not in self.known_services:
            known = ", ".join(sorted(self.known_services))
            raise ValueError(f"unknown service {service!r}; known services: {known}")

    # --- executions -------------------------------------------------------------------------------------

    def add_execution(self, execution: Execution) -> Execution:
        """Register ``execution`` under its key and aliases (replacing what they addressed) and return it."""
        return self._executions.add(execution)

    def add_executions(self, executions: Iterable[Execution]) -> list[Execution]:
        """Register several executions; see :meth:`add_execution`."""
        return [self.add_execution(execution) for execution in executions]

    def get_execution(self, service: str, key: Sequence[str]) -> Execution | None:
        """The execution registered under ``key``, without starting its clock."""
        return self._executions.get(service, key)

    @property
    def executions(self) -> list[Execution]:
        """Every registered execution once (aliases folded)."""
        return self._executions.all()

    def has_key_prefix(self, service: str, prefix: Sequence[str]) -> bool:
        """Whether any execution of ``service`` has a key starting with ``prefix`` (e.g. a known job id)."""
        return self._executions.has_key_prefix(service, prefix)

    def observe(self, service: str, key: Sequence[str]) -> ExecutionView | None:
        """Read an execution as a request does: start its clock if needed and return the current view."""
        return self._executions.observe(service, key)

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
        return await self._executions.wait_for(service, key, done, timeout)

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
        return self._executions.stop(service, key, update, after=after)

    def scratch(self, name: str) -> dict[str, Any]:
        """A product's mutable state between requests (e.g. ``"batch"``: submitted jobs, ClientTokens); reset
        with the executions. Callers hold no lock across requests: operations run on the server's one loop."""
        return self._executions.scratch(name)

    def advance(self, seconds: float) -> None:
        """Move every execution's script ``seconds`` forward, as if that much time had passed."""
        if seconds < 0:
            raise ValueError("advance: seconds must not be negative")
        self._executions.advance(seconds)

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
        self.check_service(service)
        return self._faults.add(
            FaultKind(kind),
            service=service,
            action=action,
            count=count,
            delay=delay,
            retry_after=retry_after,
            interval=interval,
            skew=skew,
        )

    def consume_fault(self, service: str | None, action: str | None) -> Fault | None:
        """Take one use of the first pending fault matching the request, if any (used by handlers)."""
        return self._faults.consume(service, action)

    @property
    def faults(self) -> list[Fault]:
        """Faults still pending, in the order they will be consumed."""
        return self._faults.pending()

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    # --- rate limits ------------------------------------------------------------------------------------

    def quota(self, service: str, action: str) -> Quota | None:
        """The quota enforced per account on ``service`` / ``action`` (None: unlimited)."""
        self.check_service(service)
        with self._lock:
            return self._rate.quota(service, action)

    def rate_limit(self, service: str, action: str) -> float | None:
        """Requests per second ``service`` / ``action`` sustains per account (None: unlimited)."""
        found = self.quota(service, action)
        return None if found is None else found.rate

    def set_rate_limit(self, service: str, action: str, per_second: float | None, *, burst: int | None = None) -> None:
        """Override the documented quota of ``service`` / ``action`` (None: unlimited): ``per_second`` in any
        one-second window, or with ``burst`` a token bucket of ``burst`` refilled at ``per_second``."""
        self.check_service(service)
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
        return self._accounts.account_of(vendor, key_id)

    # --- credentials ------------------------------------------------------------------------------------

    def vendor_name(self, vendor: str) -> str:
        """The canonical vendor name (``tencent``) for a vendor or connection type (``tencentcloud``)."""
        return self._accounts.vendor_name(vendor)

    def add_credentials(
        self, vendor: str, key_id: str, secret: str, token: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> None:
        """Accept ``key_id`` / ``secret`` for ``vendor``; with ``token``, accept that session token for it.
        Its requests count against ``account``'s quotas (every key shares the default account unless told).

        ``vendor`` is ``tencent``, ``alibaba`` or ``huawei`` (or the connection type, e.g. ``tencentcloud``).

        A key added only with tokens is temporary: requests must carry one of its tokens. Adding a key
        again with another secret replaces the secret.
        """
        self._accounts.add(vendor, key_id, secret, token, account=account)

    def issue_credentials(self, vendor: str, duration: float) -> Credentials:
        """A fresh temporary key (key id, secret, session token) for ``vendor``, accepted until it expires:
        ``duration`` seconds from now, or the identity lifetime set by :meth:`set_identity_lifetime` if
        shorter. What the emulated STS, IAM and metadata services hand out."""
        return self._accounts.issue(vendor, duration)

    def issued(self, vendor: str) -> int:
        """How many temporary keys were issued for ``vendor`` since the last reset (refreshes counted)."""
        return self._accounts.issued(vendor)

    def set_identity_lifetime(self, seconds: float | None) -> None:
        """Cap the lifetime of issued temporary keys (None: as asked, like the vendors); tests use seconds."""
        self._accounts.set_identity_lifetime(seconds)

    def remove_credentials(self, vendor: str, key_id: str) -> None:
        """Stop accepting ``key_id`` for ``vendor``."""
        self._accounts.remove(vendor, key_id)

    def secret_for(self, vendor: str, key_id: str) -> str | None:
        """The secret of an accepted key, or None if the key is unknown (used by verifiers)."""
        return self._accounts.secret_for(vendor, key_id)

    def check_credentials(self, vendor: str, key_id: str, token: str | None) -> CredentialCheck:
        """Whether ``key_id`` is known and ``token`` (None: none sent) is acceptable for it."""
        return self._accounts.check(vendor, key_id, token, self.server_time())

    def credentials(self, vendor: str) -> Credentials:
        """The first permanent key accepted for ``vendor`` (what generated connections use)."""
        return self._accounts.permanent(vendor)

    def use_nonce(self, vendor: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Remember a signature nonce for ``ttl`` seconds; False if it was already used within its window."""
        return self._accounts.use_nonce(vendor, key_id, nonce, ttl)

    def server_time(self) -> float:
        """The server's wall clock as signature checks read it: ``wall_clock()`` plus a ``clock_skew`` fault's
        offset while that fault answers the request (used by the vendors' authenticators)."""
        return self.wall_clock() + signature_skew.get()

    # --- request log ------------------------------------------------------------------------------------

    def record(self, record: RequestRecord) -> None:
        """Append a request to the log (used by handlers)."""
        self._log.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered since the last reset, oldest first."""
        return self._log.records()

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
        self.check_service(service)
        return self._log.count(service, action, error=error, ok=ok)

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
            self._accounts.clear()
            self._rate.clear_windows()
            if settings:
                self._accounts.restore()
                self._rate.overrides = dict(self._initial_rate_limits)

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
