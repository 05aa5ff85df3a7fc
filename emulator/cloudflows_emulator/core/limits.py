"""Rate limits: the documented quotas of :mod:`airflow_provider_cloudflows.limits`, enforced per account.

The provider's table is the one source of the numbers, so the client's limiter and the emulator's gateway
cannot drift apart; the emulator adds only overrides for tests.
"""

from __future__ import annotations

from collections import deque

from airflow_provider_cloudflows.limits import Quota

__all__ = ["DEFAULT_ACCOUNT", "RateLimiter"]

DEFAULT_ACCOUNT = "default"
"""The account every key counts against unless registered with another."""


class RateLimiter:
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
        """The quota in force on ``service`` / ``action``: the override if set, else the documented one."""
        key = (service, action)
        return self.overrides[key] if key in self.overrides else self.defaults.get(key)

    def admit(self, service: str, action: str, now: float, account: str = DEFAULT_ACCOUNT) -> bool:
        """Count a request of ``account`` at monotonic time ``now``; False when it exceeds the quota."""
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
        """Forget the requests counted so far (the quotas stay)."""
        self._windows.clear()
        self._buckets.clear()
