"""Retry discipline: exponential backoff with jitter, bounded by attempts and by the wait's deadline."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from airflow_provider_cloudflows.errors import CloudApiError

log = logging.getLogger(__name__)


def is_retryable(exc: BaseException) -> bool:
    """Only errors the vendor or the network call transient; auth, not-found and bad input never are."""
    return isinstance(exc, CloudApiError) and exc.retryable


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

    def tenacity_kwargs(self, deadline: float | None) -> dict[str, object]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` honouring ``deadline`` (epoch seconds)."""
        # Full jitter on top of the exponential step keeps many triggers from retrying in lockstep.
        backoff = wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff) + wait_random(
            0, self.initial_backoff
        )
        max_retry_after = self.max_retry_after

        def wait(state: RetryCallState) -> float:
            delay = float(backoff(state))
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, CloudApiError) and exc.retry_after:
                delay = max(delay, min(exc.retry_after, max_retry_after))
            return delay

        attempts = stop_after_attempt(self.max_attempts)

        def stop(state: RetryCallState) -> bool:
            if attempts(state):
                return True
            # Sleeping past the deadline would only make the wait report its timeout late.
            return deadline is not None and time.time() + (state.upcoming_sleep or 0.0) >= deadline

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("attempt %d failed (%s); retrying in %.1fs", state.attempt_number, exc, state.upcoming_sleep)

        return {
            "retry": retry_if_exception(is_retryable),
            "wait": wait,
            "stop": stop,
            "before_sleep": before_sleep,
            "reraise": True,
        }
