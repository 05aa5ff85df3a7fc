"""Retry discipline: exponential backoff with jitter, bounded by attempts and by the wait's deadline.

Waiting for a free pooled connection (``PoolTimeout``) is not a failure of the call: the request never left.
It is retried without using up an attempt, after a short jittered pause, for as long as the deadline allows;
a full pool therefore ends a wait only by its deadline (the trigger then reports a timeout), never by an
error while time is left.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from tenacity import RetryCallState

from airflow_provider_cloudflows.errors import CloudApiError, TransportError

log = logging.getLogger(__name__)

# TransportError codes set by the client for failures that are not the server's doing.
POOL_TIMEOUT = "PoolTimeout"
DEADLINE_EXCEEDED = "DeadlineExceeded"


def is_retryable(exc: BaseException) -> bool:
    """Only errors the vendor or the network call transient; auth, not-found and bad input never are."""
    return isinstance(exc, CloudApiError) and exc.retryable


def is_pool_wait(exc: BaseException | None) -> bool:
    """True when the request could not get a pooled connection in time (it was never sent)."""
    return isinstance(exc, TransportError) and exc.code == POOL_TIMEOUT


@dataclass
class RetryLedger:
    """What one call's retrying saw: attempts used up (pool waits excluded), pool waits, why it stopped."""

    attempts: int = 0
    pool_waits: int = 0
    stopped_by_deadline: bool = False
    # Retries of errors that allow only a few (``max_retries``: protocol errors such as a mismatched answer).
    limited_retries: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one API call tries before giving up."""

    max_attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 20.0
    # The server's retry-after hint is honoured but capped, so a bogus header cannot stall a wait.
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def tenacity_kwargs(self, deadline: float | None, ledger: RetryLedger | None = None) -> dict[str, object]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` honouring ``deadline`` (epoch seconds).

        Build them once per call: ``ledger`` (a fresh one if None) counts that call's attempts.
        """
        book = ledger if ledger is not None else RetryLedger()
        policy = self

        def retry(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None or not is_retryable(exc):
                return False
            # A protocol error (an answer about another execution, an undocumented status) may be a passing
            # confusion of a proxy, but repeating it five times only delays a clear failure.
            limit = getattr(exc, "max_retries", None)
            if limit is not None:
                if book.limited_retries >= limit:
                    return False
                book.limited_retries += 1
            if is_pool_wait(exc):
                book.pool_waits += 1
            else:
                book.attempts += 1
            return True

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            # Full jitter on top of the exponential step keeps many triggers from retrying in lockstep.
            jitter = random.uniform(0, policy.initial_backoff)
            if is_pool_wait(exc):
                # The attempt already queued for a connection; join the queue again soon.
                return jitter
            step = policy.initial_backoff * float(2 ** max(book.attempts - 1, 0))
            delay = min(step, policy.max_backoff) + jitter
            if isinstance(exc, CloudApiError) and exc.retry_after:
                delay = max(delay, min(exc.retry_after, policy.max_retry_after))
            return delay

        def stop(state: RetryCallState) -> bool:
            # attempts counts the failures that used one up; the first attempt always runs.
            if book.attempts >= policy.max_attempts:
                return True
            # Sleeping past the deadline would only make the wait report its timeout late.
            if deadline is not None and time.time() + (state.upcoming_sleep or 0.0) >= deadline:
                book.stopped_by_deadline = True
                return True
            return False

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if is_pool_wait(exc):
                log.warning("no free connection yet (%s); queueing again in %.1fs", exc, state.upcoming_sleep)
            else:
                log.warning("attempt %d failed (%s); retrying in %.1fs", book.attempts, exc, state.upcoming_sleep)

        return {"retry": retry, "wait": wait, "stop": stop, "before_sleep": before_sleep, "reraise": True}
