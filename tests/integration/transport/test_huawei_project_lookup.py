"""Huawei ``project_id`` looked up from IAM (``GET /v3/projects?name={region}``) when the connection has none.

Real HTTP against the emulator, whose IAM checks signatures as its DWS does; hooks built as Airflow builds
them. Each test starts with empty caches, so every count below is this test's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.errors import AuthError, ConfigurationError, UnreadableAnswerError
from airflow_provider_cloudflows.hooks import base as hook_base
from airflow_provider_cloudflows.hooks.huawei import HuaweiCloudHook
from airflow_provider_cloudflows.transport import huawei_iam
from airflow_provider_cloudflows.transport.huawei import HuaweiCall
from airflow_provider_cloudflows.transport.huawei_iam import HuaweiIamApi, default_iam_endpoint, list_projects_call
from cloudflows_emulator import CloudEmulator, dws_cluster
from cloudflows_emulator.huawei import DEFAULT_PROJECT_ID, LIST_PROJECTS, iam_answer
from cloudflows_emulator.server import EmulatorServer
from tests.helpers import use_connections

CLUSTER = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
DETAIL = HuaweiCall("GET", "/v1.0/{project_id}/clusters/{cluster_id}", {"cluster_id": CLUSTER})
CONN = "huaweicloud_default"


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huawei_iam, "_PROJECT_IDS", {})
    monkeypatch.setattr(hook_base, "_SHARED_CLIENTS", {})


def without_project_id(
    monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, *, secret: str | None = None, **extra: Any
) -> None:
    """The default Huawei connection with no ``project_id`` and IAM at the emulator."""
    conns = use_connections(monkeypatch, server, secret=secret, iam_endpoint=server.url, **extra)
    conn = conns["AIRFLOW_CONN_HUAWEICLOUD_DEFAULT"]
    del conn["extra"]["project_id"]
    monkeypatch.setenv("AIRFLOW_CONN_HUAWEICLOUD_DEFAULT", json.dumps(conn))


def hook() -> HuaweiCloudHook:
    return HuaweiCloudHook(**{HuaweiCloudHook.conn_name_attr: CONN})


def lookups(emulator: CloudEmulator) -> int:
    return emulator.count("iam", LIST_PROJECTS)


def test_a_worker_hook_without_project_id_finds_it_and_reads_dws(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server)
    cloud_emulator.add_execution(dws_cluster(CLUSTER))
    client = hook().get_conn()
    assert client.api.project_id == DEFAULT_PROJECT_ID
    assert client.call(DETAIL).body["cluster"]["id"] == CLUSTER
    assert lookups(cloud_emulator) == 1
    assert cloud_emulator.count("dws", ok=True) == 1


async def test_a_trigger_hook_without_project_id_finds_it_and_reads_dws(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server)
    cloud_emulator.add_execution(dws_cluster(CLUSTER))
    client = await hook().aget_conn()
    assert client.api.project_id == DEFAULT_PROJECT_ID
    assert (await client.acall(DETAIL)).body["cluster"]["id"] == CLUSTER
    assert lookups(cloud_emulator) == 1


async def test_many_hooks_of_one_account_and_region_ask_iam_once(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server)
    # Twenty triggers starting together: none finds a client to share yet, so all of them ask at once.
    clients = await asyncio.gather(*(hook().aget_conn() for _ in range(20)))
    assert {client.api.project_id for client in clients} == {DEFAULT_PROJECT_ID}
    # Then worker hooks, later: the cached answer.
    assert all(hook().get_conn().api.project_id == DEFAULT_PROJECT_ID for _ in range(5))
    assert lookups(cloud_emulator) == 1


def test_a_connection_with_project_id_never_asks_iam(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    use_connections(monkeypatch, cloud_emulator_server, iam_endpoint=cloud_emulator_server.url)
    assert hook().get_conn().api.project_id == DEFAULT_PROJECT_ID
    assert cloud_emulator.count() == 0


def test_a_region_with_no_project_is_a_configuration_error_naming_project_id(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server, region="ap-southeast-1")
    with pytest.raises(ConfigurationError, match="ap-southeast-1") as caught:
        hook().get_conn()
    assert caught.value.field == "project_id"
    assert lookups(cloud_emulator) == 1


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"links": {}}, id="no-projects"),
        pytest.param({"projects": [{"name": "cn-north-4", "id": "../other"}]}, id="id-not-hex"),
        pytest.param({"projects": [{"name": "cn-north-4"}]}, id="no-id"),
        pytest.param({"projects": ["cn-north-4"]}, id="not-objects"),
    ],
)
async def test_an_answer_not_in_keystones_shape_is_a_typed_error_with_the_request_id(
    monkeypatch: pytest.MonkeyPatch,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    answer: dict[str, Any],
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server)
    iam_answer(cloud_emulator, answer, count=5)
    with pytest.raises(UnreadableAnswerError) as caught:
        await hook().aget_conn()
    assert caught.value.code == "UnexpectedProjects"
    assert uuid.UUID(str(caught.value.request_id))
    # The same answer would come back: not retried, and nothing cached.
    assert lookups(cloud_emulator) == 1
    assert huawei_iam._PROJECT_IDS == {}


def test_two_projects_named_after_the_region_is_a_configuration_error_listing_both(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server)
    twins = [{"name": "cn-north-4", "id": DEFAULT_PROJECT_ID}, {"name": "cn-north-4", "id": "a" * 32}]
    iam_answer(cloud_emulator, {"projects": twins})
    with pytest.raises(ConfigurationError, match="a" * 32) as caught:
        hook().get_conn()
    assert caught.value.field == "project_id"


async def test_a_wrong_secret_is_an_auth_error_after_one_request(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server, secret="not-the-secret")
    with pytest.raises(AuthError) as caught:
        await hook().aget_conn()
    assert caught.value.code == "APIG.0301"
    assert uuid.UUID(str(caught.value.request_id))
    # APIG locks a key after five bad signatures: never a second attempt.
    assert cloud_emulator.count() == 1


def test_the_test_button_reports_rejected_credentials_from_the_lookup(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server, secret="not-the-secret")
    ok, message = hook().test_connection()
    assert not ok and "rejected the credentials" in message
    assert cloud_emulator.count() == 1


def test_a_plain_http_iam_endpoint_off_loopback_is_refused_naming_iam_endpoint(
    monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    without_project_id(monkeypatch, cloud_emulator_server)
    conn = json.loads(os.environ["AIRFLOW_CONN_HUAWEICLOUD_DEFAULT"])
    conn["extra"]["iam_endpoint"] = "http://iam.example.com"
    monkeypatch.setenv("AIRFLOW_CONN_HUAWEICLOUD_DEFAULT", json.dumps(conn))
    with pytest.raises(ConfigurationError) as caught:
        hook().get_conn()
    assert caught.value.field == "iam_endpoint"
    assert cloud_emulator.count() == 0


@pytest.mark.parametrize(
    ("region", "endpoint"),
    [
        ("cn-north-4", "https://iam.cn-north-4.myhuaweicloud.com"),
        ("tr-west-1", "https://iam.tr-west-1.myhuaweicloud.com"),
        ("eu-west-101", "https://iam.myhuaweicloud.com"),
    ],
)
def test_the_default_iam_endpoint_is_the_official_sdks(region: str, endpoint: str) -> None:
    from huaweicloudsdkcore.auth.internal import IamHelper

    assert default_iam_endpoint(region) == endpoint == IamHelper.get_iam_endpoint(region)


@pytest.mark.parametrize("token", [None, "temporary+token/="])
def test_the_lookup_request_is_the_official_sdks_but_for_its_user_agent(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    import huaweicloudsdkcore.signer.signer as sdk_signer
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.auth.internal import IamHelper
    from huaweicloudsdkcore.http.http_config import HttpConfig

    frozen = datetime(2024, 10, 29, 12, 23, 49)

    class Frozen(datetime):
        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return frozen

    monkeypatch.setattr(sdk_signer, "datetime", Frozen)
    endpoint = default_iam_endpoint("cn-north-4")
    sdk = IamHelper.get_keystone_list_projects_request(HttpConfig.get_default_config(), endpoint, "cn-north-4")
    del sdk.header_params["User-Agent"]  # the SDK's own name, which we do not claim
    credentials = BasicCredentials("HPUAEXAMPLEACCESSKEY1", "ExampleSecretKey/with+chars=")
    if token is not None:
        credentials.security_token = token
    sdk = credentials.sign_request(sdk)

    ours = HuaweiIamApi(
        Credentials("HPUAEXAMPLEACCESSKEY1", "ExampleSecretKey/with+chars=", token), region="cn-north-4", endpoint=None
    ).prepare(list_projects_call("cn-north-4"), frozen.replace(tzinfo=timezone.utc).timestamp())

    assert (ours.method, ours.url, ours.content) == (sdk.method, sdk.url, b"")
    assert ours.headers == sdk.header_params
