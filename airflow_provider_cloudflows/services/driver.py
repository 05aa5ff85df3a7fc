"""Drives a spec's sans-IO check generator with a real client, sync or async."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

from airflow_provider_cloudflows.errors import CloudApiError, UnreadableAnswerError
from airflow_provider_cloudflows.services.base import Check, Snapshot
from airflow_provider_cloudflows.transport.client import CloudClient
from airflow_provider_cloudflows.transport.messages import ApiResponse

log = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")


class _Step:
    """Advances a check generator; a defect of the reader becomes a typed error naming the last answer."""

    def __init__(self, check: Generator[Any, Any, Any], client: CloudClient[Any]) -> None:
        self.check = check
        self.client = client
        self.last: ApiResponse | None = None

    def advance(self, response: ApiResponse | None = None, error: Exception | None = None) -> Any:
        """The next call of the check (``StopIteration`` carries its snapshot)."""
        try:
            if error is not None:
                return self.check.throw(error)
            if response is None:
                return next(self.check)
            self.last = response
            return self.check.send(response)
        except (StopIteration, CloudApiError):
            raise
        except Exception as exc:
            if exc is error:
                # The client's own error, not handled by the check: it is not the reader's doing.
                raise
            # Every answer the network can deliver must end in a snapshot or a typed error: a reader that
            # trips over one is a defect, logged with its traceback, but it must not crash the trigger.
            log.warning("could not read the answer of %s", self.client.api.vendor, exc_info=True)
            request_id = self.last.request_id if self.last is not None else None
            raise UnreadableAnswerError(
                f"the answer could not be read ({type(exc).__name__}: {str(exc)[:200]})",
                vendor=self.client.vendor,
                code="UnreadableAnswer",
                request_id=request_id,
            ) from exc


Send = Callable[..., Any]
ASend = Callable[..., Awaitable[Any]]


def drive(
    gen: Generator[Any, Any, ResultT],
    client: CloudClient[Any],
    *,
    deadline: float | None = None,
    send: Send | None = None,
) -> ResultT:
    """Run a sans-IO generator (a check, a start, a cancel) to its result, synchronously.

    ``send(call, deadline=...)`` performs one call (default ``client.call``); its errors are thrown into the
    generator, which may handle them.
    """
    perform = send or client.call
    step = _Step(gen, client)
    try:
        call = step.advance()
        while True:
            try:
                response = perform(call, deadline=deadline)
            except Exception as exc:
                call = step.advance(error=exc)
            else:
                call = step.advance(response)
    except StopIteration as stop:
        result: ResultT = stop.value
        return result


async def adrive(
    gen: Generator[Any, Any, ResultT],
    client: CloudClient[Any],
    *,
    deadline: float | None = None,
    send: ASend | None = None,
) -> ResultT:
    """:func:`drive` on the event loop (default ``client.acall``)."""
    perform = send or client.acall
    step = _Step(gen, client)
    try:
        call = step.advance()
        while True:
            try:
                response = await perform(call, deadline=deadline)
            except Exception as exc:
                call = step.advance(error=exc)
            else:
                call = step.advance(response)
    except StopIteration as stop:
        result: ResultT = stop.value
        return result


def run_check(check: Check, client: CloudClient[Any], *, deadline: float | None = None) -> Snapshot:
    """Run one check synchronously (poke mode)."""
    return drive(check, client, deadline=deadline)


def arun_check(
    check: Check, client: CloudClient[Any], *, deadline: float | None = None
) -> Coroutine[Any, Any, Snapshot]:
    """Run one check on the event loop (trigger); returns :func:`adrive`'s coroutine itself (one frame less on
    every resume of a poll)."""
    return adrive(check, client, deadline=deadline)
