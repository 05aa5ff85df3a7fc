"""Drives a start or cancel spec with a real client, sync or async, never repeating a write blindly.

The transport retries every transient failure (throttling, 5xx, timeouts, dropped connections) because a
read can always be repeated. A write cannot: a 5xx or a timeout after the request left may mean the vendor
applied it, and sending it again would start a second (billed) execution. So:

- a read, or a :class:`Write` marked ``idempotent`` (it carries a ClientToken, or repeating it is harmless),
  goes through the client's normal retry policy;
- any other write is sent through a one-attempt copy of the client, and retried here only when the error
  proves it was not applied: the vendor throttled it (a throttled request is refused before processing).
  Everything else (a 5xx, a timeout, a garbled reply) is raised to the caller, naming the risk.

Whatever the path, a write that ends without a readable answer comes out as :class:`WriteOutcomeUnknown`
(it may have been applied), never as the transport's error: a 5xx, a dropped connection or a timeout after
the retries, a body over the size cap, a malformed envelope, an answer the spec could not read. Only errors
proving the vendor refused the write before processing it (auth, invalid, not found, throttled) keep their
own type, so the operator can tell "maybe applied" from "refused".
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions.base import Action, Cancelled, CancelSpec, Write
from airflow_provider_cloudflows.errors import (
    CloudApiError,
    MalformedResponseError,
    ResponseTooLargeError,
    ThrottledError,
    WriteOutcomeUnknown,
)
from airflow_provider_cloudflows.services.driver import adrive, drive
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.messages import ApiResponse


def _single_attempt(client: CloudClient[Any]) -> CloudClient[Any]:
    # Same API binding (credentials, endpoint), one attempt: pool waits (never sent) are still retried.
    return CloudClient(client.api, dataclasses.replace(client.policy, max_attempts=1))


def _backoff(client: CloudClient[Any], attempt: int, exc: CloudApiError) -> float:
    policy = client.policy
    delay = min(policy.initial_backoff * 2.0 ** (attempt - 1), policy.max_backoff) + random.uniform(
        0, policy.initial_backoff
    )
    if exc.retry_after:
        delay = max(delay, min(exc.retry_after, policy.max_retry_after))
    return delay


def _ambiguous(exc: CloudApiError) -> bool:
    """Whether ``exc`` leaves open that the write was applied (the request may have been processed)."""
    if isinstance(exc, (WriteOutcomeUnknown, ThrottledError)):
        return False
    # Retryable errors other than throttling are 5xx, network, timeouts and undocumented answers; a body over
    # the cap and an unreadable answer are not retryable, but they are answers to a processed request.
    return exc.retryable or isinstance(exc, (ResponseTooLargeError, MalformedResponseError))


def _unsafe(exc: CloudApiError, what: str) -> WriteOutcomeUnknown:
    return WriteOutcomeUnknown(
        f"{what} failed in a way that does not prove it was not applied ({exc}); it is not idempotent, so it "
        "was not sent again: check the console before retrying the task",
        call=what,
        vendor=exc.vendor,
        code=exc.code,
        request_id=exc.request_id,
        http_status=exc.http_status,
    )


def _spent(exc: CloudApiError, what: str) -> WriteOutcomeUnknown:
    return WriteOutcomeUnknown(
        f"{what} may have been applied: every attempt failed without an answer proving what it did ({exc}); "
        "it carries an idempotency key, so sending it again with the same key is safe (it returns the same "
        "execution rather than starting another)",
        call=what,
        vendor=exc.vendor,
        code=exc.code,
        request_id=exc.request_id,
        http_status=exc.http_status,
    )


def send_write(client: CloudClient[Any], write: Write, *, deadline: float | None = None) -> ApiResponse:
    """Send one write synchronously under the rules above."""
    if write.idempotent:
        try:
            return client.call(write.call, deadline=deadline)
        except CloudApiError as exc:
            if _ambiguous(exc):
                raise _spent(exc, client.api.describe(write.call)) from exc
            raise
    once = _single_attempt(client)
    attempt = 0
    while True:
        attempt += 1
        try:
            return once.call(write.call, deadline=deadline)
        except ThrottledError as exc:
            delay = _backoff(client, attempt, exc)
            if attempt >= client.policy.max_attempts or (deadline is not None and time.time() + delay >= deadline):
                raise
            time.sleep(delay)
        except CloudApiError as exc:
            if _ambiguous(exc):
                raise _unsafe(exc, client.api.describe(write.call)) from exc
            raise


async def asend_write(client: CloudClient[Any], write: Write, *, deadline: float | None = None) -> ApiResponse:
    """Send one write on the event loop under the rules above."""
    if write.idempotent:
        try:
            return await client.acall(write.call, deadline=deadline)
        except CloudApiError as exc:
            if _ambiguous(exc):
                raise _spent(exc, client.api.describe(write.call)) from exc
            raise
    once = _single_attempt(client)
    attempt = 0
    while True:
        attempt += 1
        try:
            return await once.acall(write.call, deadline=deadline)
        except ThrottledError as exc:
            delay = _backoff(client, attempt, exc)
            if attempt >= client.policy.max_attempts or (deadline is not None and time.time() + delay >= deadline):
                raise
            await asyncio.sleep(delay)
        except CloudApiError as exc:
            if _ambiguous(exc):
                raise _unsafe(exc, client.api.describe(write.call)) from exc
            raise


class _Sent:
    """Which call the spec is reading the answer of: a write's answer it cannot read proves nothing."""

    def __init__(self, client: CloudClient[Any]) -> None:
        self.client = client
        self.write: str | None = None
        self.request_id: str | None = None

    def answered(self, call: Any, response: ApiResponse) -> ApiResponse:
        self.write = self.client.api.describe(call.call) if isinstance(call, Write) else None
        self.request_id = response.request_id
        return response

    def failed(self) -> None:
        self.write = None

    def unreadable(self, exc: CloudApiError) -> CloudApiError:
        """A malformed or unreadable write answer as :class:`WriteOutcomeUnknown`; any other error as it is."""
        if self.write is None or isinstance(exc, WriteOutcomeUnknown) or not isinstance(exc, MalformedResponseError):
            return exc
        return WriteOutcomeUnknown(
            f"{self.write} was answered, but the answer could not be read ({exc.message}): the write may have "
            "been applied; check the console before retrying the task",
            call=self.write,
            vendor=exc.vendor,
            code=exc.code,
            request_id=exc.request_id or self.request_id,
            http_status=exc.http_status,
        )


def run_action(action: Action, client: CloudClient[Any], *, deadline: float | None = None) -> Any:
    """Run a start or cancel spec synchronously; errors are thrown into the spec, which may handle them."""
    sent = _Sent(client)

    def send(call: Any, *, deadline: float | None) -> ApiResponse:
        try:
            if isinstance(call, Write):
                return sent.answered(call, send_write(client, call, deadline=deadline))
            return sent.answered(call, client.call(call, deadline=deadline))
        except BaseException:
            sent.failed()
            raise

    try:
        return drive(action, client, deadline=deadline, send=send)
    except CloudApiError as exc:
        converted = sent.unreadable(exc)
        if converted is exc:
            raise
        raise converted from exc


async def arun_action(action: Action, client: CloudClient[Any], *, deadline: float | None = None) -> Any:
    """Run a start or cancel spec on the event loop (the trigger's ``on_kill``)."""
    sent = _Sent(client)

    async def send(call: Any, *, deadline: float | None) -> ApiResponse:
        try:
            if isinstance(call, Write):
                return sent.answered(call, await asend_write(client, call, deadline=deadline))
            return sent.answered(call, await client.acall(call, deadline=deadline))
        except BaseException:
            sent.failed()
            raise

    try:
        return await adrive(action, client, deadline=deadline, send=send)
    except CloudApiError as exc:
        converted = sent.unreadable(exc)
        if converted is exc:
            raise
        raise converted from exc


def cancel_until_accepted(
    spec: CancelSpec, identifiers: Mapping[str, Any], client: CloudClient[Any], *, deadline: float, log: Any
) -> Cancelled:
    """Ask to cancel until the vendor accepts (or says there is nothing left to stop) or ``deadline`` passes.

    Batch refuses ``TerminateJob`` while a job is SUBMITTED: the spec reports that as not accepted with a
    ``retry_after``, and the cancel is asked again until the job moves on or ends.
    """
    while True:
        outcome: Cancelled = run_action(spec.cancel(identifiers), client, deadline=deadline)
        if outcome.accepted or outcome.retry_after is None or time.time() + outcome.retry_after >= deadline:
            return outcome
        log.info("cancel not accepted yet (%s); asking again in %.0fs", outcome.reason, outcome.retry_after)
        time.sleep(outcome.retry_after)


async def acancel_until_accepted(
    spec: CancelSpec, identifiers: Mapping[str, Any], client: CloudClient[Any], *, deadline: float, log: Any
) -> Cancelled:
    """:func:`cancel_until_accepted` on the event loop (the trigger's ``on_kill``)."""
    while True:
        outcome: Cancelled = await arun_action(spec.cancel(identifiers), client, deadline=deadline)
        if outcome.accepted or outcome.retry_after is None or time.time() + outcome.retry_after >= deadline:
            return outcome
        log.info("cancel not accepted yet (%s); asking again in %.0fs", outcome.reason, outcome.retry_after)
        await asyncio.sleep(outcome.retry_after)
