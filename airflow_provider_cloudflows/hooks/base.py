"""The hook machinery shared by every vendor: connection → credentials → client, and connection tests."""

from __future__ import annotations

import abc
import json
import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_provider_cloudflows.compat import BaseHook, aextra_dejson, aget_connection
from airflow_provider_cloudflows.connection_forms import ui_field_behaviour
from airflow_provider_cloudflows.credentials import (
    CredentialProvider,
    Credentials,
    RefreshingCredentials,
    StaticCredentials,
    shared_identity,
)
from airflow_provider_cloudflows.credentials import Identity as Identity  # re-exported: where hooks found it
from airflow_provider_cloudflows.errors import AuthError, CloudApiError, ConfigurationError
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.endpoints import check_region
from airflow_provider_cloudflows.transport.identity import IdentitySettings
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from airflow_provider_cloudflows.transport.vendor_api import VendorApi

# Seconds a connection test may spend, retries included.
PROBE_BUDGET = 15.0
# Bounds of the advanced retry extras: beyond them a typo (say 5000 attempts) would only hide an outage.
MAX_ATTEMPTS = 20
MAX_INITIAL_BACKOFF = 60.0
# Clients shared by async callers with identical connections (see CloudHook.aget_conn), oldest dropped first.
MAX_SHARED_CLIENTS = 256
_SHARED_CLIENTS: dict[tuple[Any, ...], CloudClient[Any]] = {}


def check_extra_is_object(conn_id: str, conn: Any) -> None:
    """Airflow quietly reads extras that are not a JSON object as ``{}``; a broken extra must say so instead."""
    raw = getattr(conn, "extra", None)
    if raw in (None, ""):
        return
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        parsed = None
    if not isinstance(parsed, Mapping):
        raise ConfigurationError(f"extra of connection {conn_id!r}", "must be a JSON object ({...})")


def extra_value(extra: Mapping[str, Any], conn_type: str, name: str) -> str | None:
    """Read an extra field stored plain (``region``) or UI-prefixed (``extra__tencentcloud__region``)."""
    for key in (name, f"extra__{conn_type}__{name}"):
        value = extra.get(key)
        if value not in (None, ""):
            return str(value)
    return None


class CloudHook(BaseHook):
    """Base of the vendor hooks. A subclass names its connection type and builds its :class:`VendorApi`.

    Credentials are read from the connection when a client is built, never stored in task or trigger
    arguments. The async path reads the connection with Airflow's async connection API so a trigger
    never blocks the triggerer's event loop.
    """

    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    vendor_label: ClassVar[str]
    # What ``complete_extra`` does, for a connection test's answer.
    completion_step: ClassVar[str] = "completing the connection"
    # Connection extras a task may override (``region`` is a named argument of every hook).
    override_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        region: str | None = None,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        # Airflow builds hooks as ``Hook(**{conn_name_attr: conn_id})`` (connection tests, ``Connection.get_hook``).
        named = kwargs.pop(self.conn_name_attr, None)
        if conn_id is not None and named is not None and conn_id != named:
            raise TypeError(f"{type(self).__name__}: conn_id={conn_id!r} and {self.conn_name_attr}={named!r} differ")
        unknown = sorted(set(kwargs) - set(self.override_fields))
        if unknown:
            # A misspelt keyword silently testing the default connection is how a Test button lies.
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {unknown}; "
                f"accepted: {self.conn_name_attr}, region, retry_policy"
                + "".join(f", {name}" for name in self.override_fields)
            )
        self.conn_id = conn_id or named or self.default_conn_name
        self.region = region
        self.overrides = {k: v for k, v in kwargs.items() if v not in (None, "")}
        self.retry_policy = retry_policy
        self._client: CloudClient[Any] | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form metadata (also declared in ``get_provider_info()`` for Airflow 3's UI)."""
        return ui_field_behaviour(cls.conn_type)

    @abc.abstractmethod
    def build_api(self, credentials: CredentialProvider, extra: Mapping[str, Any]) -> VendorApi[Any]:
        """Bind the vendor protocol to this connection's account, region and endpoint."""

    @abc.abstractmethod
    def probe_call(self) -> Any:
        """A cheap signed read used by ``test_connection`` (usually a lookup of a resource that doesn't exist)."""

    def token_from(self, extra: Mapping[str, Any]) -> str | None:
        """The temporary-credentials token, under whatever extra name this vendor uses."""
        return None

    def identity(self, conn: Any, extra: Mapping[str, Any]) -> Credentials | Identity:
        """Where the keys come from: the connection's stored keys here; vendor hooks add roles, instance
        and pod identity, and the SDK's default chain for a connection that stores nothing."""
        return self.stored_credentials(conn, extra)

    def stored_credentials(self, conn: Any, extra: Mapping[str, Any]) -> Credentials:
        """The key pair (and session token) stored in the connection."""
        return self.identity_settings(conn, extra).stored_credentials()

    def identity_settings(self, conn: Any, extra: Mapping[str, Any]) -> IdentitySettings:
        """What the vendor's choice of a source of keys reads (no I/O: only the connection and the hook)."""
        return IdentitySettings(
            conn_id=self.conn_id,
            vendor_label=self.vendor_label,
            login=conn.login,
            password=conn.password,
            token=self.token_from(extra),
            extra=lambda name: self.extra(extra, name),
            region=lambda: self.resolved_region(extra),
            policy=lambda: self.retry_policy or self._policy_from(extra),
        )

    def credential_provider(self, conn: Any, extra: Mapping[str, Any]) -> CredentialProvider:
        """The connection's keys: static, or the process's one refreshing provider of its identity."""
        resolved = self.identity(conn, extra)
        if isinstance(resolved, Credentials):
            return StaticCredentials(resolved)
        return shared_identity(
            (self.conn_type, resolved.key), lambda: RefreshingCredentials(resolved.source, account=resolved.account)
        )

    def complete_extra(self, provider: CredentialProvider, extra: Mapping[str, Any]) -> Mapping[str, Any]:
        """The extras with what the vendor looks up when the connection leaves it out (worker code)."""
        return extra

    async def acomplete_extra(self, provider: CredentialProvider, extra: Mapping[str, Any]) -> Mapping[str, Any]:
        """:meth:`complete_extra` for async code: never a blocking call on the event loop."""
        return extra

    def _extra_of(self, conn: Any, extra: Any = None) -> Mapping[str, Any]:
        check_extra_is_object(self.conn_id, conn)
        if extra is None:  # the sync path; async callers pass the extras read with compat.aextra_dejson
            extra = conn.extra_dejson
        return extra if isinstance(extra, Mapping) else {}

    def _client_with(self, provider: CredentialProvider, extra: Mapping[str, Any]) -> CloudClient[Any]:
        return CloudClient(self.build_api(provider, extra), self.retry_policy or self._policy_from(extra))

    def _client_from(self, conn: Any, extra: Any = None) -> CloudClient[Any]:
        """The client of ``conn`` as stored (nothing looked up)."""
        extras = self._extra_of(conn, extra)
        return self._client_with(self.credential_provider(conn, extras), extras)

    def _policy_from(self, extra: Mapping[str, Any]) -> RetryPolicy:
        # Advanced extras, not in the form: most users never need to change the retry discipline.
        attempts = extra.get("max_attempts", RetryPolicy.max_attempts)
        backoff = extra.get("initial_backoff", RetryPolicy.initial_backoff)
        if isinstance(attempts, bool) or not isinstance(attempts, (int, str)) or not str(attempts).strip().isdigit():
            raise ConfigurationError("max_attempts extra", f"must be a whole number from 1 to {MAX_ATTEMPTS}")
        if not 1 <= int(attempts) <= MAX_ATTEMPTS:
            raise ConfigurationError("max_attempts extra", f"must be a whole number from 1 to {MAX_ATTEMPTS}")
        try:
            seconds = float(backoff)
        except (TypeError, ValueError):
            seconds = math.nan
        if isinstance(backoff, bool) or not 0 <= seconds <= MAX_INITIAL_BACKOFF:
            raise ConfigurationError("initial_backoff extra", f"must be seconds from 0 to {MAX_INITIAL_BACKOFF:g}")
        return RetryPolicy(max_attempts=int(attempts), initial_backoff=seconds)

    def extra(self, extra: Mapping[str, Any], name: str) -> str | None:
        """A task-level override, else the connection's extra field."""
        value = self.overrides.get(name)
        return str(value) if value is not None else extra_value(extra, self.conn_type, name)

    def resolved_region(self, extra: Mapping[str, Any]) -> str:
        """The task's region, else the connection's; every API this provider calls needs one."""
        if self.region is not None and self.region != "":
            return check_region(self.region, source="region (task argument)")
        return check_region(
            extra_value(extra, self.conn_type, "region"), source=f"region extra of connection {self.conn_id!r}"
        )

    def get_conn(self) -> CloudClient[Any]:
        """The synchronous client (built once per hook; its HTTP pool is process-wide)."""
        if self._client is None:
            conn = self.get_connection(self.conn_id)
            extra = self._extra_of(conn)
            provider = self.credential_provider(conn, extra)
            self._client = self._client_with(provider, self.complete_extra(provider, extra))
        return self._client

    async def aget_conn(self) -> CloudClient[Any]:
        """The client for async code, reading the connection with the async connection API.

        The connection is read every time (a rotated secret is picked up by the next wait), but triggers
        whose connection, overrides and retry policy are identical share one client (vendor API, credentials,
        retry policy): a triggerer with thousands of waits on one account builds it once, not per wait.
        """
        if self._client is None:
            # Never the sync ``extra_dejson``: it would call the supervisor synchronously on the event loop.
            conn = await aget_connection(self, self.conn_id)
            extra = await aextra_dejson(conn)
            key = self._share_key(conn, extra)
            shared = _SHARED_CLIENTS.get(key) if key is not None else None
            if shared is None:
                extras = self._extra_of(conn, extra)
                provider = self.credential_provider(conn, extras)
                shared = self._client_with(provider, await self.acomplete_extra(provider, extras))
                if key is not None:
                    if len(_SHARED_CLIENTS) >= MAX_SHARED_CLIENTS:
                        _SHARED_CLIENTS.pop(next(iter(_SHARED_CLIENTS)))  # the oldest
                    _SHARED_CLIENTS[key] = shared
            self._client = shared
        return self._client

    def _share_key(self, conn: Any, extra: Any) -> tuple[Any, ...] | None:
        """What the client is built from; None when it cannot be compared (then it is not shared)."""
        try:
            extra_text = json.dumps(extra, sort_keys=True, default=str) if isinstance(extra, Mapping) else None
            overrides = tuple(sorted((k, str(v)) for k, v in self.overrides.items()))
            key = (
                type(self),
                self.conn_id,
                conn.conn_type,
                conn.login,
                conn.password,
                getattr(conn, "extra", None),
                extra_text,
                self.region,
                overrides,
                self.retry_policy,
            )
            hash(key)
        except (TypeError, ValueError):
            return None
        return key

    def test_connection(self) -> tuple[bool, str]:
        """Obtain the keys (assume the role, read the metadata), then make one cheap signed read call; say
        in plain words which step failed, or that the credentials were accepted."""
        step = "reading the connection"
        try:
            conn = self.get_connection(self.conn_id)
            extra = self._extra_of(conn)
            provider = self.credential_provider(conn, extra)
            # The UI's Test button waits on this: throttling may be retried, but only for a few seconds.
            deadline = time.time() + PROBE_BUDGET
            if isinstance(provider, RefreshingCredentials):
                step = f"obtaining credentials ({provider.source.label})"
                provider.current(deadline)
            step = self.completion_step
            client = self._client_with(provider, self.complete_extra(provider, extra))
            step = "the probe call"
            client.call(self.probe_call(), deadline=deadline)
        except AuthError as exc:
            return False, f"{self.vendor_label} rejected the credentials or signature ({step}): {exc}"
        except CloudApiError as exc:
            if step != "the probe call":
                return False, f"{self.vendor_label}: {step} failed: {exc}"
            if exc.retryable:
                return False, f"{self.vendor_label} could not be reached reliably: {exc}"
            # Any other vendor answer (not found, invalid parameter) proves the signature was accepted.
            return True, f"Credentials accepted by {self.vendor_label} (probe answered {exc.code})"
        except ValueError as exc:
            return False, str(exc) if step == "reading the connection" else f"{self.vendor_label}: {step} failed: {exc}"
        return True, f"Credentials accepted by {self.vendor_label}"
