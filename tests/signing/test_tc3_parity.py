"""TC3-HMAC-SHA256 parity with tencentcloud-sdk-python-common.

Each case runs the SDK's real call path (``CommonClient.call_json`` -> ``_build_req_with_tc3_signature``) with
the clock frozen and the HTTP send replaced by a capture, then signs the same bytes with ``sign_tc3`` and
demands identical headers.
"""

from __future__ import annotations

import hashlib
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from tencentcloud.common import abstract_client
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential as SdkCredential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.tc3 import (
    TC3_CONTENT_TYPE,
    Tc3Authorization,
    parse_tc3_authorization,
    sign_tc3,
    tc3_canonical_request,
    tc3_signature,
)

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
TOKEN = "tmp-token/with+odd=chars"
# 2024-10-29 12:23:49 UTC and the last second of that UTC day (already the 30th in Asia/Shanghai).
TIMESTAMPS = [1730204629, 1730246399]

APIS = [
    pytest.param(
        "emr",
        "DescribeClusterFlowStatusDetail",
        "2019-01-03",
        {
            "InstanceId": "emr-123",
            "FlowParam": {"FKey": "TraceId", "FValue": "1730204629-375383-1016312"},
            "NeedExtraDetail": True,
        },
        id="emr",
    ),
    pytest.param("cynosdb", "DescribeFlow", "2019-01-07", {"FlowId": 123}, id="cynosdb"),
    pytest.param("batch", "DescribeTask", "2017-03-12", {"JobId": "job-97zcl3wt", "TaskName": "A"}, id="batch"),
]

# Headers the SDK adds that identify the SDK itself or trace the call; neither is signed.
SDK_ONLY_HEADERS = {"X-TC-RequestClient", "X-TC-TraceId"}


def sdk_request(
    monkeypatch: pytest.MonkeyPatch,
    *,
    service: str,
    host: str,
    action: str,
    version: str,
    params: dict[str, Any],
    region: str,
    token: str | None,
    timestamp: int,
    language: str = "en-US",
) -> RequestInternal:
    """Run the SDK's TC3 call path with a frozen clock and return the request it would have sent."""
    monkeypatch.setattr(abstract_client, "time", SimpleNamespace(time=lambda: float(timestamp)))
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=host), language=language)
    client = CommonClient(service, version, SdkCredential(SECRET_ID, SECRET_KEY, token), region, profile)
    captured: list[RequestInternal] = []

    def capture(req: RequestInternal) -> SimpleNamespace:
        captured.append(req)
        return SimpleNamespace(
            status_code=200,
            headers={"Content-Type": "application/json"},
            content=b'{"Response": {"RequestId": "req-1"}}',
        )

    monkeypatch.setattr(client.request, "send_request", capture)
    assert client.call_json(action, params) == {"Response": {"RequestId": "req-1"}}
    (req,) = captured
    return req


def sent_body(req: RequestInternal) -> bytes:
    # The SDK keeps the JSON as str (json.dumps, ASCII-only) and lets requests encode it.
    assert isinstance(req.data, str)
    return req.data.encode("utf-8")


@pytest.mark.parametrize(("service", "action", "version", "params"), APIS)
@pytest.mark.parametrize("token", [None, TOKEN], ids=["ak", "token"])
@pytest.mark.parametrize("host_pattern", ["{}.tencentcloudapi.com", "{}.intl.tencentcloudapi.com"])
@pytest.mark.parametrize("timestamp", TIMESTAMPS)
def test_sign_tc3_matches_sdk(
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    action: str,
    version: str,
    params: dict[str, Any],
    token: str | None,
    host_pattern: str,
    timestamp: int,
) -> None:
    host = host_pattern.format(service)
    req = sdk_request(
        monkeypatch,
        service=service,
        host=host,
        action=action,
        version=version,
        params=params,
        region="ap-guangzhou",
        token=token,
        timestamp=timestamp,
    )
    assert (req.method, req.uri) == ("POST", "/")
    ours = sign_tc3(
        Credentials(SECRET_ID, SECRET_KEY, token),
        service=service,
        host=host,
        action=action,
        version=version,
        region="ap-guangzhou",
        body=sent_body(req),
        timestamp=timestamp,
    )
    sdk_headers = {k: v for k, v in req.header.items() if k not in SDK_ONLY_HEADERS}
    assert ours == sdk_headers
    assert ours["Content-Type"] == TC3_CONTENT_TYPE == "application/json"
    assert ("X-TC-Token" in ours) is (token is not None)
    # The scope always names the product code, also on the international host.
    assert f"/{service}/tc3_request, " in ours["Authorization"]


def test_no_region_and_zh_language_match_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    req = sdk_request(
        monkeypatch,
        service="cynosdb",
        host="cynosdb.tencentcloudapi.com",
        action="DescribeFlow",
        version="2019-01-07",
        params={"FlowId": 123},
        region="",
        token=None,
        timestamp=TIMESTAMPS[0],
        language="zh-CN",
    )
    ours = sign_tc3(
        Credentials(SECRET_ID, SECRET_KEY),
        service="cynosdb",
        host="cynosdb.tencentcloudapi.com",
        action="DescribeFlow",
        version="2019-01-07",
        region=None,
        body=sent_body(req),
        timestamp=TIMESTAMPS[0],
        language="zh-CN",
    )
    assert "X-TC-Region" not in ours
    assert ours == {k: v for k, v in req.header.items() if k not in SDK_ONLY_HEADERS}


def test_scope_date_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    # In Asia/Shanghai this timestamp is already 2024-10-30: a local-time date would break the scope.
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        req = sdk_request(
            monkeypatch,
            service="batch",
            host="batch.tencentcloudapi.com",
            action="DescribeTask",
            version="2017-03-12",
            params={"JobId": "job-97zcl3wt", "TaskName": "A"},
            region="ap-guangzhou",
            token=None,
            timestamp=TIMESTAMPS[1],
        )
        ours = sign_tc3(
            Credentials(SECRET_ID, SECRET_KEY),
            service="batch",
            host="batch.tencentcloudapi.com",
            action="DescribeTask",
            version="2017-03-12",
            region="ap-guangzhou",
            body=sent_body(req),
            timestamp=TIMESTAMPS[1],
        )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert "/2024-10-29/batch/" in ours["Authorization"]
    assert ours["Authorization"] == req.header["Authorization"]


@pytest.mark.parametrize("token", [None, TOKEN], ids=["ak", "token"])
def test_verifier_accepts_sdk_request_and_rejects_tampering(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    req = sdk_request(
        monkeypatch,
        service="emr",
        host="emr.intl.tencentcloudapi.com",
        action="DescribeClusterFlowStatusDetail",
        version="2019-01-03",
        params={"InstanceId": "emr-123", "FlowParam": {"FKey": "FlowId", "FValue": "42"}},
        region="ap-singapore",
        token=token,
        timestamp=TIMESTAMPS[0],
    )
    auth = parse_tc3_authorization(req.header["Authorization"])
    assert auth == Tc3Authorization(
        key_id=SECRET_ID,
        date="2024-10-29",
        service="emr",
        signed_headers=("content-type", "host"),
        signature=auth.signature,
    )

    def verify(body: bytes, host: str) -> bool:
        canonical = tc3_canonical_request(host=host, content_type=req.header["Content-Type"], body=body)
        expected = tc3_signature(
            SECRET_KEY,
            service=auth.service,
            timestamp=int(req.header["X-TC-Timestamp"]),
            canonical_request=canonical,
        )
        return expected == auth.signature

    assert verify(sent_body(req), req.header["Host"])
    assert not verify(sent_body(req).replace(b"42", b"43"), req.header["Host"])
    assert not verify(sent_body(req), "emr.tencentcloudapi.com")


def test_canonical_request_layout() -> None:
    body = json.dumps({"FlowId": 123}).encode()
    canonical = tc3_canonical_request(host="cynosdb.tencentcloudapi.com", content_type="application/json", body=body)
    assert canonical == (
        "POST\n/\n\ncontent-type:application/json\nhost:cynosdb.tencentcloudapi.com\n\ncontent-type;host\n"
        + hashlib.sha256(body).hexdigest()
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "HMAC-SHA256 Credential=a/2024-10-29/emr/tc3_request, SignedHeaders=content-type;host, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=a/2024-10-29/emr/tc3_requesx, SignedHeaders=host, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=a/20241029/emr/tc3_request, SignedHeaders=host, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=2024-10-29/emr/tc3_request, SignedHeaders=host, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=a/2024-10-29/emr/tc3_request, SignedHeaders=host, Signature=xyz",
        "TC3-HMAC-SHA256 Credential=a/2024-10-29/emr/tc3_request, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=a/2024-10-29/emr/tc3_request, SignedHeaders=host;, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=a/2024-10-29/emr/tc3_request, SignedHeaders=host, SignedHeaders=host, "
        "Signature=" + "0" * 64,
    ],
)
def test_parse_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError, match="TC3"):
        parse_tc3_authorization(value)


def test_sign_rejects_header_injection() -> None:
    with pytest.raises(ValueError, match="line break"):
        sign_tc3(
            Credentials(SECRET_ID, SECRET_KEY),
            service="emr",
            host="emr.tencentcloudapi.com",
            action="DescribeClusterFlowStatusDetail\r\nX-Evil: 1",
            version="2019-01-03",
            region=None,
            body=b"{}",
            timestamp=TIMESTAMPS[0],
        )


def test_repeated_signatures_match_the_sdk_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every poll of a wait signs the same body: the per-wait hash and the day's keyed HMAC state are cached,
    # and a signature made in between with another secret must neither change nor reuse them.
    host, params = "cynosdb.tencentcloudapi.com", {"FlowId": 123}
    signed: list[dict[str, str]] = []
    for secret, timestamp in (
        (SECRET_KEY, TIMESTAMPS[0]),
        ("other-secret", TIMESTAMPS[0]),
        (SECRET_KEY, TIMESTAMPS[0] + 7),
    ):
        req = sdk_request(
            monkeypatch,
            service="cynosdb",
            host=host,
            action="DescribeFlow",
            version="2019-01-07",
            params=params,
            region="ap-guangzhou",
            token=None,
            timestamp=timestamp,
        )
        ours = sign_tc3(
            Credentials(SECRET_ID, secret, None),
            service="cynosdb",
            host=host,
            action="DescribeFlow",
            version="2019-01-07",
            region="ap-guangzhou",
            body=sent_body(req),
            timestamp=timestamp,
        )
        signed.append(ours)
        if secret == SECRET_KEY:
            assert ours == {k: v for k, v in req.header.items() if k not in SDK_ONLY_HEADERS}
    assert len({headers["Authorization"] for headers in signed}) == 3
