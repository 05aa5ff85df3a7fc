"""Alibaba temporary identities over HTTP to the emulator: a RAM role (STS AssumeRole), the ECS RAM role
(metadata, IMDSv2 first), an ACK pod's OIDC token (AssumeRoleWithOIDC) and the default chain; their refresh
across lifetimes, the expired-token path, failing STS, hostile answers, secrecy, and parity with the official
credentials-python providers."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import pathlib
import time
from typing import Any

import httpx
import pytest
from alibabacloud_credentials.provider import (
    EcsRamRoleCredentialsProvider,
    OIDCRoleArnCredentialsProvider,
    RamRoleArnCredentialsProvider,
)
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cloudflows.credentials import Credentials, RefreshingCredentials
from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    ConfigurationError,
    ExpiredCredentialsError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
)
from airflow_provider_cloudflows.hooks.alibaba import AlibabaCloudHook
from airflow_provider_cloudflows.limits import QUOTAS, Quota
from airflow_provider_cloudflows.transport.alibaba import AlibabaCall
from airflow_provider_cloudflows.transport.alibaba_identity import (
    assume_role_source,
    ecs_ram_role_source,
    oidc_source,
)
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from cloudflows_emulator import CloudEmulator, cloudflow_execution
from cloudflows_emulator.alibaba import DEFAULT_ECS_ROLE, set_ecs_imds, set_ecs_role
from cloudflows_emulator.alibaba.identity import ECS_METADATA, STS
from cloudflows_emulator.server import EmulatorServer
from tests.fuzz_server import LoopbackServer, Reply, fuzz_settings
from tests.identity_sources import clear_sdk_variables

ROLE_ARN = "acs:ram::1234567890123456:role/airflow"
PROVIDER_ARN = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c123"
FLOW, EXECUTION = "nightly_etl", "run_1"
READ = AlibabaCall("DescribeExecution", "2019-03-15", {"FlowName": FLOW, "ExecutionName": EXECUTION})


def jwt(subject: str = "system:serviceaccount:airflow:triggerer") -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"sub": subject, "iss": "https://oidc-ack.cn-hangzhou.aliyuncs.com/c123", "aud": "sts.aliyuncs.com"}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.fixture(autouse=True)
def _no_alibaba_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_sdk_variables(monkeypatch)


@pytest.fixture
def token_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "oidc-token"
    path.write_text(jwt())
    return path


class Connections:
    """Alibaba connections pointing every endpoint at the emulator."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, server: EmulatorServer) -> None:
        self.monkeypatch = monkeypatch
        self.server = server
        self.key = server.emulator.credentials("alibaba")

    def set(self, conn_id: str, *, stored: bool = False, **extra: Any) -> AlibabaCloudHook:
        url = self.server.url
        fields = {"region": "cn-hangzhou", "endpoint": url, "sts_endpoint": url, "metadata_endpoint": url}
        value: dict[str, Any] = {"conn_type": "alibabacloud", "extra": {**fields, "initial_backoff": 0.05, **extra}}
        if stored:
            value.update(login=self.key.key_id, password=self.key.secret)
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
        return AlibabaCloudHook(conn_id)


@pytest.fixture
def conns(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> Connections:
    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running")]))
    return Connections(monkeypatch, cloud_emulator_server)


def configure(source: str, conns: Connections, token_file: pathlib.Path, signature: str) -> AlibabaCloudHook:
    """A connection of ``source``; the env sources set the SDK's variables."""
    sig: dict[str, Any] = {"signature_version": signature}
    if source == "assume role":
        return conns.set("ali_role", stored=True, role_arn=ROLE_ARN, external_id="abc-123", **sig)
    if source == "ecs role":
        return conns.set("ali_ecs", ecs_ram_role=DEFAULT_ECS_ROLE, **sig)
    if source == "ecs role auto":
        return conns.set("ali_ecs_auto", ecs_ram_role="auto", disable_imds_v1="true", **sig)
    if source == "oidc":
        return conns.set("ali_oidc", oidc_token_file=str(token_file), oidc_provider_arn=PROVIDER_ARN,
                         role_arn=ROLE_ARN, duration_seconds="900", **sig)  # fmt: skip
    if source == "env oidc":
        conns.monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(token_file))
        conns.monkeypatch.setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER_ARN)
        conns.monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN)
        return conns.set("ali_env_oidc", **sig)
    if source == "env ecs role":
        return conns.set("ali_env_ecs", **sig)
    assert source == "env key"
    conns.monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", conns.key.key_id)
    conns.monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", conns.key.secret)
    return conns.set("ali_env_key", **sig)


SOURCES = ["assume role", "ecs role", "ecs role auto", "oidc", "env oidc", "env ecs role", "env key"]
ISSUING = {"assume role": "AssumeRole", "oidc": "AssumeRoleWithOIDC", "env oidc": "AssumeRoleWithOIDC"}
ACCOUNTS = {
    "assume role": ROLE_ARN,
    "oidc": ROLE_ARN,
    "env oidc": f"{ROLE_ARN} or ecs role auto",
    "ecs role": f"ecs role {DEFAULT_ECS_ROLE}",
    "ecs role auto": "ecs role auto",
    "env ecs role": "ecs role auto",
}


@pytest.mark.parametrize("signature", ["v2", "v3"])
@pytest.mark.parametrize("source", SOURCES)
async def test_each_source_yields_a_key_that_signs_a_cloudflow_read_sync_and_async(
    source: str, signature: str, conns: Connections, token_file: pathlib.Path, cloud_emulator: CloudEmulator
) -> None:
    hook = configure(source, conns, token_file, signature)
    assert hook.get_conn().call(READ).body["Status"] == "Running"
    # A fresh hook of the same connection: the async path shares the process's key, no second issue.
    async_hook = AlibabaCloudHook(hook.conn_id)
    assert (await (await async_hook.aget_conn()).acall(READ)).body["Status"] == "Running"
    assert hook.test_connection()[0] is True
    issued = 0 if source == "env key" else 1
    assert cloud_emulator.issued("alibaba") == issued
    assert cloud_emulator.count("fnf", "DescribeExecution", ok=True) == 2
    if source in ISSUING:
        assert cloud_emulator.count(STS, ISSUING[source], ok=True) == 1
        assert cloud_emulator.count(ECS_METADATA) == 0
    elif issued:
        assert cloud_emulator.count(ECS_METADATA, "role-credentials", ok=True) == 1
        assert cloud_emulator.count(ECS_METADATA, "role-name") == (0 if source == "ecs role" else 1)
    provider = hook.get_conn().api.provider
    if issued:
        assert isinstance(provider, RefreshingCredentials)
        assert provider.account == ACCOUNTS[source]
        assert provider.cached.token and provider.cached.key_id.startswith("TMP")


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_expired_key_answered_invalid_security_token_expired_is_refreshed_once_and_repeated_once(
    mode: str, conns: Connections, cloud_emulator: CloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud_emulator.set_identity_lifetime(300)
    hook = conns.set("ali_role", stored=True, role_arn=ROLE_ARN, signature_version="v3")
    client = hook.get_conn() if mode == "sync" else await hook.aget_conn()
    assert (client.call(READ) if mode == "sync" else await client.acall(READ)).body["Status"] == "Running"
    first = client.api.credentials
    # The service's clock runs 10 minutes ahead (within the signature's 15): the 5-minute key the client
    # still holds as fresh has expired there.
    monkeypatch.setattr(cloud_emulator, "wall_clock", lambda: time.time() + 600)
    assert (client.call(READ) if mode == "sync" else await client.acall(READ)).body["Status"] == "Running"
    assert client.api.credentials != first
    assert cloud_emulator.count("fnf", "DescribeExecution", error="InvalidSecurityToken.Expired") == 1
    assert cloud_emulator.count("fnf", "DescribeExecution", ok=True) == 2
    assert cloud_emulator.count(STS, "AssumeRole") == 2


async def test_an_expired_static_security_token_is_answered_expired_and_never_retried(
    conns: Connections, cloud_emulator: CloudEmulator
) -> None:
    key = cloud_emulator.issue_credentials("alibaba", 1)
    conns.monkeypatch.setenv(
        "AIRFLOW_CONN_ALI_STATIC",
        json.dumps({"conn_type": "alibabacloud", "login": key.key_id, "password": key.secret,
                    "extra": {"region": "cn-hangzhou", "endpoint": conns.server.url, "security_token": key.token}}),
    )  # fmt: skip
    await asyncio.sleep(1.05)
    with pytest.raises(ExpiredCredentialsError) as caught:
        AlibabaCloudHook("ali_static").get_conn().call(READ)
    with pytest.raises(ExpiredCredentialsError):
        await (await AlibabaCloudHook("ali_static").aget_conn()).acall(READ)
    assert caught.value.http_status == 403
    assert "Specified SecurityToken is expired." in str(caught.value)
    assert cloud_emulator.count("fnf", "DescribeExecution") == 2
    assert cloud_emulator.issued("alibaba") == 1


async def test_a_slow_failing_sts_leaves_the_current_key_in_use_and_waits_never_stall(
    conns: Connections, cloud_emulator: CloudEmulator
) -> None:
    cloud_emulator.set_identity_lifetime(3)
    client = await conns.set("ali_role", stored=True, role_arn=ROLE_ARN).aget_conn()
    await client.acall(READ)
    first = client.api.credentials
    # The refresh hangs for 2.5 s, then fails (503); its retry succeeds.
    cloud_emulator.inject("server_error", service=STS, action="AssumeRole", delay=2.5)
    slowest_with_first_key = 0.0
    ended = time.monotonic() + 4.5
    while time.monotonic() < ended:
        started = time.monotonic()
        await client.acall(READ, deadline=time.time() + 5)
        if client.api.credentials == first:
            slowest_with_first_key = max(slowest_with_first_key, time.monotonic() - started)
        # ~20 reads: within DescribeExecution's burst of 50, so only the refresh could slow one.
        await asyncio.sleep(0.2)
    assert client.api.credentials != first
    assert slowest_with_first_key < 1.5  # never the 2.5 s the refresh hangs
    assert cloud_emulator.count(STS, "AssumeRole") == 3
    assert cloud_emulator.count("fnf", "DescribeExecution", ok=False) == 0


def test_a_failing_sts_keeps_the_key_until_it_expires_then_fails_typed_then_recovers(
    conns: Connections, cloud_emulator: CloudEmulator
) -> None:
    cloud_emulator.set_identity_lifetime(3)
    # Reads every 50 ms, so some fall between the refresh time and the expiry: past DescribeExecution's burst,
    # which is lifted here (the key's refresh is tested, not the quota).
    conns.monkeypatch.setitem(QUOTAS["alibabacloud"], "fnf:DescribeExecution", Quota(1_000_000))
    cloud_emulator.set_rate_limit("fnf", "DescribeExecution", None)
    # One attempt per call: a failed refresh costs milliseconds, so calls run between refresh time and expiry.
    client = conns.set("ali_role", stored=True, role_arn=ROLE_ARN, max_attempts="1").get_conn()
    client.call(READ)
    first = client.api.credentials
    assert first.expires_at is not None
    cloud_emulator.inject("internal_error", service=STS, action="AssumeRole", count=None)
    while time.time() < first.expires_at - 0.1:
        assert client.call(READ).body["Status"] == "Running"
        time.sleep(0.05)
    assert client.api.credentials == first
    # At least one refresh failed meanwhile (its retries with backoff are timed in test_credential_refresh: on
    # a loaded machine the window between refresh time and expiry may fit only one).
    assert cloud_emulator.count(STS, "AssumeRole", ok=False) >= 1
    time.sleep(max(0.0, first.expires_at - time.time()) + 0.05)
    with pytest.raises(ServerError) as caught:
        client.call(READ, deadline=time.time() + 2)
    assert caught.value.code == "InternalServerError"
    cloud_emulator.clear_faults()
    time.sleep(0.2)  # past the failed refresh's backoff
    assert client.call(READ).body["Status"] == "Running"
    assert client.api.credentials != first
    assert cloud_emulator.count("fnf", "DescribeExecution", error="InvalidSecurityToken.Expired") == 0


def test_the_ecs_role_uses_imdsv1_only_when_allowed_and_a_bad_metadata_token_is_refused(
    conns: Connections, cloud_emulator: CloudEmulator, cloud_emulator_server: EmulatorServer
) -> None:
    set_ecs_imds(cloud_emulator, v2=False)
    assert conns.set("ali_v1", ecs_ram_role="auto").get_conn().call(READ).body["Status"] == "Running"
    with pytest.raises(NotFoundError, match="metadata:api-token answered HTTP 404"):
        conns.set("ali_v2_only", ecs_ram_role="auto", disable_imds_v1="true").get_conn().call(READ)
    conns.monkeypatch.setenv("ALIBABA_CLOUD_IMDSV1_DISABLED", "true")
    ok, message = conns.set("ali_env_v2_only", ecs_ram_role=DEFAULT_ECS_ROLE).test_connection()
    assert not ok and "obtaining credentials (ECS RAM role (instance metadata))" in message and "404" in message
    set_ecs_imds(cloud_emulator, v1=False)
    assert conns.set("ali_v2", ecs_ram_role="auto").get_conn().call(READ).body["Status"] == "Running"
    path = f"{cloud_emulator_server.url}/latest/meta-data/ram/security-credentials/{DEFAULT_ECS_ROLE}"
    assert httpx.get(path).status_code == 403
    assert httpx.get(path, headers={"X-aliyun-ecs-metadata-token": "forged"}).status_code == 401
    assert httpx.put(f"{cloud_emulator_server.url}/latest/api/token",
                     headers={"X-aliyun-ecs-metadata-token-ttl-seconds": "21601"}).status_code == 400  # fmt: skip
    set_ecs_role(cloud_emulator, "other-role")
    with pytest.raises(NotFoundError, match="security-credentials answered HTTP 404"):
        conns.set("ali_gone", ecs_ram_role=DEFAULT_ECS_ROLE).get_conn().call(READ)


def test_the_default_chain_gives_up_on_a_hung_metadata_service_within_two_seconds(
    conns: Connections, cloud_emulator: CloudEmulator
) -> None:
    cloud_emulator.inject("hang", service=ECS_METADATA, count=None)
    hook = conns.set("ali_nothing")
    started = time.monotonic()
    ok, message = hook.test_connection()
    elapsed = time.monotonic() - started
    print(f"default chain, hung metadata service: gave up after {elapsed:.2f} s")
    assert not ok and "obtaining credentials (default chain: ECS RAM role (instance metadata))" in message
    assert elapsed < 2.0 + 2.0  # the probe's bound (identity.PROBE_SECONDS), and room for a busy machine


def test_the_default_chain_tries_oidc_first_then_the_ecs_role(
    conns: Connections, cloud_emulator: CloudEmulator, tmp_path: pathlib.Path
) -> None:
    conns.monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(tmp_path / "missing"))
    conns.monkeypatch.setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER_ARN)
    conns.monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN)
    client = conns.set("ali_chain").get_conn()
    assert client.call(READ).body["Status"] == "Running"
    assert client.api.account == f"{ROLE_ARN} or ecs role auto"
    assert cloud_emulator.count(STS) == 0 and cloud_emulator.count(ECS_METADATA, "role-credentials") == 1
    conns.monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    with pytest.raises(ConfigurationError, match="environment variable ALIBABA_CLOUD_OIDC_TOKEN_FILE"):
        conns.set("ali_chain_oidc_only").get_conn().call(READ)
    conns.monkeypatch.delenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE")
    with pytest.raises(ConfigurationError, match="stores no key and names no role"):
        conns.set("ali_chain_nothing").get_conn()


OIDC_EXTRAS = {"oidc_token_file": "/t", "oidc_provider_arn": PROVIDER_ARN, "role_arn": ROLE_ARN}


@pytest.mark.parametrize(
    ("extra", "stored", "field"),
    [
        ({"ecs_ram_role": "auto", "role_arn": ROLE_ARN}, False, "role_arn extra"),
        ({"ecs_ram_role": "auto"}, True, "ecs_ram_role extra"),
        ({"ecs_ram_role": "my role"}, False, "ecs_ram_role extra"),
        ({"ecs_ram_role": "auto", "disable_imds_v1": "yes"}, False, "disable_imds_v1 extra"),
        ({"oidc_token_file": "/t", "role_arn": ROLE_ARN}, False, "oidc_provider_arn extra"),
        ({"oidc_provider_arn": PROVIDER_ARN, "role_arn": ROLE_ARN}, False, "oidc_token_file extra"),
        (OIDC_EXTRAS, True, "oidc_token_file extra"),
        ({**OIDC_EXTRAS, "external_id": "x1"}, False, "external_id extra"),
        ({"external_id": "x1"}, True, "external_id extra"),
        ({"duration_seconds": "3600"}, True, "duration_seconds extra"),
        ({"role_arn": ROLE_ARN}, False, "connection 'ali_bad'"),
        ({"role_arn": "arn:aws:iam::1:role/x"}, True, "role_arn extra"),
        ({"role_arn": ROLE_ARN, "duration_seconds": "600"}, True, "duration_seconds extra"),
        ({"role_arn": ROLE_ARN, "role_session_name": "a"}, True, "role_session_name extra"),
        ({"role_arn": ROLE_ARN, "sts_endpoint": "http://sts.aliyuncs.com"}, True, "sts_endpoint extra"),
        ({"ecs_ram_role": "auto", "metadata_endpoint": "http://example.com"}, False, "metadata_endpoint extra"),
    ],
)  # fmt: skip
def test_contradictory_or_incomplete_extras_are_refused_naming_the_extra(
    extra: dict[str, str], stored: bool, field: str, conns: Connections
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        conns.set("ali_bad", stored=stored, **extra).get_conn()
    assert caught.value.field == field


def test_the_test_button_names_the_step_that_failed(conns: Connections, cloud_emulator: CloudEmulator) -> None:
    ok, message = conns.set("ali_role", stored=True, role_arn=ROLE_ARN, duration_seconds="7200").test_connection()
    assert not ok
    assert "obtaining credentials (assume role (STS AssumeRole))" in message
    assert "InvalidParameter.DurationSeconds" in message
    set_ecs_role(cloud_emulator, None)
    ok, message = conns.set("ali_ecs", ecs_ram_role="auto").test_connection()
    assert not ok and "obtaining credentials (ECS RAM role (instance metadata))" in message
    assert "ram-role-name answered HTTP 404" in message
    ok, message = conns.set("ali_ok", stored=True, role_arn=ROLE_ARN).test_connection()
    assert ok and "FlowNotExists" in message


def test_no_secret_reaches_a_log_line_or_an_error(
    conns: Connections, token_file: pathlib.Path, cloud_emulator: CloudEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cloud_emulator.set_identity_lifetime(2)
    role = conns.set("ali_role", stored=True, role_arn=ROLE_ARN).get_conn()
    oidc = configure("oidc", conns, token_file, "v2").get_conn()
    ecs = configure("ecs role", conns, token_file, "v2").get_conn()
    seen: list[Credentials] = []
    errors: list[str] = []
    for client in (role, oidc, ecs):
        client.call(READ)
        seen.append(client.api.credentials)
    # Refreshes that fail and are retried, then an expired-token answer, then a Test button on a bad role.
    cloud_emulator.inject("server_error", service=STS, count=2)
    cloud_emulator.inject("internal_error", service=ECS_METADATA, count=1)
    time.sleep(1.8)
    for client in (role, oidc, ecs):
        client.call(READ)
        seen.append(client.api.credentials)
    errors.append(
        conns.set("ali_bad_role", stored=True, role_arn=ROLE_ARN, duration_seconds="7200").test_connection()[1]
    )
    token_file.write_text("not-a-jwt")
    time.sleep(2.1)  # the OIDC key expires; its refresh sends the garbled token
    with pytest.raises(InvalidRequestError, match=r"InvalidParameter\.OIDCToken") as caught:
        oidc.call(READ, deadline=time.time() + 3)
    errors.append(str(caught.value))
    text = caplog.text + "\n".join(errors) + "".join(repr(c) for c in seen)
    secrets = {conns.key.secret, jwt(), *(c.secret for c in seen), *(c.token or "" for c in seen)}
    assert "refreshing credentials" in caplog.text or "retrying" in caplog.text
    for secret in secrets:
        assert secret not in text


# --- hostile answers -----------------------------------------------------------------------------------------

LOOPBACK = LoopbackServer()
NEAR_TEXT = ["", " ", "a\nb", "é", 5, 5.0, True, None, [], {}, ["x"], "x" * 70000]
EXPIRATIONS = ["2099-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2099-01-01T00:00:00", "2099-01-01", 4102444800,
               "2099-01-01T00:00:00.123Z", "2099-01-01T00:00:00+00:00", "", None]  # fmt: skip
MISSING = object()


def field_values(good: Any, near: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(good), st.just(good), st.sampled_from(near), st.just(MISSING))


credential_blocks = st.fixed_dictionaries(
    {
        "AccessKeyId": field_values("STS.NUoLwNx", NEAR_TEXT),
        "AccessKeySecret": field_values("secret-value", NEAR_TEXT),
        "SecurityToken": field_values("token-value", NEAR_TEXT),
        "Expiration": st.sampled_from(EXPIRATIONS),
        "Code": field_values("Success", ["Failed", "success", "", None, 0]),
    }
)
bodies = st.one_of(
    credential_blocks.map(lambda block: {"RequestId": "r1", "Credentials": block}),
    credential_blocks,
    st.sampled_from([{"Credentials": None}, {"Credentials": []}, {"Credentials": "x"}, {}, [], "x", None]),
)


def reply(body: Any, status: int = 200) -> Reply:
    clean = body if not isinstance(body, dict) else {k: v for k, v in body.items() if v is not MISSING}
    if isinstance(clean, dict) and isinstance(clean.get("Credentials"), dict):
        clean["Credentials"] = {k: v for k, v in clean["Credentials"].items() if v is not MISSING}
    return Reply(status, json.dumps(clean).encode(), (("content-type", "application/json"),))


def is_documented(creds: Credentials, block: dict[str, Any]) -> bool:
    return (
        block.get("Expiration") == "2099-01-01T00:00:00Z"
        and (creds.key_id, creds.secret, creds.token) == ("STS.NUoLwNx", "secret-value", "token-value")
        and creds.expires_at == 4070908800.0
    )


@fuzz_settings(60)
@given(body=bodies, which=st.sampled_from(["assume role", "oidc", "ecs role", "ecs role auto"]),
       status=st.sampled_from([200, 200, 200, 201, 302, 403, 404, 500]))  # fmt: skip
def test_garbled_credential_answers_are_typed_errors_never_a_key(
    body: Any, which: str, status: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    policy = RetryPolicy(max_attempts=1, initial_backoff=0.0)
    url = LOOPBACK.url
    if which == "assume role":
        source: Any = assume_role_source(
            Credentials("LTAIkey", "secret"), role_arn=ROLE_ARN, region="cn-hangzhou", endpoint=url, policy=policy
        )
        replies = [reply(body, status)]
    elif which == "oidc":
        path = tmp_path_factory.mktemp("oidc") / "token"
        path.write_text(jwt())
        source = oidc_source(token_file=str(path), token_setting="oidc_token_file", provider_arn=PROVIDER_ARN,
                             role_arn=ROLE_ARN, region="cn-hangzhou", endpoint=url, policy=policy)  # fmt: skip
        replies = [reply(body, status)]
    else:
        role = "auto" if which == "ecs role auto" else DEFAULT_ECS_ROLE
        source = ecs_ram_role_source(role, endpoint=url, probe=True)
        names = [Reply(200, DEFAULT_ECS_ROLE.encode())] if role == "auto" else []
        replies = [Reply(200, b"metadata-token"), *names, reply(body, status)]
    block = body.get("Credentials", body) if isinstance(body, dict) else None
    started = time.monotonic()
    for fetch in (source.fetch, lambda deadline: asyncio.run(source.afetch(deadline))):
        LOOPBACK.program(*replies)
        try:
            creds = fetch(time.time() + 5)
        except (CloudApiError, ConfigurationError):
            continue
        finally:
            assert time.monotonic() - started < 10
        assert status == 200 and isinstance(block, dict) and is_documented(creds, block)
        if which.startswith("ecs"):
            assert block.get("Code") == "Success"
        else:
            assert "Credentials" in body


# --- wire parity with the official SDK -------------------------------------------------------------------------


@pytest.fixture
def sdk_server(cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator) -> str:
    cloud_emulator.add_execution(cloudflow_execution(FLOW, EXECUTION, [(0, "Running")]))
    return cloud_emulator_server.url


async def test_the_official_credentials_python_providers_obtain_keys_the_emulator_accepts(
    sdk_server: str, cloud_emulator: CloudEmulator, token_file: pathlib.Path
) -> None:
    from airflow_provider_cloudflows.transport.alibaba import AlibabaApi
    from airflow_provider_cloudflows.transport.client import CloudClient

    key = cloud_emulator.credentials("alibaba")
    ram = RamRoleArnCredentialsProvider(access_key_id=key.key_id, access_key_secret=key.secret, role_arn=ROLE_ARN,
                                        external_id="abc-123", sts_endpoint=sdk_server)  # fmt: skip
    oidc = OIDCRoleArnCredentialsProvider(role_arn=ROLE_ARN, oidc_provider_arn=PROVIDER_ARN,
                                          oidc_token_file_path=str(token_file), sts_endpoint=sdk_server)  # fmt: skip
    ecs = EcsRamRoleCredentialsProvider(role_name=None, disable_imds_v1=True, async_update_enabled=False)
    # The SDK's metadata address is fixed; its request is otherwise sent as is.
    # A host, as the SDK's own (100.100.100.200): the scheme is the SDK's http.
    ecs._EcsRamRoleCredentialsProvider__metadata_service_host = sdk_server.removeprefix("http://")  # type: ignore[attr-defined]
    # The async path too: a second provider, so that the first one's cache does not answer.
    ram_async = RamRoleArnCredentialsProvider(access_key_id=key.key_id, access_key_secret=key.secret,
                                              role_arn=ROLE_ARN, sts_endpoint=sdk_server)  # fmt: skip
    obtained = [ram.get_credentials(), oidc.get_credentials(), ecs.get_credentials()]
    obtained.append(await ram_async.get_credentials_async())
    for sdk_creds in obtained:
        creds = Credentials(
            sdk_creds.get_access_key_id(), sdk_creds.get_access_key_secret(), sdk_creds.get_security_token()
        )
        for signature in ("v2", "v3"):
            api = AlibabaApi(creds, region="cn-hangzhou", endpoint=sdk_server, signature_version=signature)
            assert CloudClient(api).call(READ).body["Status"] == "Running"
    assert cloud_emulator.count(STS, "AssumeRole", ok=True) == 2
    assert cloud_emulator.count(STS, "AssumeRoleWithOIDC", ok=True) == 1
    assert cloud_emulator.count(ECS_METADATA, "token", ok=True) == 2
    assert cloud_emulator.count(ECS_METADATA, "role-credentials", ok=True) == 1
    assert cloud_emulator.count(ok=False) == 0


def test_the_emulated_sts_validates_parameters_as_sts_documents_them(
    sdk_server: str, cloud_emulator: CloudEmulator
) -> None:
    key = cloud_emulator.credentials("alibaba")
    cases: list[tuple[str, dict[str, Any]]] = [
        ("RoleArn", {"role_arn": "acs:ram::123:user/x"}),
        ("RoleSessionName", {"role_session_name": "a"}),
        ("DurationSeconds", {"duration_seconds": 7200}),
    ]
    for code, kwargs in cases:
        provider = RamRoleArnCredentialsProvider(
            access_key_id=key.key_id,
            access_key_secret=key.secret,
            sts_endpoint=sdk_server,
            **{"role_arn": ROLE_ARN, **kwargs},
        )
        with pytest.raises(Exception, match=rf"InvalidParameter\.{code}"):
            provider.get_credentials()
    source = assume_role_source(Credentials(key.key_id, "wrong-secret"), role_arn=ROLE_ARN, region="cn-hangzhou",
                                endpoint=sdk_server)  # fmt: skip
    with pytest.raises(AuthError, match="SignatureDoesNotMatch"):
        source.fetch(time.time() + 5)
    bad_token = httpx.get(sdk_server, params={"Action": "AssumeRoleWithOIDC", "Version": "2015-04-01",
                                              "RoleArn": ROLE_ARN, "OIDCProviderArn": PROVIDER_ARN,
                                              "RoleSessionName": "airflow", "OIDCToken": "x.y"})  # fmt: skip
    assert bad_token.status_code == 400 and bad_token.json()["Code"] == "InvalidParameter.OIDCToken"
