"""Tencent temporary identities over real HTTP to the emulator: STS AssumeRole with the stored key, the CVM
role's metadata, TKE OIDC (AssumeRoleWithWebIdentity, unsigned), the environment and the default chain.

Every key is proved by a signed CynosDB read; refreshes are counted from the emulator's request log, so
each count below is this test's own (the emulator and the process's identities are fresh per test).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, RefreshingCredentials
from airflow_provider_cloudflows.errors import (
    CloudApiError,
    ExpiredCredentialsError,
    NotFoundError,
    ServerError,
    TransportError,
)
from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from airflow_provider_cloudflows.transport.tencent import TencentCall
from airflow_provider_cloudflows.transport.tencent_identity import (
    INTL_STS_ENDPOINT,
    AssumeRole,
    CvmRole,
    TkeOidc,
    assume_role_source,
    cvm_role_source,
    default_sts_endpoint,
    oidc_source,
)
from cloudflows_emulator import DEFAULT_TENCENT_CREDENTIALS, CloudEmulator, cynosdb_flow
from cloudflows_emulator.server import EmulatorServer
from cloudflows_emulator.tencent import DEFAULT_CVM_ROLE, PROCESSING, oidc_tokens_seen, set_cvm_role
from tests.fuzz_server import LoopbackServer, Reply, fuzz_settings, seeded
from tests.helpers import FAST
from tests.identity_sources import clear_sdk_variables

ROLE_ARN = "qcs::cam::uin/100000000001:roleName/airflow"
CONN = "tencentcloud_default"
FLOW = 5
READ = TencentCall("cynosdb", "DescribeFlow", "2019-01-07", {"FlowId": FLOW})
SOURCES = ("role", "instance", "instance-auto", "oidc", "chain-cvm", "chain-tke", "environment")


@pytest.fixture(autouse=True)
def _no_ambient_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own SDK variables never decide a test's source."""
    clear_sdk_variables(monkeypatch)


@pytest.fixture
def flow(cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(FLOW, [(0, PROCESSING)]))


def connect(
    monkeypatch: pytest.MonkeyPatch,
    server: EmulatorServer,
    *,
    stored: bool = True,
    conn_id: str = CONN,
    login: Credentials | None = None,
    **extra: Any,
) -> None:
    """Connection ``conn_id`` at the emulator with ``extra``; ``stored=False``: no SecretId/SecretKey."""
    conn = json.loads(server.airflow_connections()["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"])
    conn["extra"] = {**conn["extra"], **FAST, **extra}
    if login is not None:
        conn["login"], conn["password"] = login.key_id, login.secret
        if login.token:
            conn["extra"]["token"] = login.token
    if not stored:
        del conn["login"], conn["password"]
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def use_source(
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    server: EmulatorServer,
    emulator: CloudEmulator,
    tmp_path: Path,
    *,
    conn_id: str = CONN,
    role_arn: str = ROLE_ARN,
) -> None:
    """Point ``conn_id`` at ``source``'s way of obtaining a key, served by the emulator."""
    token_file = tmp_path / f"{conn_id}-oidc-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.pod-token-1.sig\n")
    url = server.url
    if source == "role":
        connect(monkeypatch, server, conn_id=conn_id, role_arn=role_arn, sts_endpoint=url)
    elif source in ("instance", "instance-auto"):
        role = DEFAULT_CVM_ROLE if source == "instance" else "auto"
        connect(monkeypatch, server, stored=False, conn_id=conn_id, instance_role=role, metadata_endpoint=url)
    elif source == "oidc":
        connect(
            monkeypatch,
            server,
            stored=False,
            conn_id=conn_id,
            role_arn=role_arn,
            sts_endpoint=url,
            oidc_token_file=str(token_file),
            oidc_provider_id="tke-oidc-provider",
        )
    elif source in ("chain-cvm", "chain-tke"):
        connect(monkeypatch, server, stored=False, conn_id=conn_id, sts_endpoint=url, metadata_endpoint=url)
        if source == "chain-tke":
            set_cvm_role(emulator, None)  # the metadata service answers 404: no role on this machine
            tke_environment(monkeypatch, token_file, role_arn)
    else:
        connect(monkeypatch, server, stored=False, conn_id=conn_id)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", DEFAULT_TENCENT_CREDENTIALS.key_id)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", DEFAULT_TENCENT_CREDENTIALS.secret)


def tke_environment(monkeypatch: pytest.MonkeyPatch, token_file: Path, role_arn: str) -> None:
    """The variables TKE's pod-identity webhook sets."""
    monkeypatch.setenv("TKE_REGION", "ap-guangzhou")
    monkeypatch.setenv("TKE_PROVIDER_ID", "tke-oidc-provider")
    monkeypatch.setenv("TKE_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("TKE_ROLE_ARN", role_arn)


def hook(conn_id: str = CONN) -> TencentCloudHook:
    return TencentCloudHook(**{TencentCloudHook.conn_name_attr: conn_id})


def key_calls(emulator: CloudEmulator, action: str | None = None) -> int:
    """Requests that obtained (or tried to obtain) a key: STS actions and metadata credential reads."""
    if action is not None:
        return emulator.count(None, action)
    return emulator.count("sts") + emulator.count("metadata", "role-credentials")


# --- each source ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("flow")
@pytest.mark.parametrize("source", SOURCES)
async def test_each_source_yields_a_key_that_signs_a_read_from_worker_and_trigger_code(
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    tmp_path: Path,
) -> None:
    use_source(source, monkeypatch, cloud_emulator_server, cloud_emulator, tmp_path)

    sync_client = hook().get_conn()
    assert (await asyncio.to_thread(sync_client.call, READ)).body["Status"] == PROCESSING
    async_client = await hook().aget_conn()
    assert (await async_client.acall(READ)).body["Status"] == PROCESSING

    provider = async_client.api.provider
    assert provider is sync_client.api.provider or source == "environment"  # one cache per identity
    used = provider.cached
    if source == "environment":
        assert used == DEFAULT_TENCENT_CREDENTIALS and cloud_emulator.issued("tencent") == 0
        return
    assert isinstance(provider, RefreshingCredentials)
    assert used.key_id.startswith("TMP") and used.token and used.expires_at is not None
    assert used.expires_at > time.time() + 3000  # a default lifetime: 7200 s asked for
    assert cloud_emulator.issued("tencent") == 1
    expected_account = {"instance": f"cvm role {DEFAULT_CVM_ROLE}", "instance-auto": "cvm role auto"}
    if source == "chain-cvm":
        assert provider.account == "default chain: cvm role auto"
    elif source == "chain-tke":
        assert provider.account == f"default chain: cvm role auto, then {ROLE_ARN}"
    else:
        assert provider.account == expected_account.get(source, ROLE_ARN)
    assert cloud_emulator.count("cynosdb", "DescribeFlow", ok=True) == 2
    if source in ("oidc", "chain-tke"):
        assert oidc_tokens_seen(cloud_emulator) == ["eyJhbGciOiJSUzI1NiJ9.pod-token-1.sig"]


def test_the_oidc_token_file_is_read_again_at_every_refresh(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    tmp_path: Path,
    flow: None,
) -> None:
    cloud_emulator.set_identity_lifetime(1.5)
    use_source("oidc", monkeypatch, cloud_emulator_server, cloud_emulator, tmp_path)
    client = hook().get_conn()
    client.call(READ)
    (tmp_path / f"{CONN}-oidc-token").write_text("rotated-by-kubelet")
    time.sleep(1.5)
    client.call(READ)
    assert oidc_tokens_seen(cloud_emulator) == ["eyJhbGciOiJSUzI1NiJ9.pod-token-1.sig", "rotated-by-kubelet"]
    # A token file gone at refresh time: a configuration error naming the extra, and the wait's key is kept
    # until it expires (the failure is only logged).
    (tmp_path / f"{CONN}-oidc-token").unlink()
    time.sleep(1.5)
    with pytest.raises(ConfigurationError, match="oidc_token_file extra"):
        client.call(READ)


# --- refresh under load -----------------------------------------------------------------------------------

LOAD_SOURCES = {"role": "AssumeRole", "instance": "role-credentials", "oidc": "AssumeRoleWithWebIdentity"}


async def test_crowds_of_waits_refresh_each_identity_once_per_lifetime_over_three_lifetimes(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    tmp_path: Path,
    flow: None,
) -> None:
    lifetime, span = 2.0, 6.5
    cloud_emulator.set_identity_lifetime(lifetime)
    for index, source in enumerate(LOAD_SOURCES):
        role = f"qcs::cam::uin/100000000001:roleName/load-{index}"
        use_source(source, monkeypatch, cloud_emulator_server, cloud_emulator, tmp_path, conn_id=source, role_arn=role)
    reads = {source: 0 for source in LOAD_SOURCES}
    read_times: dict[str, list[float]] = {source: [] for source in LOAD_SOURCES}
    read_durations: list[float] = []
    end = time.time() + span

    async def wait(source: str) -> None:
        client = await hook(source).aget_conn()
        while time.time() < end:
            sent = time.time()
            assert (await client.acall(READ, deadline=sent + 5)).body["Status"] == PROCESSING
            reads[source] += 1
            read_times[source].append(time.time())
            read_durations.append(time.time() - sent)
            await asyncio.sleep(1.0)

    def worker(source: str) -> None:
        client = hook(source).get_conn()
        while time.time() < end:
            sent = time.time()
            assert client.call(READ, deadline=sent + 5).body["Status"] == PROCESSING
            reads[source] += 1
            read_times[source].append(time.time())
            read_durations.append(time.time() - sent)
            time.sleep(1.0)

    await asyncio.gather(
        *(wait(source) for source in LOAD_SOURCES for _ in range(4)),
        *(asyncio.to_thread(worker, source) for source in LOAD_SOURCES),
    )

    # Single flight per flight owner: the event loop and the worker thread each fetch a due key once, so at
    # most two fetches of a source run together however many waits are due (without it, each of the 5
    # waits of a source would fetch). ExpiredTime is whole seconds: a 2 s key lives 1-2 s less the time
    # its answer takes to arrive (at most the slowest read) and is refreshed after 85% of that, which
    # bounds the refreshes over the span the crowd was actually served (its start depends on load).
    slowest = max(read_durations)
    for source, action in LOAD_SOURCES.items():
        fetched = sorted(r.received or r.time for r in cloud_emulator.requests if r.action == action)
        together = [[fetched[0]]]
        for at in fetched[1:]:
            if at - together[-1][-1] < 0.25:
                together[-1].append(at)
            else:
                together.append([at])
        assert max(len(group) for group in together) <= 2, (source, fetched)
        served = max(read_times[source]) - min(read_times[source])
        shortest_life = 0.85 * max(0.1, lifetime - 1 - slowest)
        assert served / lifetime <= len(fetched), (source, fetched, served)
        assert len(together) <= 2 + served / shortest_life, (source, fetched, served, slowest)
        assert len(fetched) * 3 <= reads[source], (source, fetched, reads[source])
    assert cloud_emulator.count("cynosdb", "DescribeFlow", ok=False) == 0
    assert cloud_emulator.issued("tencent") == key_calls(cloud_emulator)


# --- the expired-token path -------------------------------------------------------------------------------


@pytest.mark.usefixtures("flow")
async def test_an_expired_key_answer_refreshes_once_and_repeats_the_call_once(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    # Keys of 100 s; a server clock 200 s ahead (within the 300 s signature window) finds the key expired.
    cloud_emulator.set_identity_lifetime(100)
    connect(monkeypatch, cloud_emulator_server, role_arn=ROLE_ARN, sts_endpoint=cloud_emulator_server.url)
    sync_client = hook().get_conn()
    async_client = await hook().aget_conn()
    sync_client.call(READ)

    cloud_emulator.inject("clock_skew", service="cynosdb", action="DescribeFlow", skew=200)
    assert sync_client.call(READ).body["Status"] == PROCESSING
    cloud_emulator.inject("clock_skew", service="cynosdb", action="DescribeFlow", skew=200)
    assert (await async_client.acall(READ)).body["Status"] == PROCESSING
    # 1 + (refused, repeated) x 2 reads; the first key and one forced refresh per refusal.
    assert cloud_emulator.count("cynosdb", "DescribeFlow") == 5
    assert cloud_emulator.count("cynosdb", "DescribeFlow", error="AuthFailure.TokenFailure") == 2
    assert key_calls(cloud_emulator, "AssumeRole") == 3

    # Refused again after the refresh: the error, not a third try nor a second refresh.
    cloud_emulator.inject("clock_skew", service="cynosdb", action="DescribeFlow", skew=200, count=2)
    with pytest.raises(ExpiredCredentialsError, match="token has expired"):
        await async_client.acall(READ)
    assert cloud_emulator.count("cynosdb", "DescribeFlow") == 7
    assert key_calls(cloud_emulator, "AssumeRole") == 4


@pytest.mark.usefixtures("flow")
def test_an_expired_static_session_token_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    temporary = cloud_emulator.issue_credentials("tencent", 100)
    connect(monkeypatch, cloud_emulator_server, login=temporary)
    client = hook().get_conn()
    assert client.call(READ).body["Status"] == PROCESSING
    cloud_emulator.inject("clock_skew", service="cynosdb", action="DescribeFlow", skew=200)
    with pytest.raises(ExpiredCredentialsError):
        client.call(READ)
    assert cloud_emulator.count("cynosdb", "DescribeFlow") == 2
    assert key_calls(cloud_emulator) == 0


# --- failing refreshes ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("flow")
async def test_a_hung_sts_leaves_the_current_key_in_use_until_it_expires(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    cloud_emulator.set_identity_lifetime(2)
    connect(monkeypatch, cloud_emulator_server, role_arn=ROLE_ARN, sts_endpoint=cloud_emulator_server.url)
    client = await hook().aget_conn()
    await client.acall(READ)
    first = client.api.credentials
    assert first.expires_at is not None
    cloud_emulator.inject("hang", service="sts", action="AssumeRole", count=None)
    reads = 0
    while time.time() < first.expires_at - 0.2:
        assert (await client.acall(READ, deadline=time.time() + 1)).body["Status"] == PROCESSING
        assert client.api.credentials == first
        reads += 1
        await asyncio.sleep(0.1)
    assert reads >= 3
    await asyncio.sleep(max(0.0, first.expires_at - time.time()))
    # Expired and no refresh landed: the wait's own deadline ends the call, never an unsigned or stale one.
    started = time.time()
    with pytest.raises(TransportError, match="deadline"):
        await client.acall(READ, deadline=time.time() + 0.5)
    assert time.time() - started < 0.5 + 2.5  # the deadline, not the hung refresh's 30 s budget
    assert cloud_emulator.count("cynosdb", "DescribeFlow", error="AuthFailure.TokenFailure") == 0
    cloud_emulator.clear_faults()


@pytest.mark.usefixtures("flow")
def test_a_failing_sts_leaves_the_current_key_in_use_then_says_why_it_has_none(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    cloud_emulator.set_identity_lifetime(3)
    connect(
        monkeypatch, cloud_emulator_server, role_arn=ROLE_ARN, sts_endpoint=cloud_emulator_server.url, max_attempts=1
    )
    client = hook().get_conn()
    client.call(READ)
    first = client.api.credentials
    assert first.expires_at is not None
    cloud_emulator.inject("internal_error", service="sts", action="AssumeRole", count=None)
    # ExpiredTime is whole seconds: the key lives 2-3 s, and past 85% of that a refresh is due.
    time.sleep(max(0.0, first.expires_at - 0.25 - time.time()))
    assert client.call(READ).body["Status"] == PROCESSING
    assert client.api.credentials == first
    assert "refreshing credentials of " + ROLE_ARN + " failed" in caplog.text
    # The emulator's key lives until a fraction of a second after ExpiredTime (whole seconds).
    time.sleep(max(0.0, first.expires_at - time.time()) + 1.05)
    with pytest.raises(ServerError, match="sts:AssumeRole"):
        client.call(READ)
    # Back in service: the next call obtains a key and succeeds.
    cloud_emulator.clear_faults()
    time.sleep(0.3)  # past the backoff
    assert client.call(READ).body["Status"] == PROCESSING
    assert client.api.credentials != first


# --- the default chain ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("flow")
@pytest.mark.parametrize("no_metadata", ["hang", "refused"])
def test_the_default_chain_gives_up_on_a_missing_metadata_service_within_two_seconds(
    no_metadata: str,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    tmp_path: Path,
) -> None:
    use_source("chain-tke", monkeypatch, cloud_emulator_server, cloud_emulator, tmp_path)
    if no_metadata == "hang":
        cloud_emulator.inject("hang", service="metadata", count=None)
    else:  # nothing listens there
        url = cloud_emulator_server.url
        connect(
            monkeypatch, cloud_emulator_server, stored=False, sts_endpoint=url, metadata_endpoint="http://127.0.0.1:9"
        )
    started = time.time()
    client = hook().get_conn()
    assert client.call(READ).body["Status"] == PROCESSING
    assert time.time() - started < 2.0 + 3.0  # the probe's bound (identity.PROBE_SECONDS), room for a busy machine
    assert key_calls(cloud_emulator, "AssumeRoleWithWebIdentity") == 1
    provider = client.api.provider
    assert isinstance(provider, RefreshingCredentials)
    assert provider.source.label == "TKE OIDC AssumeRoleWithWebIdentity"
    cloud_emulator.clear_faults()


def test_a_machine_with_no_identity_at_all_is_told_so_by_the_test_button(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    set_cvm_role(cloud_emulator, None)
    url = cloud_emulator_server.url
    connect(monkeypatch, cloud_emulator_server, stored=False, sts_endpoint=url, metadata_endpoint=url)
    ok, message = hook().test_connection()
    assert not ok
    assert "obtaining credentials (default chain: CVM role metadata) failed" in message
    assert "HTTP 404" in message


# --- the Test button --------------------------------------------------------------------------------------


def test_the_test_button_assumes_the_role_then_probes_and_names_the_failing_step(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    tmp_path: Path,
) -> None:
    url = cloud_emulator_server.url
    connect(monkeypatch, cloud_emulator_server, role_arn=ROLE_ARN, sts_endpoint=url)
    assert hook().test_connection() == (
        True,
        "Credentials accepted by Tencent Cloud (probe answered InvalidParameterValue.FlowNotFound)",
    )
    assert key_calls(cloud_emulator, "AssumeRole") == 1

    wrong = Credentials(DEFAULT_TENCENT_CREDENTIALS.key_id, "not-the-secret")
    connect(monkeypatch, cloud_emulator_server, login=wrong, role_arn=ROLE_ARN, sts_endpoint=url)
    ok, message = hook().test_connection()
    assert not ok and "(obtaining credentials (STS AssumeRole))" in message
    assert "AuthFailure.SignatureFailure" in message

    connect(monkeypatch, cloud_emulator_server, stored=False, instance_role="other-role", metadata_endpoint=url)
    ok, message = hook().test_connection()
    assert not ok and "obtaining credentials (CVM role metadata) failed" in message and "HTTP 404" in message

    use_source("oidc", monkeypatch, cloud_emulator_server, cloud_emulator, tmp_path)
    cloud_emulator.inject("internal_error", service="sts", action="AssumeRoleWithWebIdentity", count=None)
    ok, message = hook().test_connection()
    assert not ok and "obtaining credentials (TKE OIDC AssumeRoleWithWebIdentity) failed" in message
    assert "InternalError" in message
    # The key was obtained but the probe was refused: the probe is named.
    cloud_emulator.clear_faults()
    cloud_emulator.inject("invalid", service="cynosdb", action="DescribeFlow", count=None)
    ok, message = hook().test_connection()
    assert ok and "InvalidParameterValue" in message


# --- configuration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "extra", "named"),
    [
        (False, {"instance_role": "auto", "oidc_token_file": "/t"}, "instance_role extra"),
        (False, {"instance_role": "auto", "role_arn": ROLE_ARN}, "instance_role extra"),
        (True, {"instance_role": "auto"}, "instance_role extra"),
        (False, {"instance_role": "auto", "duration_seconds": "900"}, "duration_seconds extra"),
        (False, {"oidc_provider_id": "p"}, "oidc_provider_id extra"),
        (False, {"oidc_token_file": "/t", "role_arn": ROLE_ARN}, "oidc_token_file extra"),
        (False, {"oidc_token_file": "/t", "oidc_provider_id": "p"}, "oidc_token_file extra"),
        (True, {"oidc_token_file": "/t", "oidc_provider_id": "p", "role_arn": ROLE_ARN}, "oidc_token_file extra"),
        (False, {"role_arn": ROLE_ARN}, "connection 'tencentcloud_default'"),
        (True, {"role_arn": "acs:ram::1:role/x"}, "role_arn extra"),
        (True, {"role_arn": ROLE_ARN, "duration_seconds": "43201"}, "duration_seconds extra"),
        (True, {"role_arn": ROLE_ARN, "duration_seconds": "1h"}, "duration_seconds extra"),
        (True, {"role_arn": ROLE_ARN, "role_session_name": "a b"}, "role_session_name extra"),
        (True, {"role_arn": ROLE_ARN, "sts_endpoint": "http://sts.example.com"}, "sts_endpoint extra"),
        (True, {"role_session_name": "airflow"}, "role_session_name extra"),
        (False, {"instance_role": "a/b"}, "instance_role extra"),
        (False, {"instance_role": "auto", "metadata_endpoint": "http://example.com"}, "metadata_endpoint extra"),
        (False, {"token": "t0ken"}, "token extra"),
    ],
)
def test_contradictory_or_unusable_extras_are_refused_naming_the_setting(
    stored: bool,
    extra: dict[str, str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
) -> None:
    connect(monkeypatch, cloud_emulator_server, stored=stored, **extra)
    with pytest.raises(ConfigurationError) as raised:
        hook().get_conn()
    assert raised.value.field == named
    assert key_calls(cloud_emulator) == 0


def test_the_international_site_assumes_roles_at_the_international_sts() -> None:
    assert default_sts_endpoint("https://{service}.intl.tencentcloudapi.com") == INTL_STS_ENDPOINT
    assert default_sts_endpoint("https://{service}.tencentcloudapi.com") == "https://sts.tencentcloudapi.com"
    assert default_sts_endpoint(None) == "https://sts.tencentcloudapi.com"


# --- secrets ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("flow")
async def test_no_secret_or_token_reaches_a_log_line_or_an_error(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    hostile_server: LoopbackServer,
) -> None:
    caplog.set_level(logging.DEBUG)
    cloud_emulator.set_identity_lifetime(100)
    secrets: set[str] = {DEFAULT_TENCENT_CREDENTIALS.secret, "eyJhbGciOiJSUzI1NiJ9.pod-token-1.sig"}
    errors: list[str] = []
    for source in ("role", "instance-auto", "oidc"):
        use_source(source, monkeypatch, cloud_emulator_server, cloud_emulator, tmp_path)
        client = await hook().aget_conn()
        await client.acall(READ)
        # The expired-token path (logged), then a refresh that fails (logged) and a call that cannot get a key.
        cloud_emulator.inject("clock_skew", service="cynosdb", action="DescribeFlow", skew=200)
        await client.acall(READ)
        keys = client.api.provider
        assert isinstance(keys, RefreshingCredentials)
        creds = keys.cached
        secrets |= {creds.secret, creds.token or ""}
        assert creds.secret not in repr(creds) and (creds.token or "") not in repr(creds)
        cloud_emulator.inject("malformed", count=None)
        cloud_emulator.inject("clock_skew", service="cynosdb", action="DescribeFlow", skew=200, count=None)
        with pytest.raises(CloudApiError) as raised:
            await client.acall(READ, deadline=time.time() + 3)
        errors.append(str(raised.value))
        cloud_emulator.clear_faults()
        hook_ok, message = hook().test_connection()
        errors.append(message)
    # STS quoting the request back (secrets included) in an error message: redacted before it is raised.
    server = hostile_server
    token_file = tmp_path / "echo-token"
    token_file.write_text("oidc-token-quoted-back")
    echo = json.dumps(
        {
            "Response": {
                "Error": {
                    "Code": "InvalidParameter.WebIdentityTokenError",
                    "Message": "bad token oidc-token-quoted-back",
                },
                "RequestId": "r1",
            }
        }
    ).encode()
    server.program(Reply(200, echo))
    with pytest.raises(CloudApiError) as quoted:
        oidc_source(_oidc_spec(server.url, str(token_file))).fetch(time.time() + 3)
    errors.append(str(quoted.value))
    secrets.add("oidc-token-quoted-back")
    assert "***" in str(quoted.value)
    text = caplog.text + "\n".join(errors)
    assert "refreshing the key of" in text and "failed" in text
    for secret in secrets - {""}:
        assert secret not in text


# --- hostile answers --------------------------------------------------------------------------------------

NOW = int(time.time())
FUTURE = NOW + 3600
GOOD_KEY = {"TmpSecretId": "AKIDtmp", "TmpSecretKey": "tmp/secret+key", "Token": "tok3n"}


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


hostile_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["", " ", "AKID\n", "tok\x00en", _iso(FUTURE), _iso(NOW - 60), "2026-01-01T00:00:00+08:00"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def credential_answers(draw: st.DrawFn) -> dict[str, Any]:
    """A documented answer with some fields replaced, removed or left alone."""
    fields: dict[str, Any] = {**GOOD_KEY, "ExpiredTime": FUTURE, "Expiration": _iso(FUTURE)}
    for name in list(fields):
        change = draw(st.sampled_from(["keep", "keep", "drop", "replace"]))
        if change == "drop":
            del fields[name]
        elif change == "replace":
            fields[name] = draw(hostile_value)
    return fields


def is_documented(fields: dict[str, Any]) -> bool:
    """The oracle: each key field a non-empty printable ASCII string, both expiries in the future."""
    for name in GOOD_KEY:
        value = fields.get(name)
        if not (isinstance(value, str) and value and value.isascii() and value.isprintable()):
            return False
    expired = fields.get("ExpiredTime")
    if type(expired) is not int or not time.time() < expired < 2**40:
        return False
    expiration = fields.get("Expiration")
    return isinstance(expiration, str) and expiration.endswith("Z") and expiration > _iso(int(time.time()))


@pytest.fixture(scope="module")
def hostile_server() -> LoopbackServer:
    # Left running (a daemon thread): stopping its loop would strand the pooled connections' handlers.
    return LoopbackServer()


NO_RETRY = RetryPolicy(max_attempts=1)


def _oidc_spec(url: str, token_file: str) -> TkeOidc:
    return TkeOidc("p", ROLE_ARN, token_file, "airflow", 7200, "ap-guangzhou", url, NO_RETRY)


def _check_outcome(fetch: Any, fields: dict[str, Any]) -> None:
    started = time.time()
    try:
        creds = fetch()
    except CloudApiError:
        assert time.time() - started < 5
        return
    assert is_documented(fields), fields
    assert (creds.key_id, creds.secret, creds.token) == tuple(GOOD_KEY.values())
    assert creds.expires_at is not None and creds.expires_at <= fields["ExpiredTime"]


@seeded
@fuzz_settings(60)
@given(fields=credential_answers(), envelope=st.sampled_from(["sts", "flat", "no-credentials"]))
def test_a_garbled_sts_answer_is_a_typed_error_never_a_key(
    hostile_server: LoopbackServer, fields: dict[str, Any], envelope: str
) -> None:
    key = {name: fields.pop(name) for name in GOOD_KEY if name in fields}
    response: dict[str, Any] = {**fields, "RequestId": "r1"}
    if envelope == "sts":
        response["Credentials"] = key
    elif envelope == "flat":
        response.update(key)
    hostile_server.program(Reply(200, json.dumps({"Response": response}).encode()))
    stored = Credentials("AKIDstored", "stored-secret")
    spec = AssumeRole(stored, ROLE_ARN, "airflow", 7200, "ap-guangzhou", hostile_server.url, NO_RETRY)
    expected = {**key, **fields} if envelope == "sts" else {"TmpSecretId": None}
    _check_outcome(functools.partial(assume_role_source(spec).fetch, time.time() + 5), expected)


@seeded
@fuzz_settings(60)
@given(
    fields=credential_answers(),
    code=st.sampled_from(["Success", "Success", "Failed", None, 0]),
    role=st.sampled_from(["airflow-cvm-role", "", "a b", "../x", "two\nroles", "r" * 200]),
)
def test_a_garbled_metadata_answer_is_a_typed_error_never_a_key(
    hostile_server: LoopbackServer, fields: dict[str, Any], code: Any, role: str
) -> None:
    if code is not None:
        fields["Code"] = code
    hostile_server.program(
        Reply(200, role.encode(), headers=[("Content-Type", "text/plain")]), Reply(200, json.dumps(fields).encode())
    )
    source = cvm_role_source(CvmRole(None, hostile_server.url, NO_RETRY))
    expected = fields if code == "Success" and role in ("airflow-cvm-role", "r" * 200) else {"TmpSecretId": None}
    _check_outcome(functools.partial(source.fetch, time.time() + 5), expected)


async def test_async_fetches_read_answers_as_strictly(hostile_server: LoopbackServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("pod-token")
    answer = {"Credentials": GOOD_KEY, "ExpiredTime": 1.5e12, "Expiration": _iso(FUTURE), "RequestId": "r"}
    hostile_server.program(Reply(200, json.dumps({"Response": answer}).encode()))
    with pytest.raises(CloudApiError, match="ExpiredTime"):
        await oidc_source(_oidc_spec(hostile_server.url, str(token_file))).afetch(time.time() + 5)
    seen = hostile_server.requests[-1]
    assert seen.headers["authorization"] == "SKIP" and seen.headers["x-tc-action"] == "AssumeRoleWithWebIdentity"
    assert json.loads(seen.body)["WebIdentityToken"] == "pod-token"


# --- parity with the official SDK -------------------------------------------------------------------------


@pytest.fixture
def sdk_over_http(monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer) -> Any:
    """The SDK's credential module, its STS clients speaking plain HTTP and its CVM client at the emulator."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.http_profile import HttpProfile

    monkeypatch.setattr(credential, "HttpProfile", functools.partial(HttpProfile, protocol="http"))
    monkeypatch.setattr(
        credential.CVMRoleCredential,
        "_role_endpoint",
        cloud_emulator_server.url + "/latest/meta-data/cam/security-credentials/",
    )
    return credential


@pytest.mark.usefixtures("flow")
def test_the_official_sdk_credential_classes_obtain_keys_from_the_emulator(
    sdk_over_http: Any,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    tmp_path: Path,
) -> None:
    from tests.emulator.helpers import tencent_sdk

    credential = sdk_over_http
    stored = DEFAULT_TENCENT_CREDENTIALS
    endpoint = cloud_emulator_server.endpoint
    token_file = tmp_path / "token"
    token_file.write_text("pod-token")
    tke_environment(monkeypatch, token_file, ROLE_ARN)
    tke = credential.DefaultTkeOIDCRoleArnProvider().get_credentials()
    tke.endpoint = endpoint
    sources = {
        "sts": credential.STSAssumeRoleCredential(stored.key_id, stored.secret, ROLE_ARN, "sdk", 900, endpoint),
        "cvm": credential.CVMRoleCredential(),
        "oidc": credential.OIDCRoleArnCredential("ap-guangzhou", "p", "tok", ROLE_ARN, "sdk-session", 900, endpoint),
        "tke": tke,
    }
    for name, sdk_credential in sources.items():
        key_id, secret, token = sdk_credential.get_credential_info()
        assert key_id and key_id.startswith("TMP") and secret and token, name
        client = tencent_sdk(cloud_emulator_server, "cynosdb", creds=Credentials(key_id, secret, token))
        assert json.loads(client.call("DescribeFlow", {"FlowId": FLOW}))["Response"]["Status"] == PROCESSING, name
    assert cloud_emulator.issued("tencent") == 4
    assert oidc_tokens_seen(cloud_emulator) == ["tok", "pod-token"]


def test_the_emulated_sts_validates_what_sts_documents(
    sdk_over_http: Any, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    credential = sdk_over_http
    stored = DEFAULT_TENCENT_CREDENTIALS
    endpoint = cloud_emulator_server.endpoint
    temporary = cloud_emulator.issue_credentials("tencent", 100)
    cases = [
        (
            credential.STSAssumeRoleCredential(stored.key_id, stored.secret, "arn:bad", "s1", 900, endpoint),
            "InvalidParameter.ParamError",
        ),
        (
            credential.STSAssumeRoleCredential(stored.key_id, stored.secret, ROLE_ARN, "s1", 43201, endpoint),
            "InvalidParameter.OverTimeError",
        ),
        (
            credential.STSAssumeRoleCredential(stored.key_id, stored.secret, ROLE_ARN, "x", 900, endpoint),
            "InvalidParameter.ParamError",
        ),
        (
            credential.STSAssumeRoleCredential(stored.key_id, "wrong", ROLE_ARN, "s1", 900, endpoint),
            "AuthFailure.SignatureFailure",
        ),
        (
            credential.OIDCRoleArnCredential("ap-guangzhou", "", "tok", ROLE_ARN, "s1", 900, endpoint),
            "InvalidParameter.ParamError",
        ),
        (
            credential.OIDCRoleArnCredential("ap-guangzhou", "p", "", ROLE_ARN, "s1", 900, endpoint),
            "InvalidParameter.ParamError",
        ),
    ]
    for sdk_credential, code in cases:
        with pytest.raises(TencentCloudSDKException) as raised:
            sdk_credential.get_credential_info()
        assert raised.value.code == code
    # A temporary key may not assume a role.
    from tests.emulator.helpers import tencent_sdk

    sts = tencent_sdk(cloud_emulator_server, "cynosdb", creds=temporary)
    sts._service, sts._apiVersion = "sts", "2018-08-13"
    with pytest.raises(TencentCloudSDKException) as refused:
        sts.call_json("AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1"})
    assert refused.value.code == "AuthFailure.UnauthorizedOperation"
    assert cloud_emulator.issued("tencent") == 1  # only the temporary key above
    assert cloud_emulator.rate_limit("sts", "AssumeRoleWithWebIdentity") == 20
    assert cloud_emulator.rate_limit("sts", "AssumeRole") == 600


def test_the_metadata_service_answers_404_for_a_role_the_instance_does_not_have(
    cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    import httpx

    base = cloud_emulator_server.url + "/latest/meta-data/cam/security-credentials/"
    assert httpx.get(base).text == DEFAULT_CVM_ROLE
    assert httpx.get(base + "someone-else").status_code == 404
    answer = httpx.get(base + DEFAULT_CVM_ROLE).json()
    assert answer["Code"] == "Success" and type(answer["ExpiredTime"]) is int
    assert set(answer) == {"TmpSecretId", "TmpSecretKey", "Token", "ExpiredTime", "Expiration", "Code"}
    set_cvm_role(cloud_emulator, None)
    assert httpx.get(base).status_code == 404
    with pytest.raises(NotFoundError):
        cvm_role_source(CvmRole(None, cloud_emulator_server.url, NO_RETRY)).fetch(time.time() + 3)
