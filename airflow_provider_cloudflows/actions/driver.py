"""Drives a start or cancel spec with a real client, sync or async, never repeating a write blindly.

The transport retries every transient failure (throttling, 5xx, timeouts, dropped connections) because a
read can always be repeated. A write cannot: a 5xx or a timeout after the request left may mean the vendor
applied it, and sending it again would start a second (billed) execution. So:

- a read, or a :class:`Write` marked ``idempotent`` (it carries a ClientToken, or repeating it is harmless),
  goes through the client's normal retry policy;
- any other write is sent through a one-attempt copy of the client, and retried here only when the error
  proves it was not applied: the vendor throttled it (a throttled request is refused before processing).
  Everything else (a 5xx, a timeout, a garbled reply) is raised to the caller, naming the risk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_cloudflows.actions.base import Action, Cancelled, CancelSpec, Write
from airflow_provider_cloudflows.errors import CloudApiError, ThrottledError, WriteOutcomeUnknown
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


def send_write(client: CloudClient[Any], write: Write, *, deadline: float | None = None) -> ApiResponse:
    """Send one write synchronously under the rules above."""
    if write.idempotent:
        return client.call(write.call, deadline=deadline)
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
            if exc.retryable:
                raise _unsafe(exc, client.api.describe(write.call)) from exc
            raise


async def asend_write(client: CloudClient[Any], write: Write, *, deadline: float | None = None) -> ApiResponse:
    """Send one write on the event loop under the rules above."""
    if write.idempotent:
        return await client.acall(write.call, deadline=deadline)
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
            if exc.retryable:
                raise _unsafe(exc, client.api.describe(write.call)) from exc
            raise


def run_action(action: Action, client: CloudClient[Any], *, deadline: float | None = None) -> Any:
    """Run a start or cancel spec synchronously; errors are thrown into the spec, which may handle them."""

    def send(call: Any, *, deadline: float | None) -> ApiResponse:
        if isinstance(call, Write):
            return send_write(client, call, deadline=deadline)
        return client.call(call, deadline=deadline)

    return drive(action, client, deadline=deadline, send=send)


async def arun_action(action: Action, client: CloudClient[Any], *, deadline: float | None = None) -> Any:
    """Run a start or cancel spec on the event loop (the trigger's ``on_kill``)."""

    async def send(call: Any, *, deadline: float | None) -> ApiResponse:
        if isinstance(call, Write):
            return await asend_write(client, call, deadline=deadline)
        return await client.acall(call, deadline=deadline)

    return await adrive(action, client, deadline=deadline, send=send)


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
