"""The vendor-neutral API client: prepare (sign) → send over the shared pool → parse, with retries."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable
from typing import Any, Generic, TypeVar

import httpx
from tenacity import AsyncRetrying, Retrying

from airflow_provider_cloudflows.credentials import CredentialProvider, Credentials
from airflow_provider_cloudflows.errors import CloudApiError, ResponseTooLargeError, ThrottledError, TransportError
from airflow_provider_cloudflows.limits import Quota
from airflow_provider_cloudflows.transport import pool
from airflow_provider_cloudflows.transport.messages import ApiResponse, HttpRequest
from airflow_provider_cloudflows.transport.pool import DEFAULT_TIMEOUT
from airflow_provider_cloudflows.transport.retry import (
    DEADLINE_EXCEEDED,
    POOL_TIMEOUT,
    RetryLedger,
    RetryPolicy,
    is_retryable,
)
from airflow_provider_cloudflows.transport.throttle import LIMITER
from airflow_provider_cloudflows.transport.vendor_api import VendorApi

log = logging.getLogger(__name__)

CallT = TypeVar("CallT")
ResultT = TypeVar("ResultT")

# The most of a reply body that is read. Every documented answer is far smaller (a Batch page of 1,000
# instances is well under 1 MiB); past this a reply is refused with a typed error instead of filling memory.
MAX_BODY = 4 * 1024 * 1024
# A socket timeout bounded by the deadline runs on the monotonic clock, the deadline on the wall clock: a
# timeout this close to the deadline is taken as the deadline's.
_CLOCK_SLACK = 0.05


def _scrub(text: str, request: HttpRequest) -> str:
    # A query string can carry an access key id, a signature and (Alibaba RPC) an STS token.
    query = httpx.URL(request.url).query.decode()
    return text.replace(query, "<query redacted>") if query else text


def _parsed_url(url: str) -> httpx.URL | str:
    """The URL as httpx parses it, parsed once per URL without a query (httpx parses a string on every
    request). A URL with a query (Alibaba RPC: a fresh signature and nonce each time) is left to
    httpx, so the cache never fills with one-off URLs or holds a signature."""
    return url if "?" in url else _parse_url(url)


@functools.lru_cache(maxsize=1024)
def _parse_url(url: str) -> httpx.URL:
    return httpx.URL(url)


@functools.lru_cache(maxsize=64)
def _phase_timeout(connect: float | None, read: float | None, write: float | None, pool_wait: float) -> httpx.Timeout:
    # httpx only reads a Timeout, so one object serves every uncapped request with the same phases.
    return httpx.Timeout(connect=connect, read=read, write=write, pool=pool_wait)


class CloudClient(Generic[CallT]):
    """Calls one vendor API with the retry policy, from sync code (``call``) or async code (``acall``)."""

    def __init__(self, api: VendorApi[CallT], policy: RetryPolicy | None = None) -> None:
        self.api = api
        self.policy = policy or RetryPolicy()

    @property
    def vendor(self) -> str:
        """The vendor name carried by errors."""
        return self.api.vendor

    def _timeout(self, request: HttpRequest, remaining: float | None) -> httpx.Timeout:
        """The client's phase timeouts, the long poll's read timeout, each capped by the time left."""
        read = request.read_timeout if request.read_timeout is not None else DEFAULT_TIMEOUT.read
        # POOL_WAIT is read at call time: a test may shrink it.
        connect, write, pool_wait = DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.write, pool.POOL_WAIT
        if (
            remaining is not None
            and read is not None
            and connect is not None
            and write is not None
            and remaining >= max(read, connect, write, pool_wait)
        ):
            # Far from the deadline (almost every poll) nothing is capped: the same object every time.
            return _phase_timeout(connect, read, write, pool_wait)
        if remaining is not None:
            connect = remaining if connect is None else min(connect, remaining)
            read = remaining if read is None else min(read, remaining)
            write = remaining if write is None else min(write, remaining)
            pool_wait = min(pool_wait, remaining)
        return httpx.Timeout(connect=connect, read=read, write=write, pool=pool_wait)

    def _transport_error(self, call: CallT, request: HttpRequest, exc: Exception) -> TransportError:
        if isinstance(exc, httpx.PoolTimeout):
            # Never sent: every connection of the pool was busy. Transient, retried without using an attempt.
            return TransportError(
                f"{self.api.describe(call)} found no free connection: every pooled connection stayed busy",
                vendor=self.vendor,
                code=POOL_TIMEOUT,
            )
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        return TransportError(
            _scrub(f"{self.api.describe(call)} {kind}: {type(exc).__name__}: {exc}", request),
            vendor=self.vendor,
        )

    def _deadline_error(self, call: CallT, sent: bool) -> TransportError:
        what = "cut off" if sent else "not sent"
        return TransportError(
            f"{self.api.describe(call)} {what}: the wait's deadline has passed",
            vendor=self.vendor,
            code=DEADLINE_EXCEEDED,
        )

    def _too_large(self, call: CallT, size: int | None) -> ResponseTooLargeError:
        what = f"{size} bytes" if size is not None else "more"
        return ResponseTooLargeError(
            f"{self.api.describe(call)} answered with a body of {what}; at most {MAX_BODY} bytes are read",
            vendor=self.vendor,
            code="ResponseTooLarge",
        )

    def _declared_size(self, call: CallT, response: httpx.Response) -> None:
        # Refuse before reading when the server says up front that the body is too large.
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and len(declared) < 20 and int(declared) > MAX_BODY:
            raise self._too_large(call, int(declared))

    def _read_sync(self, call: CallT, response: httpx.Response, deadline: float | None) -> bytes:
        """The body, read chunk by chunk up to ``MAX_BODY``; a trickled body also stops at the deadline."""
        self._declared_size(call, response)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_BODY:
                raise self._too_large(call, None)
            chunks.append(chunk)
            if deadline is not None and time.time() > deadline:
                raise self._deadline_error(call, sent=True)
        return b"".join(chunks)

    def _prepare(self, call: CallT, deadline: float | None) -> tuple[HttpRequest, dict[str, Any], float | None]:
        # Signed at send time, after any throttling wait, so the timestamp is fresh.
        request = self.api.prepare(call, time.time())
        remaining = None if deadline is None else deadline - time.time()
        if remaining is not None and remaining <= 0:
            raise self._deadline_error(call, sent=False)
        kwargs = {
            "headers": request.headers,
            "content": request.content,
            "timeout": self._timeout(request, remaining),
        }
        return request, kwargs, remaining

    def _slot_sync(self, call: CallT, key: str, limit: Quota | None, deadline: float | None) -> None:
        """Wait for the rate limiter's next slot, never past the deadline (the request is then not sent)."""
        if limit is None:
            return
        delay = LIMITER.reserve(key, limit)
        if deadline is not None and time.time() + delay >= deadline:
            raise self._deadline_error(call, sent=False)
        if delay > 0:
            time.sleep(delay)

    async def _slot(self, call: CallT, key: str, limit: Quota | None, deadline: float | None) -> None:
        """Queue for the rate limiter's next slot, never past the deadline (the request is then not sent).

        A long queue (hundreds of waits on one account, or a rate lowered after throttling) must not make a
        wait report its timeout late: the wait leaves the queue at its deadline (the limiter is
        cancellation-safe).
        """
        if limit is None:
            return
        try:
            # The limiter bounds only a wait that queues (no timer for the common free slot).
            await LIMITER.wait(key, limit, deadline)
        except asyncio.TimeoutError:
            raise self._deadline_error(call, sent=False) from None

    def _send_sync(self, call: CallT, deadline: float | None) -> ApiResponse:
        """One attempt; an expired-token answer to a refreshable identity refreshes it and repeats, once."""
        provider = self.api.provider
        if provider is None:
            return self._exchange_sync(call, deadline)
        signed_with = provider.current(deadline)
        try:
            return self._exchange_sync(call, deadline)
        except CloudApiError as exc:
            if not (exc.credentials_expired and provider.refreshable):
                raise
            log.info("%s: the session token expired; refreshing the key of %s once", exc.vendor, provider.account)
            provider.force_refresh(signed_with, deadline)
        return self._exchange_sync(call, deadline)

    def _exchange_sync(self, call: CallT, deadline: float | None) -> ApiResponse:
        self._slot_sync(call, *self.api.rate_limit(call), deadline)
        request, kwargs, _ = self._prepare(call, deadline)
        client = pool.POOL.sync_client()
        # The sync client's sockets read the deadline before every connect, write and read (see ``pool``).
        token = pool.SYNC_DEADLINE.set(deadline)
        try:
            with client.stream(request.method, _parsed_url(request.url), **kwargs) as response:
                body = self._read_sync(call, response, deadline)
        except httpx.TimeoutException as exc:
            # A socket timeout capped by the deadline is the deadline's, as in ``acall``. (A pool wait keeps
            # its own error: the request was never sent and is retried while time is left.)
            if (
                deadline is not None
                and not isinstance(exc, httpx.PoolTimeout)
                and time.time() >= deadline - _CLOCK_SLACK
            ):
                raise self._deadline_error(call, sent=not isinstance(exc, httpx.ConnectTimeout)) from None
            raise self._transport_error(call, request, exc) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(call, request, exc) from None
        finally:
            pool.SYNC_DEADLINE.reset(token)
        return self.api.parse(call, response.status_code, response.headers, body)

    async def _gated_exchange(
        self,
        call: CallT,
        lane: tuple[httpx.AsyncClient, asyncio.Semaphore],
        request: HttpRequest,
        kwargs: dict[str, Any],
        remaining: float | None,
    ) -> tuple[int, httpx.Headers, bytes]:
        """Pass the lane's gate (one slot per pooled connection; see ``pool``), send, and read the body up to
        ``MAX_BODY`` (the caller bounds the whole exchange by the deadline)."""
        client, gate = lane
        if gate.locked():
            # Every connection is busy: queue (FIFO) for one, at most POOL_WAIT per attempt.
            wait = pool.POOL_WAIT if remaining is None else min(pool.POOL_WAIT, remaining)
            try:
                await bounded(gate.acquire(), wait)
            except asyncio.TimeoutError:
                raise httpx.PoolTimeout("no connection of the pool became free") from None
        else:
            await gate.acquire()
        try:
            async with client.stream(request.method, _parsed_url(request.url), **kwargs) as response:
                self._declared_size(call, response)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY:
                        raise self._too_large(call, None)
                    chunks.append(chunk)
                return response.status_code, response.headers, b"".join(chunks)
        finally:
            gate.release()

    async def _send_async(self, call: CallT, deadline: float | None) -> ApiResponse:
        """One attempt; an expired-token answer to a refreshable identity refreshes it and repeats, once."""
        provider = self.api.provider
        if provider is None:
            return await self._exchange_async(call, deadline)
        signed_with = provider.fresh() or await self._key(provider, call, deadline)
        try:
            return await self._exchange_async(call, deadline)
        except CloudApiError as exc:
            if not (exc.credentials_expired and provider.refreshable):
                raise
            log.info("%s: the session token expired; refreshing the key of %s once", exc.vendor, provider.account)
            try:
                await provider.aforce_refresh(signed_with, deadline)
            except asyncio.TimeoutError:
                raise self._deadline_error(call, sent=False) from None
        return await self._exchange_async(call, deadline)

    async def _key(self, provider: CredentialProvider, call: CallT, deadline: float | None) -> Credentials:
        """The provider's key after a refresh it had due (awaited only when the current key is no good)."""
        try:
            return await provider.acurrent(deadline)
        except asyncio.TimeoutError:
            raise self._deadline_error(call, sent=False) from None

    async def _exchange_async(self, call: CallT, deadline: float | None) -> ApiResponse:
        key, limit = self.api.rate_limit(call)
        await self._slot(call, key, limit, deadline)
        request, kwargs, remaining = self._prepare(call, deadline)
        # Long polls hold their connection for up to a minute: they get a pool of their own, so they can
        # never take the connections short polls need.
        lane = pool.POOL.async_lane(long_poll=request.read_timeout is not None)
        sent_at = time.monotonic()
        try:
            # The phase timeouts bound each wait for a connection, a write or a read; this bounds the whole
            # exchange (pool wait included) by the deadline.
            exchange = self._gated_exchange(call, lane, request, kwargs, remaining)
            if remaining is not None and _TIMEOUT is not None:
                # In place rather than through bounded: one coroutine frame less on every resume of a poll.
                async with _TIMEOUT(remaining):
                    status, headers, body = await exchange
            else:
                status, headers, body = await bounded(exchange, remaining)
        except httpx.HTTPError as exc:
            raise self._transport_error(call, request, exc) from None
        except asyncio.TimeoutError:
            raise self._deadline_error(call, sent=True) from None
        try:
            return self.api.parse(call, status, headers, body)
        except ThrottledError:
            if limit is not None:
                # Another process (or a worker) shares the account: adapt this process's rate (AIMD).
                LIMITER.answered(key, throttled=True, sent_at=sent_at)
            raise

    def call(self, call: CallT, *, deadline: float | None = None) -> ApiResponse:
        """Perform ``call`` synchronously, retrying transient failures."""
        retrying = Retrying(**self.policy.tenacity_kwargs(deadline))  # type: ignore[arg-type]
        result: ApiResponse = retrying(self._send_sync, call, deadline)
        return result

    async def acall(self, call: CallT, *, deadline: float | None = None) -> ApiResponse:
        """Perform ``call`` on the running event loop, retrying transient failures within ``deadline``.

        When the deadline, not the attempt count, ends the retries, the last transient error is raised at
        the deadline rather than before it: the trigger then reports the wait's timeout, not an error.
        """
        # The first attempt runs bare: almost every poll succeeds at once, and building tenacity's retrying
        # objects for every poll costs more than signing it. Only a retryable failure builds them;
        # the failure is replayed as their first attempt, so the retry discipline is exactly the same.
        try:
            return await self._send_async(call, deadline)
        except Exception as exc:
            if not is_retryable(exc):
                raise
            first: BaseException | None = exc

        async def attempt(call: CallT, deadline: float | None) -> ApiResponse:
            nonlocal first
            if first is not None:
                failed, first = first, None
                raise failed
            return await self._send_async(call, deadline)

        ledger = RetryLedger()
        retrying = AsyncRetrying(**self.policy.tenacity_kwargs(deadline, ledger))  # type: ignore[arg-type]
        try:
            result: ApiResponse = await retrying(attempt, call, deadline)
        except CloudApiError as exc:
            if deadline is not None and exc.retryable and ledger.stopped_by_deadline:
                # asyncio sleeps on the monotonic clock, the deadline is wall-clock: top up if it woke early.
                for _ in range(3):
                    left = deadline - time.time()
                    if left <= 0:
                        break
                    await asyncio.sleep(left + 0.001)
            raise
        return result


async def bounded(awaitable: Awaitable[ResultT], seconds: float | None) -> ResultT:
    """``await awaitable`` cut off after ``seconds`` (``asyncio.TimeoutError``); None: unbounded.

    ``asyncio.timeout`` (3.11+) bounds the await in place; ``asyncio.wait_for`` (3.10) wraps it in a new task
    per call, which a poll pays for.
    """
    if seconds is None:
        return await awaitable
    if _TIMEOUT is not None:
        async with _TIMEOUT(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


_TIMEOUT: Any = getattr(asyncio, "timeout", None)
