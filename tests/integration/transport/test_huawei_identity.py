"""Huawei temporary identities over real HTTP to the emulator: an agency, the ECS metadata, a federated OIDC
token and the SDK's environment, each signing DWS reads through the hook as Airflow builds it.

Lifetimes are 1-3 s so that a test spans several refreshes in a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import time
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_cloudflows import credentials as credentials_module
from airflow_provider_cloudflows.credentials import Credentials, RefreshingCredentials
from airflow_provider_cloudflows.errors import (
    CloudApiError,
    ConfigurationError,
    ExpiredCredentialsError,
    ServerError,
    TransportError,
    UnexpectedStatusError,
)
from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.transport import huawei_iam
from airflow_provider_cloudflows.transport.huawei import HuaweiCall
from airflow_provider_cloudflows.transport.huawei_identity import (
    AGENCY_LABEL,
    METADATA_LABEL,
    OIDC_LABEL,
    agency_source,
    metadata_source,
)
from airflow_provider_cloudflows.transport.retry import RetryPolicy
from cloudflows_emulator import CloudEmulator, dws_cluster
from cloudflows_emulator.huawei import (
    DEFAULT_PROJECT_ID,
    DOMAIN_ID,
    LIST_CLUSTER_DETAILS,
    LIST_PROJECTS,
    TOKEN_EXPIRED,
    agencies_assumed,
    ecs_metadata,
    id_tokens_received,
    script_error,
)
from cloudflows_emulator.huawei.identity import (
    CREATE_TEMPORARY_ACCESS_KEY,
    CREATE_TOKEN_WITH_ID_TOKEN,
    GET_SECURITY_KEY,
    METADATA_SERVICE,
    PUT_METADATA_TOKEN,
)
from cloudflows_emulator.server import EmulatorServer
from tests.fuzz_server import LoopbackServer, Reply, fuzz_settings
from tests.helpers import use_connections
from tests.identity_sources import clear_sdk_variables

CONN = "huaweicloud_default"
CLUSTER = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
DETAIL = HuaweiCall("GET", "/v1.0/{project_id}/clusters/{cluster_id}", {"cluster_id": CLUSTER})
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.first-id-token.sig"
IDP = "airflow-cce"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, cloud_emulator: CloudEmulator) -> None:
    clear_sdk_variables(monkeypatch)
    monkeypatch.setattr(huawei_iam, "_PROJECT_IDS", {})
    cloud_emulator.add_execution(dws_cluster(CLUSTER))


@pytest.fixture
def token_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "oidc-token"
    path.write_text(ID_TOKEN + "\n")
    return path


def connect(
    monkeypatch: pytest.MonkeyPatch,
    server: EmulatorServer,
    *,
    keys: bool = True,
    project_id: bool = True,
    **extra: Any,
) -> None:
    """The default Huawei connection at the emulator (IAM and metadata there too), with ``extra``."""
    conns = use_connections(monkeypatch, server, **extra)
    conn = conns["AIRFLOW_CONN_HUAWEICLOUD_DEFAULT"]
    if not keys:
        del conn["login"], conn["password"]
    if not project_id:
        del conn["extra"]["project_id"]
    monkeypatch.setenv("AIRFLOW_CONN_HUAWEICLOUD_DEFAULT", json.dumps(conn))


def agency(server: EmulatorServer, domain: str = DOMAIN_ID) -> dict[str, Any]:
    return {"agency_name": "airflow", "agency_domain": domain, "iam_endpoint": server.url}


def metadata(server: EmulatorServer) -> dict[str, Any]:
    return {"instance_metadata": True, "metadata_endpoint": server.url, "iam_endpoint": server.url}


def oidc(server: EmulatorServer, path: pathlib.Path) -> dict[str, Any]:
    return {"idp_id": IDP, "oidc_token_file": str(path), "iam_endpoint": server.url}


def quiet_debug(caplog: pytest.LogCaptureFixture) -> None:
    """Everything at INFO, this package at DEBUG. (httpcore's DEBUG trace prints every header, tokens too:
    a library's wire dump, off unless someone turns it on.)"""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="airflow_provider_cloudflows")


def hook() -> HuaweiCloudHook:
    return HuaweiCloudHook(**{HuaweiCloudHook.conn_name_attr: CONN})


def provider_of(client: Any) -> RefreshingCredentials:
    provider = client.api.provider
    assert isinstance(provider, RefreshingCredentials)
    return provider


def signed_keys(emulator: CloudEmulator) -> set[str | None]:
    return {r.key_id for r in emulator.requests if r.service == "dws"}


SOURCES = ["agency", "metadata", "oidc"]


def source_extra(name: str, server: EmulatorServer, path: pathlib.Path) -> tuple[bool, dict[str, Any]]:
    """(keys stored, extras) of the connection using source ``name``."""
    if name == "agency":
        return True, agency(server)
    if name == "metadata":
        return False, metadata(server)
    return False, oidc(server, path)


@pytest.mark.parametrize("source", SOURCES)
async def test_each_source_yields_a_key_that_signs_dws_reads_sync_and_async_with_project_id_given_or_looked_up(
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    token_file: pathlib.Path,
) -> None:
    keys, extra = source_extra(source, cloud_emulator_server, token_file)
    connect(monkeypatch, cloud_emulator_server, keys=keys, **extra)
    client = hook().get_conn()
    assert client.call(DETAIL).body["cluster"]["id"] == CLUSTER
    provider = provider_of(client)
    account = {"agency": f"agency {DOMAIN_ID}/airflow", "metadata": "ecs metadata", "oidc": f"idp {IDP}"}[source]
    assert provider.account == account
    key = provider.cached
    assert key.key_id.startswith("TMP") and key.token and key.expires_at
    assert signed_keys(cloud_emulator) == {key.key_id}

    # The trigger path shares the process's one provider of this identity: no second key.
    aclient = await hook().aget_conn()
    assert (await aclient.acall(DETAIL)).body["cluster"]["id"] == CLUSTER
    assert aclient.api.provider is provider
    assert cloud_emulator.issued("huawei") == 1

    # Without a project_id, the temporary key (with its X-Security-Token) looks it up in IAM.
    connect(monkeypatch, cloud_emulator_server, keys=keys, project_id=False, **extra)
    looked_up = hook().get_conn()
    assert getattr(looked_up.api, "project_id", None) == DEFAULT_PROJECT_ID
    assert (await (await hook().aget_conn()).acall(DETAIL)).body["cluster"]["id"] == CLUSTER
    assert cloud_emulator.count("iam", LIST_PROJECTS, ok=True) == 1
    assert cloud_emulator.count(ok=False) == 0
    if source == "agency":
        assert agencies_assumed(cloud_emulator) == [{"agency_name": "airflow", "domain_id": DOMAIN_ID}]
    if source == "oidc":
        assert id_tokens_received(cloud_emulator) == [ID_TOKEN]
    if source == "metadata":
        assert cloud_emulator.count(METADATA_SERVICE, PUT_METADATA_TOKEN, ok=True) == 1


def test_an_agency_domain_that_is_not_a_32_hex_id_is_sent_as_a_domain_name_with_the_duration_asked(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    extra = {**agency(cloud_emulator_server, "my-company"), "duration_seconds": "3600"}
    connect(monkeypatch, cloud_emulator_server, **extra)
    hook().get_conn().call(DETAIL)
    assert agencies_assumed(cloud_emulator) == [
        {"agency_name": "airflow", "domain_name": "my-company", "duration_seconds": 3600}
    ]


@pytest.mark.parametrize("path", ["sync", "async"])
async def test_an_expired_key_answered_apig_0307_is_refreshed_once_and_the_call_repeated_once(
    path: str, monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    cloud_emulator.set_identity_lifetime(30)
    connect(monkeypatch, cloud_emulator_server, **agency(cloud_emulator_server))
    client = hook().get_conn() if path == "sync" else await hook().aget_conn()
    provider_of(client).current() if path == "sync" else await provider_of(client).acurrent()
    stale = provider_of(client).cached
    assert stale.expires_at is not None
    # The gateway's clock runs past the key's expiry for one request: APIG answers APIG.0307.
    cloud_emulator.inject("clock_skew", action=LIST_CLUSTER_DETAILS, skew=stale.expires_at - time.time() + 30)
    answer = client.call(DETAIL) if path == "sync" else await client.acall(DETAIL)
    assert answer.body["cluster"]["id"] == CLUSTER
    assert cloud_emulator.count("dws", error=TOKEN_EXPIRED) == 1
    assert cloud_emulator.count("dws") == 2
    assert cloud_emulator.count("iam", CREATE_TEMPORARY_ACCESS_KEY) == 2
    assert provider_of(client).cached.key_id != stale.key_id


def test_an_expired_static_security_token_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    temporary = cloud_emulator.issue_credentials("huawei", 30)
    connect(monkeypatch, cloud_emulator_server, security_token=temporary.token)
    conn = json.loads(os.environ["AIRFLOW_CONN_HUAWEICLOUD_DEFAULT"])
    conn["login"], conn["password"] = temporary.key_id, temporary.secret
    monkeypatch.setenv("AIRFLOW_CONN_HUAWEICLOUD_DEFAULT", json.dumps(conn))
    client = hook().get_conn()
    cloud_emulator.inject("clock_skew", action=LIST_CLUSTER_DETAILS, skew=60, count=None)
    with pytest.raises(ExpiredCredentialsError) as caught:
        client.call(DETAIL)
    assert caught.value.code == TOKEN_EXPIRED
    assert cloud_emulator.count("dws") == 1


def test_a_failing_iam_keeps_the_current_key_until_it_expires_then_fails_typed_and_recovers(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_debug(caplog)
    cloud_emulator.set_identity_lifetime(3)
    # Two attempts per call: a failing refresh gives up well within the 0.45 s its key has left.
    connect(monkeypatch, cloud_emulator_server, max_attempts=2, **agency(cloud_emulator_server))
    client = hook().get_conn()
    client.call(DETAIL)
    first = provider_of(client).cached
    assert first.expires_at is not None
    cloud_emulator.inject("server_error", action=CREATE_TEMPORARY_ACCESS_KEY, count=None)
    time.sleep(max(0.0, first.expires_at - 0.4 - time.time()))
    client.call(DETAIL)  # the refresh is due and fails: the current key still signs
    assert cloud_emulator.count("iam", CREATE_TEMPORARY_ACCESS_KEY, ok=False) == 2
    assert signed_keys(cloud_emulator) == {first.key_id}
    time.sleep(max(0.0, first.expires_at + 0.05 - time.time()))
    sent = cloud_emulator.count("dws")
    with pytest.raises(ServerError):
        client.call(DETAIL)
    # Nothing the expired key signed was accepted.
    assert cloud_emulator.count("dws", ok=True) == sent
    assert cloud_emulator.count("dws", error=TOKEN_EXPIRED) == cloud_emulator.count("dws") - sent
    cloud_emulator.clear_faults()
    client.call(DETAIL)
    second = provider_of(client).cached
    assert second.key_id != first.key_id
    assert "refreshing credentials of agency" in caplog.text
    assert not any(s and s in caplog.text for s in (first.secret, first.token, second.secret, second.token))


async def test_a_hung_iam_refresh_leaves_trigger_calls_on_the_current_key_until_it_expires(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    # A call that waited for the hung refresh would take its whole budget: 3 s. The key lives 10 s, so it is
    # due (85 %) well before the calls are made, and they have over a second before it expires.
    monkeypatch.setattr(credentials_module, "REFRESH_BUDGET", 3.0)
    cloud_emulator.set_identity_lifetime(10)
    connect(monkeypatch, cloud_emulator_server, max_attempts=1, **agency(cloud_emulator_server))
    client = await hook().aget_conn()
    await client.acall(DETAIL)
    first = provider_of(client).cached
    assert first.expires_at is not None
    cloud_emulator.inject("hang", action=CREATE_TEMPORARY_ACCESS_KEY, count=None)
    await asyncio.sleep(max(0.0, first.expires_at - 1.2 - time.time()))
    started = time.time()
    for _ in range(3):
        await client.acall(DETAIL)  # the refresh hangs in the background; these do not wait for it
    assert time.time() - started < 1.0
    assert signed_keys(cloud_emulator) == {first.key_id}
    await asyncio.sleep(max(0.0, first.expires_at + 0.05 - time.time()))
    with pytest.raises(TransportError):
        await client.acall(DETAIL, deadline=time.time() + 5)
    assert signed_keys(cloud_emulator) == {first.key_id}
    cloud_emulator.clear_faults()


def test_the_default_chain_reads_the_sdk_environment_keys_first(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    permanent = cloud_emulator.credentials("huawei")
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", permanent.key_id)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", permanent.secret)
    connect(monkeypatch, cloud_emulator_server, keys=False, project_id=False)
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", DEFAULT_PROJECT_ID)
    client = hook().get_conn()
    assert client.call(DETAIL).body["cluster"]["id"] == CLUSTER
    assert client.api.provider is not None and client.api.provider.cached == permanent
    assert cloud_emulator.count("iam") == 0  # the SDK's project id variable: no lookup
    monkeypatch.delenv("HUAWEICLOUD_SDK_SK")
    with pytest.raises(ConfigurationError, match="HUAWEICLOUD_SDK_SK"):
        hook().get_conn()


async def test_the_default_chain_exchanges_the_sdk_environment_id_token_before_any_key(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    token_file: pathlib.Path,
) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "HWIGNORED")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "ignored")
    monkeypatch.setenv("HUAWEICLOUD_SDK_IDP_ID", IDP)
    monkeypatch.setenv("HUAWEICLOUD_SDK_ID_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", cloud_emulator_server.url)
    connect(monkeypatch, cloud_emulator_server, keys=False, project_id=False)
    client = await hook().aget_conn()
    assert (await client.acall(DETAIL)).body["cluster"]["id"] == CLUSTER
    assert provider_of(client).account == f"idp {IDP}"
    assert id_tokens_received(cloud_emulator) == [ID_TOKEN]
    assert cloud_emulator.count("iam", LIST_PROJECTS, ok=True) == 1  # at the SDK's IAM endpoint variable


def test_the_default_chain_falls_back_to_the_metadata_and_gives_up_on_a_silent_one_within_2_s(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    connect(monkeypatch, cloud_emulator_server, keys=False, metadata_endpoint=cloud_emulator_server.url)
    client = hook().get_conn()
    assert client.call(DETAIL).body["cluster"]["id"] == CLUSTER
    assert provider_of(client).account == "ecs metadata"
    assert cloud_emulator.count(METADATA_SERVICE, GET_SECURITY_KEY, ok=True) == 1

    cloud_emulator.inject("hang", service=METADATA_SERVICE, count=None)
    credentials_module.forget_shared_identities()
    started = time.time()
    ok, message = hook().test_connection()
    took = time.time() - started
    cloud_emulator.clear_faults()
    assert not ok and METADATA_LABEL in message, message
    assert took < 2.0 + 2.0, took  # the probe's bound (identity.PROBE_SECONDS), and room for a busy machine


def test_the_test_button_names_the_step_that_failed(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    token_file: pathlib.Path,
) -> None:
    connect(monkeypatch, cloud_emulator_server, **agency(cloud_emulator_server))
    assert hook().test_connection() == (True, "Credentials accepted by Huawei Cloud (probe answered DWS.0047)")
    script_error(cloud_emulator, "IAM.0003", "agency not found", 403, action=CREATE_TEMPORARY_ACCESS_KEY)
    credentials_module.forget_shared_identities()
    ok, message = hook().test_connection()
    assert not ok and f"obtaining credentials ({AGENCY_LABEL})" in message and "agency not found" in message

    ecs_metadata(cloud_emulator, agency=False)
    connect(monkeypatch, cloud_emulator_server, keys=False, **metadata(cloud_emulator_server))
    ok, message = hook().test_connection()
    assert not ok and METADATA_LABEL in message and "Please configure Cloud Service Agency first" in message

    script_error(cloud_emulator, "IAM.0002", f"bad id token {ID_TOKEN}", 401, action=CREATE_TOKEN_WITH_ID_TOKEN)
    connect(monkeypatch, cloud_emulator_server, keys=False, **oidc(cloud_emulator_server, token_file))
    ok, message = hook().test_connection()
    assert not ok and OIDC_LABEL in message and "bad id token ***" in message and ID_TOKEN not in message


def test_metadata_sends_its_session_token_and_a_service_without_the_token_api_is_read_without_one(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    ecs_metadata(cloud_emulator, token_required=True)
    policy = RetryPolicy(max_attempts=1)
    source = metadata_source(endpoint=cloud_emulator_server.url, policy=policy)
    assert source.fetch(time.time() + 5).token
    ecs_metadata(cloud_emulator, token_required=False)
    cloud_emulator.inject("server_error", action=PUT_METADATA_TOKEN)
    assert source.fetch(time.time() + 5).token
    assert cloud_emulator.count(METADATA_SERVICE, GET_SECURITY_KEY, ok=True) == 2


def test_the_oidc_token_file_is_read_again_at_every_refresh_and_the_subject_token_never_logged(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    token_file: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_debug(caplog)
    connect(monkeypatch, cloud_emulator_server, keys=False, **oidc(cloud_emulator_server, token_file))
    client = hook().get_conn()
    client.call(DETAIL)
    token_file.write_text("eyJ.rotated-by-kubelet.sig")
    provider = provider_of(client)
    assert provider.force_refresh(provider.cached)
    client.call(DETAIL)
    assert id_tokens_received(cloud_emulator) == [ID_TOKEN, "eyJ.rotated-by-kubelet.sig"]
    token_file.write_text("")
    with pytest.raises(ConfigurationError, match="oidc_token_file"):
        provider.force_refresh(provider.cached)
    subjects = list(cloud_emulator.scratch("huawei_identity")["subject_tokens"])
    assert len(subjects) == 2
    leaked = [s for s in [*subjects, ID_TOKEN, provider.cached.secret] if s in caplog.text]
    assert not leaked, [line for line in caplog.text.splitlines() if any(s in line for s in leaked)][:3]


@pytest.mark.parametrize(
    ("extra", "keys", "field"),
    [
        ({"agency_name": "a", "agency_domain": "d", "instance_metadata": True}, True, "instance_metadata"),
        ({"instance_metadata": "true", "idp_id": "i", "oidc_token_file": "/t"}, False, "oidc_token_file"),
        ({"instance_metadata": True}, True, "instance_metadata"),
        ({"idp_id": "i", "oidc_token_file": "/t"}, True, "oidc_token_file"),
        ({"idp_id": "i"}, False, "oidc_token_file"),
        ({"agency_name": "a"}, True, "agency_domain"),
        ({"agency_domain": "d"}, True, "agency_name"),
        ({"agency_name": "a", "agency_domain": "d"}, False, "connection"),
        ({"agency_name": "a", "agency_domain": "d", "duration_seconds": "600"}, True, "duration_seconds"),
        ({"agency_name": "a", "agency_domain": "d", "duration_seconds": "1h"}, True, "duration_seconds"),
        ({"instance_metadata": True, "duration_seconds": "900"}, False, "duration_seconds"),
        ({"instance_metadata": "maybe"}, False, "instance_metadata"),
        ({"metadata_endpoint": "http://169.254.169.254"}, True, "metadata_endpoint"),
        ({"instance_metadata": True, "security_token": "t"}, False, "security_token"),
    ],
)
def test_contradictory_or_incomplete_extras_are_refused_naming_the_extra(
    extra: dict[str, Any],
    keys: bool,
    field: str,
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
) -> None:
    connect(monkeypatch, cloud_emulator_server, keys=keys, **extra)
    with pytest.raises(ConfigurationError) as caught:
        hook().get_conn()
    assert field in caught.value.field


def test_instance_metadata_false_means_the_stored_keys(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    connect(monkeypatch, cloud_emulator_server, instance_metadata="false")
    assert hook().get_conn().call(DETAIL).body["cluster"]["id"] == CLUSTER
    assert cloud_emulator.issued("huawei") == 0


# --- wire parity with huaweicloudsdkcore -----------------------------------------------------------------


def sdk_http_client() -> Any:
    from huaweicloudsdkcore.exceptions.exception_handler import DefaultExceptionHandler
    from huaweicloudsdkcore.http.http_client import HttpClient
    from huaweicloudsdkcore.http.http_config import HttpConfig

    return HttpClient(HttpConfig.get_default_config(), None, DefaultExceptionHandler(), logging.getLogger("sdk"))


def test_huaweicloudsdkcore_metadata_and_federal_accessors_obtain_working_keys_from_the_emulator(
    cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator, token_file: pathlib.Path
) -> None:
    from huaweicloudsdkcore.auth.internal import FederalAccessor, MetadataAccessor

    class LoopbackMetadata(MetadataAccessor):  # type: ignore[misc]
        _METADATA_ENDPOINT = cloud_emulator_server.url

    ecs_metadata(cloud_emulator, token_required=True)
    from_metadata = LoopbackMetadata().get_credential()
    federal = FederalAccessor().get_credential(
        iam_endpoint=cloud_emulator_server.url,
        http_client=sdk_http_client(),
        idp_id=IDP,
        id_token_file=str(token_file),
    )
    for key in (from_metadata, federal):
        assert key.expire_at > time.time() - 86400  # the SDK parsed our expires_at (mktime: local time)
        check = cloud_emulator.check_credentials("huawei", key.access, key.security_token)
        assert check.value == "ok"
    assert cloud_emulator.count(METADATA_SERVICE, PUT_METADATA_TOKEN, ok=True) == 1
    assert id_tokens_received(cloud_emulator) == [ID_TOKEN]


def test_an_assume_role_request_signed_by_the_huaweicloudsdkcore_signer_obtains_a_key(
    cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    permanent = cloud_emulator.credentials("huawei")
    body = {
        "auth": {
            "identity": {
                "methods": ["assume_role"],
                "assume_role": {"agency_name": "airflow", "domain_name": "my-company", "duration_seconds": 900},
            }
        }
    }
    host = cloud_emulator_server.url.split("://", 1)[1]
    request = SdkRequest(
        method="POST",
        schema="http",
        host=host,
        resource_path="/v3.0/OS-CREDENTIAL/securitytokens",
        uri="/v3.0/OS-CREDENTIAL/securitytokens",
        header_params={"Content-Type": "application/json;charset=UTF-8"},
        query_params=[],
        body=json.dumps(body),
    )
    signed = Signer(BasicCredentials(permanent.key_id, permanent.secret)).sign(request)
    answer = httpx.post(signed.url, headers=signed.header_params, content=signed.body)
    assert answer.status_code == 201, answer.text
    credential = answer.json()["credential"]
    assert cloud_emulator.check_credentials("huawei", credential["access"], credential["securitytoken"]).value == "ok"


# --- garbled answers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> LoopbackServer:
    return LoopbackServer()  # a daemon thread, left running: closing its loop would strand open sockets


def _credential(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "access": "TMPKEY",
        "secret": "s3cret",
        "securitytoken": "tok",
        "expires_at": "2099-01-01T00:00:00.000000Z",
    }
    base.update(fields)
    return {"credential": {k: v for k, v in base.items() if v is not _DROP}}


_DROP = object()
_BAD_VALUES = st.one_of(
    st.just(_DROP),
    st.none(),
    st.integers(),
    st.just(""),
    st.just("line\nbreak"),
    st.just("caf\u00e9"),
    st.lists(st.text(max_size=3), max_size=2),
    st.booleans(),
)
_BAD_EXPIRIES = st.one_of(
    _BAD_VALUES,
    st.just("2001-01-01T00:00:00.000000Z"),
    st.just("2099-01-01 00:00:00"),
    st.just("2099-01-01T00:00:00+08:00"),
    st.integers(min_value=0, max_value=2**40),
    st.text(max_size=30),
)
_GARBLED = st.one_of(
    st.tuples(st.sampled_from(["access", "secret", "securitytoken"]), _BAD_VALUES).map(
        lambda p: _credential(**{p[0]: p[1]})
    ),
    _BAD_EXPIRIES.map(lambda v: _credential(expires_at=v)),
    st.sampled_from([{}, {"credential": None}, {"credential": []}, {"credentials": _credential()["credential"]}]),
)


def _body(value: Any) -> bytes:
    return json.dumps(value, default=lambda o: None).encode()


@fuzz_settings(30)
@given(answer=st.one_of(_GARBLED.map(_body), st.binary(max_size=64)), status=st.sampled_from([200, 201]))
def test_garbled_iam_and_metadata_answers_are_typed_errors_never_a_key(
    server: LoopbackServer, answer: bytes, status: int
) -> None:
    policy = RetryPolicy(max_attempts=1)
    agency_src = agency_source(
        Credentials("AKIDfuzz", "fuzz-secret"),
        region="cn-north-4",
        iam_endpoint=server.url,
        agency_name="a",
        domain_id=None,
        domain_name="d",
        duration=None,
        policy=policy,
    )
    server.program(Reply(status, answer))
    with pytest.raises(CloudApiError) as caught:
        agency_src.fetch(time.time() + 5)
    if status == 200:
        assert isinstance(caught.value, (UnexpectedStatusError, CloudApiError))
    meta = metadata_source(endpoint=server.url, policy=policy)
    server.program(Reply(404, b""), Reply(200, answer))
    with pytest.raises(CloudApiError):
        meta.fetch(time.time() + 5)


def test_a_well_formed_answer_of_the_fuzz_server_is_read_exactly(server: LoopbackServer) -> None:
    meta = metadata_source(endpoint=server.url, policy=RetryPolicy(max_attempts=1))
    server.program(Reply(200, b"tok-1", (("Content-Type", "text/plain"),)), Reply(200, _body(_credential())))
    key = meta.fetch(time.time() + 5)
    assert (key.key_id, key.secret, key.token) == ("TMPKEY", "s3cret", "tok")
    assert server.requests[1].headers["x-metadata-token"] == "tok-1"
    assert server.requests[0].headers["x-metadata-token-ttl-seconds"] == "21600"
