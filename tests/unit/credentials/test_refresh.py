"""The refreshing credential cache on its own: when it refreshes, how many refreshes a crowd causes, what a
failing refresh leaves in use. A source counting its fetches stands in for STS (the vendors' sources are
tested over HTTP in test_<vendor>_identity.py); the clock is virtual, so no assertion depends on load."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from airflow_provider_cloudflows.credentials import (
    EARLY_REFRESH_BUDGET,
    REFRESH_BUDGET,
    REFRESH_LEAD,
    Credentials,
    CredentialSource,
    RefreshingCredentials,
    StaticCredentials,
    shared_identity,
)
from airflow_provider_cloudflows.errors import ServerError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingSource(CredentialSource):
    """Issues key N with ``lifetime`` seconds, or raises while ``failing``; async fetches take ``delay``."""

    label = "counting source"

    def __init__(self, clock: Clock, lifetime: float, delay: float = 0.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.delay = delay
        self.fetches = 0
        self.failing = False

    def _issue(self) -> Credentials:
        self.fetches += 1
        if self.failing:
            raise ServerError("sts:AssumeRole failed: internal error", vendor="tencentcloud", code="InternalError")
        return Credentials(f"TMP{self.fetches}", f"secret-{self.fetches}", f"token-{self.fetches}",
                           expires_at=self.clock() + self.lifetime)  # fmt: skip

    def fetch(self, deadline: float) -> Credentials:
        return self._issue()

    async def afetch(self, deadline: float) -> Credentials:
        await asyncio.sleep(self.delay)
        return self._issue()


def provider(lifetime: float = 3600.0, delay: float = 0.0) -> tuple[RefreshingCredentials, CountingSource, Clock]:
    clock = Clock()
    source = CountingSource(clock, lifetime, delay)
    return RefreshingCredentials(source, account="role qcs::cam::uin/1:roleName/r", clock=clock), source, clock


@pytest.mark.parametrize(
    ("lifetime", "refresh_after"),
    [
        (3600.0, 3600.0 - REFRESH_LEAD),  # an hour: 5 minutes before expiry (later than 85%)
        (60.0, 51.0),  # a minute: at 85% (expiry - 5 min lies in the past)
        (43200.0, 43200.0 - REFRESH_LEAD),
    ],
)
def test_a_key_is_refreshed_at_the_later_of_85_percent_and_five_minutes_before_expiry(
    lifetime: float, refresh_after: float
) -> None:
    creds, source, clock = provider(lifetime)
    first = creds.current()
    clock.now += refresh_after - 0.001
    assert creds.current() is first and source.fetches == 1
    clock.now += 0.002
    assert creds.current().key_id == "TMP2" and source.fetches == 2


async def test_a_thousand_waiting_callers_cause_one_fetch() -> None:
    creds, source, _ = provider(delay=0.01)
    keys = await asyncio.gather(*(creds.acurrent() for _ in range(1000)))
    assert source.fetches == 1 and {k.key_id for k in keys} == {"TMP1"}


async def test_a_due_refresh_runs_in_the_background_while_callers_keep_the_good_key() -> None:
    creds, source, clock = provider(lifetime=60.0, delay=0.05)
    await creds.acurrent()
    clock.now += 55  # past 85%, before expiry
    keys = await asyncio.gather(*(creds.acurrent() for _ in range(1000)))
    # Nobody waited for the refresh: every caller got the current key at once, and one refresh started.
    assert {k.key_id for k in keys} == {"TMP1"}
    await asyncio.sleep(0.2)
    assert source.fetches == 2 and (await creds.acurrent()).key_id == "TMP2"


async def test_a_failing_refresh_keeps_the_key_until_it_expires_then_raises_the_typed_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    creds, source, clock = provider(lifetime=60.0)
    await creds.acurrent()
    source.failing = True
    clock.now += 52
    for _ in range(5):  # each due retry fails in the background; the key in use stays
        assert (await creds.acurrent()).key_id == "TMP1"
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        clock.now += 1.5
    assert source.fetches >= 3
    clock.now += 60  # expired now
    with pytest.raises(ServerError):
        await creds.acurrent()
    assert "refreshing credentials of role qcs::cam::uin/1:roleName/r failed" in caplog.text
    assert "secret-1" not in caplog.text and "token-1" not in caplog.text


async def test_retries_of_a_failing_refresh_back_off_and_stop_once_one_succeeds() -> None:
    creds, source, clock = provider(lifetime=3600.0)
    await creds.acurrent()
    source.failing = True
    clock.now += 3400
    fetched = []
    for _ in range(40):  # 40 calls, 0.5 s apart
        await creds.acurrent()
        await asyncio.sleep(0)
        fetched.append(source.fetches)
        clock.now += 0.5
    # Backoff 1, 2, 4, 8 s: about 5 tries in 20 s, not 40.
    assert 4 <= fetched[-1] - 1 <= 6
    source.failing = False
    clock.now += 60
    await creds.acurrent()
    await asyncio.sleep(0.01)
    assert creds.fresh() is not None and creds.fresh() != Credentials("TMP1", "secret-1", "token-1")
    tries = source.fetches
    clock.now += 60
    await creds.acurrent()
    assert source.fetches == tries  # refreshed: no more tries until the new key's refresh time


async def test_an_expired_answer_forces_one_refresh_even_for_many_callers() -> None:
    creds, source, _ = provider(delay=0.01)
    stale = await creds.acurrent()
    await asyncio.gather(*(creds.aforce_refresh(stale) for _ in range(100)))
    assert source.fetches == 2
    # A caller reporting the key already replaced causes no further fetch.
    assert await creds.aforce_refresh(stale) and source.fetches == 2


def test_threads_share_one_refresh_and_never_queue_behind_it_while_the_key_is_good() -> None:
    creds, source, clock = provider(lifetime=60.0)
    creds.current()
    clock.now += 55
    gate = threading.Event()
    original = source.fetch

    def slow_fetch(deadline: float) -> Credentials:
        gate.wait(5)
        return original(deadline)

    source.fetch = slow_fetch  # type: ignore[method-assign]
    refresher = threading.Thread(target=creds.current)
    refresher.start()
    while source.fetches == 0 and not creds._sync_flight.locked():
        pass
    got = [creds.current() for _ in range(50)]  # while the refresh is stuck
    gate.set()
    refresher.join(5)
    assert {k.key_id for k in got} == {"TMP1"} and source.fetches == 2


def test_a_static_key_is_never_refreshed_and_names_its_key_id_as_account() -> None:
    static = StaticCredentials(Credentials("AKID1", "s3cret", "tok"))
    assert static.account == "AKID1" and not static.refreshable
    assert static.force_refresh(static.cached) is False
    assert "s3cret" not in repr(static.cached) and "tok" not in repr(static.cached)


def test_one_provider_serves_every_user_of_an_identity() -> None:
    built = []

    def build() -> RefreshingCredentials:
        built.append(1)
        return provider()[0]

    first = shared_identity(("tencentcloud", "conn", "role"), build)
    assert shared_identity(("tencentcloud", "conn", "role"), build) is first and len(built) == 1
    assert shared_identity(("tencentcloud", "conn", "other role"), build) is not first


def test_the_previous_key_stays_redacted_after_a_refresh() -> None:
    creds, _, clock = provider(lifetime=60.0)
    creds.current()
    clock.now += 59
    creds.current()
    assert {"secret-1", "token-1", "secret-2", "token-2"} <= set(creds.secrets())


def test_the_refresh_warning_is_logged_once_per_failed_try(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    creds, source, clock = provider(lifetime=60.0)
    creds.current()
    source.failing = True
    clock.now += 52
    assert creds.current().key_id == "TMP1"
    assert caplog.text.count("refreshing credentials of") == 1


def test_a_worker_spends_at_most_a_few_seconds_refreshing_a_key_that_is_still_good() -> None:
    creds, source, clock = provider(lifetime=3600.0)
    deadlines: list[float] = []
    original = source.fetch

    def recording(deadline: float) -> Credentials:
        deadlines.append(deadline - clock())
        return original(deadline)

    source.fetch = recording  # type: ignore[method-assign]
    creds.current()  # no key yet: the whole budget
    clock.now += 3500  # due, still good for 100 s
    creds.current()
    clock.now += 3599.5  # due, good for half a second more
    creds.current()
    assert deadlines == [REFRESH_BUDGET, EARLY_REFRESH_BUDGET, pytest.approx(0.5)]


def test_an_identity_and_its_settings_never_show_the_stored_secret() -> None:
    from airflow_provider_cloudflows.credentials import Identity
    from airflow_provider_cloudflows.transport.identity import IdentitySettings
    from airflow_provider_cloudflows.transport.retry import RetryPolicy

    identity = Identity(CountingSource(Clock(), 60.0), "role r", ("conn", "AKID1", "s3cret-key"))
    settings = IdentitySettings(
        "conn", "Tencent Cloud", "AKID1", "s3cret-key", "tok3n", lambda _: None, lambda: "ap-guangzhou", RetryPolicy
    )
    assert "s3cret" not in repr(identity) and "role r" in repr(identity)
    assert "s3cret" not in repr(settings) and "tok3n" not in repr(settings) and "AKID1" in repr(settings)
