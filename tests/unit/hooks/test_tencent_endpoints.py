"""Where Tencent calls go: the financial regions' regional domains, the ``site`` extra, a hand-written endpoint.

The default follows Tencent's API documentation (financial regions are reached only at
``{service}.{region}.tencentcloudapi.com``) and, where the official SDK has an answer, the SDK: its client is
built here with the same inputs and its request compared with ours. Nothing is sent: the hosts are Tencent's
and this machine has no network, so the tests assert on the resolved URL and the signed ``Host``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from airflow_provider_cloudflows import get_provider_info
from airflow_provider_cloudflows.config_errors import ConfigurationError
from airflow_provider_cloudflows.credentials import Credentials, Identity, StaticCredentials
from airflow_provider_cloudflows.hooks.tencent import TencentCloudHook
from airflow_provider_cloudflows.operators.links import TencentBatchJobLink, is_international
from airflow_provider_cloudflows.transport.endpoints import resolve_endpoint
from airflow_provider_cloudflows.transport.tencent import TencentApi, TencentCall, endpoint_template
from airflow_provider_cloudflows.transport.tencent_identity import (
    DEFAULT_STS_ENDPOINT,
    INTL_STS_ENDPOINT,
    default_sts_endpoint,
)

CHINA = "https://{service}.tencentcloudapi.com"
INTL = "https://{service}.intl.tencentcloudapi.com"
CALL = TencentCall("batch", "DescribeJob", "2017-03-12", {"JobId": "job-1"})
ROLE_ARN = "qcs::cam::uin/100000000001:roleName/airflow"


def _url(region: str, site: str | None, endpoint: str | None, service: str = "batch") -> str:
    return resolve_endpoint(endpoint_template(region, site=site, endpoint=endpoint), service=service, region=region)


# --- the pure resolution --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "site", "endpoint", "url"),
    [
        ("ap-guangzhou", None, None, "https://batch.tencentcloudapi.com"),
        ("ap-guangzhou", "china", None, "https://batch.tencentcloudapi.com"),
        ("ap-shanghai-fsi", None, None, "https://batch.ap-shanghai-fsi.tencentcloudapi.com"),
        ("ap-shenzhen-fsi", None, None, "https://batch.ap-shenzhen-fsi.tencentcloudapi.com"),
        ("ap-shenzhen-fsi", "china", None, "https://batch.ap-shenzhen-fsi.tencentcloudapi.com"),
        ("ap-singapore", "intl", None, "https://batch.intl.tencentcloudapi.com"),
        ("ap-guangzhou", "intl", None, "https://batch.intl.tencentcloudapi.com"),
        ("ap-guangzhou", None, INTL, "https://batch.intl.tencentcloudapi.com"),
        ("ap-guangzhou", "intl", CHINA, "https://batch.tencentcloudapi.com"),
        ("ap-shanghai-fsi", None, CHINA, "https://batch.tencentcloudapi.com"),
        ("ap-shanghai-fsi", "intl", "https://{service}.{region}.tencentcloudapi.com",
         "https://batch.ap-shanghai-fsi.tencentcloudapi.com"),
        ("ap-guangzhou", "intl", "http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)  # fmt: skip
def test_the_region_site_and_endpoint_pick_the_url(
    region: str, site: str | None, endpoint: str | None, url: str
) -> None:
    assert _url(region, site, endpoint) == url


@pytest.mark.parametrize("site", ["China", "international", "cn", " intl", "intl\n"])
@pytest.mark.parametrize("endpoint", [None, CHINA])
def test_an_unknown_site_is_an_error_naming_site(site: str, endpoint: str | None) -> None:
    with pytest.raises(ConfigurationError, match="site") as caught:
        endpoint_template("ap-guangzhou", site=site, endpoint=endpoint)
    assert caught.value.field == "site extra"
    assert "china" in caught.value.problem and "intl" in caught.value.problem


@pytest.mark.parametrize("region", ["ap-shanghai-fsi", "ap-shenzhen-fsi"])
def test_a_financial_region_on_the_intl_site_is_refused_naming_site_and_region(region: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        endpoint_template(region, site="intl")
    assert caught.value.field == "site extra"
    assert region in caught.value.problem and "region" in caught.value.problem
    assert "endpoint" in caught.value.problem  # the way out: a hand-written endpoint


# --- parity with the official SDK -----------------------------------------------------------------------------


def _sdk_request(service: str, region: str, http_profile: HttpProfile) -> Any:
    """The request the SDK's client builds for ``DescribeJob``, caught before it is sent."""
    client = CommonClient(
        service,
        "2017-03-12",
        credential.Credential("AKIDparity", "secret"),
        region,
        profile=ClientProfile(httpProfile=http_profile),
    )
    sent: list[Any] = []

    class Caught(Exception):
        pass

    def send_request(req: Any) -> None:
        sent.append(req)
        raise Caught

    client.request.send_request = send_request
    with pytest.raises(Caught):
        client.call_json("DescribeJob", {"JobId": "job-1"})
    return sent[0]


def _sdk_profile(service: str, region: str, site: str | None) -> HttpProfile:
    """The SDK's profile for a site: its ``rootDomain`` (the SDK has no site setting of its own). For a
    financial region the SDK's maintainers direct users to set the region's domain as the endpoint."""
    if region.endswith("-fsi"):
        return HttpProfile(endpoint=f"{service}.{region}.tencentcloudapi.com")
    return HttpProfile(rootDomain="intl.tencentcloudapi.com" if site == "intl" else None)


def _our_request(service: str, region: str, site: str | None) -> Any:
    key = StaticCredentials(Credentials("AKIDparity", "secret"))
    api = TencentApi(key, region=region, endpoint=endpoint_template(region, site=site))
    return api.prepare(TencentCall(service, "DescribeJob", "2017-03-12", {"JobId": "job-1"}), 1_700_000_000)


@pytest.mark.parametrize("service", ["batch", "emr", "cynosdb"])
@pytest.mark.parametrize(
    ("region", "site"),
    [
        ("ap-guangzhou", None),
        ("ap-guangzhou", "china"),
        ("ap-singapore", "intl"),
        ("eu-frankfurt", "intl"),
        ("ap-shanghai-fsi", None),
        ("ap-shenzhen-fsi", "china"),
    ],
)
def test_the_host_is_the_one_the_sdk_sends_to(service: str, region: str, site: str | None) -> None:
    sdk = _sdk_request(service, region, _sdk_profile(service, region, site))
    ours = _our_request(service, region, site)
    assert sdk.host == urlsplit(ours.url).netloc == ours.headers["Host"]
    assert sdk.header["Host"] == ours.headers["Host"]
    assert sdk.header["X-TC-Region"] == ours.headers["X-TC-Region"] == region


def test_the_sdk_left_alone_sends_a_financial_region_to_the_nearest_region_domain() -> None:
    # Why the financial default is not simply the SDK's: it has none (it always sends to
    # {service}.{rootDomain}), and Tencent documents that domain as unable to reach a financial region.
    # Should this fail, the SDK has learnt financial regions: compare with its default instead.
    sdk = _sdk_request("batch", "ap-shanghai-fsi", HttpProfile())
    assert sdk.host == "batch.tencentcloudapi.com"
    assert _url("ap-shanghai-fsi", None, None) == "https://batch.ap-shanghai-fsi.tencentcloudapi.com"


# --- the hook, built as Airflow builds it ---------------------------------------------------------------------


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **extra: Any) -> TencentCloudHook:
    conn = {"conn_type": "tencentcloud", "login": "AKIDendpoints", "password": "secret-key", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return TencentCloudHook(tencentcloud_conn_id=conn_id)


@pytest.mark.parametrize(
    ("extra", "url"),
    [
        ({"region": "ap-guangzhou"}, "https://batch.tencentcloudapi.com/"),
        ({"region": "ap-shanghai-fsi"}, "https://batch.ap-shanghai-fsi.tencentcloudapi.com/"),
        ({"region": "ap-shenzhen-fsi", "site": "china"}, "https://batch.ap-shenzhen-fsi.tencentcloudapi.com/"),
        ({"region": "ap-singapore", "site": "intl"}, "https://batch.intl.tencentcloudapi.com/"),
        ({"extra__tencentcloud__region": "ap-tokyo", "extra__tencentcloud__site": "intl"},
         "https://batch.intl.tencentcloudapi.com/"),
        ({"region": "ap-singapore", "site": "intl", "endpoint": "https://{service}.{region}.tencentcloudapi.com"},
         "https://batch.ap-singapore.tencentcloudapi.com/"),
    ],
)  # fmt: skip
def test_the_hook_sends_a_connections_calls_to_its_regions_and_sites_host(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], url: str
) -> None:
    client = _connection(monkeypatch, "tencent_endpoints", **extra).get_conn()
    request = client.api.prepare(CALL, 1_700_000_000)
    assert request.url == url
    assert request.headers["Host"] == urlsplit(url).netloc


def test_a_tasks_financial_region_picks_its_regional_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(monkeypatch, "tencent_task_region", region="ap-guangzhou")
    hook = TencentCloudHook(tencentcloud_conn_id="tencent_task_region", region="ap-shenzhen-fsi")
    assert hook.get_conn().api.prepare(CALL, 1_700_000_000).url == "https://batch.ap-shenzhen-fsi.tencentcloudapi.com/"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"region": "ap-guangzhou", "site": "global"}, "site extra"),
        ({"region": "ap-shanghai-fsi", "site": "intl"}, "site extra"),
    ],
)
def test_the_hook_refuses_a_site_that_cannot_work_before_sending(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], field: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _connection(monkeypatch, "tencent_bad_site", **extra).get_conn()
    assert caught.value.field == field


# --- STS follows the site -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "site", "sts"),
    [
        (None, None, DEFAULT_STS_ENDPOINT),
        (CHINA, None, DEFAULT_STS_ENDPOINT),
        (INTL, None, INTL_STS_ENDPOINT),  # no site: guessed from the endpoint, as before
        (None, "intl", INTL_STS_ENDPOINT),
        (CHINA, "intl", INTL_STS_ENDPOINT),
        (INTL, "china", DEFAULT_STS_ENDPOINT),  # the extra overrides the guess
    ],
)
def test_the_sts_default_follows_the_site(endpoint: str | None, site: str | None, sts: str) -> None:
    assert default_sts_endpoint(endpoint, site) == sts


def test_an_unknown_site_is_an_error_for_sts_too() -> None:
    with pytest.raises(ConfigurationError, match="site"):
        default_sts_endpoint(None, "mainland")


@pytest.mark.parametrize(
    ("extra", "sts"),
    [
        ({"site": "intl"}, INTL_STS_ENDPOINT),
        ({"site": "china", "endpoint": INTL}, DEFAULT_STS_ENDPOINT),
        ({"endpoint": INTL}, INTL_STS_ENDPOINT),
        ({}, DEFAULT_STS_ENDPOINT),
        ({"site": "intl", "sts_endpoint": "https://sts.ap-singapore.tencentcloudapi.com"},
         "https://sts.ap-singapore.tencentcloudapi.com"),
    ],
)  # fmt: skip
def test_a_role_connection_assumes_its_role_at_its_sites_sts(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], sts: str
) -> None:
    hook = _connection(monkeypatch, "tencent_role_site", region="ap-singapore", role_arn=ROLE_ARN, **extra)
    conn = hook.get_connection(hook.conn_id)
    identity = hook.identity(conn, conn.extra_dejson)
    assert isinstance(identity, Identity)
    assert isinstance(identity.key, tuple) and identity.key[-1] == sts


# --- console links --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "site", "console", "intl"),
    [
        (CHINA, None, None, False),
        (INTL, None, None, True),
        (CHINA, "intl", None, True),
        (INTL, "china", None, False),
        (CHINA, "intl", "china", False),  # the console extra says otherwise
        (INTL, "china", "intl", True),
    ],
)
def test_the_site_picks_the_console_unless_console_says_otherwise(
    endpoint: str, site: str | None, console: str | None, intl: bool
) -> None:
    assert is_international(endpoint, site=site, console=console) is intl
    url = TencentBatchJobLink().url({"job_id": "job-1", "site": site, "console": console}, "ap-singapore", endpoint)
    base = "https://console.tencentcloud.com" if intl else "https://console.cloud.tencent.com"
    assert url == f"{base}/batch/job/detail?region=ap-singapore&jobId=job-1"


# --- the connection form --------------------------------------------------------------------------------------


def _tencent_form() -> dict[str, Any]:
    types = get_provider_info()["connection-types"]
    return next(t for t in types if t["connection-type"] == "tencentcloud")["conn-fields"]


def test_the_connection_form_offers_the_site() -> None:
    site = _tencent_form()["site"]
    assert site["label"] == "Site"
    assert site["schema"]["examples"] == ["china", "intl"]
    assert "intl" in site["description"] and "china" in site["description"]


def test_the_forms_endpoint_stores_no_default_that_would_override_the_site() -> None:
    endpoint = _tencent_form()["endpoint"]
    assert "default" not in endpoint["schema"]
    assert "Site" in endpoint["description"] and "-fsi" in endpoint["description"]
