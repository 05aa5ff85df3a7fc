"""Alibaba Cloud signing parity with alibabacloud_fnf20190315 + alibabacloud-tea-openapi.

Each case runs the fnf SDK's real ``describe_execution`` with the clock and nonce frozen and the HTTP send
replaced by a capture, then signs the same inputs with our functions and demands identical output: the
query string the SDK signed (RPC v2) or canonicalized (V3), the signature and every signed header.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import alibabacloud_tea_openapi.utils as sdk_utils
import pytest
from alibabacloud_fnf20190315 import models as fnf_models
from alibabacloud_fnf20190315.client import Client as FnfClient
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.utils import Utils as SdkUtils
from darabonba.core import DaraCore
from darabonba.request import DaraRequest
from darabonba.response import DaraResponse

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.acs import (
    Acs3Authorization,
    acs3_canonical_query,
    acs3_canonical_request,
    acs3_signature,
    parse_acs3_authorization,
    percent_encode,
    rpc_v2_canonical_query,
    rpc_v2_signature,
    sign_acs3,
    sign_rpc_v2,
)

AK_ID = "LTAI5tExampleAccessKeyId"
AK_SECRET = "ExampleAccessKeySecret/With+Chars="
STS_TOKEN = "CAIS+sts/token==with&odd=chars"
HOST = "cn-hangzhou.fnf.aliyuncs.com"
NONCE = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
FROZEN_NAIVE_UTC = datetime(2024, 10, 29, 12, 23, 49)
# The same instant as an aware time in another zone: our signers must convert it to UTC themselves.
FROZEN = FROZEN_NAIVE_UTC.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=8)))

NAMES = [
    pytest.param("my-flow", "exec-1", id="plain"),
    pytest.param("my flow*~", "执行 *~x", id="needs-encoding"),
]
WAITS = [pytest.param(None, id="no-wait"), pytest.param(10, id="wait-10")]
TOKENS = [pytest.param(None, id="ak"), pytest.param(STS_TOKEN, id="sts")]


class _FrozenDatetime(datetime):
    @classmethod
    def utcnow(cls) -> datetime:  # type: ignore[override]
        return FROZEN_NAIVE_UTC


@dataclass
class SdkCall:
    request: DaraRequest
    url: str
    hmac_calls: list[tuple[bytes, bytes]]


def sdk_describe_execution(
    monkeypatch: pytest.MonkeyPatch,
    *,
    flow_name: str,
    execution_name: str,
    wait: int | None,
    token: str | None,
    v3: bool,
) -> SdkCall:
    """Run the fnf SDK's DescribeExecution with frozen clock and nonce; return what it would have sent."""
    monkeypatch.setattr(sdk_utils, "datetime", _FrozenDatetime)
    monkeypatch.setattr(SdkUtils, "get_nonce", staticmethod(lambda: NONCE))
    hmac_calls: list[tuple[bytes, bytes]] = []

    def spy_hmac_new(key: bytes, msg: bytes, digestmod: Any) -> Any:
        hmac_calls.append((key, msg))
        return hmac.new(key, msg, digestmod)

    monkeypatch.setattr(sdk_utils, "hmac", SimpleNamespace(new=spy_hmac_new))
    captured: list[DaraRequest] = []

    def capture(request: DaraRequest, runtime_option: Any = None) -> DaraResponse:
        captured.append(request)
        response = DaraResponse()
        response.status_code = 200
        response.headers = {"content-type": "application/json"}
        response.body = b'{"RequestId": "req-1", "Status": "Running"}'
        return response

    monkeypatch.setattr(DaraCore, "do_action", staticmethod(capture))
    config = utils_models.Config(
        access_key_id=AK_ID, access_key_secret=AK_SECRET, security_token=token, region_id="cn-hangzhou"
    )
    client = FnfClient(config)
    if v3:
        client._signature_algorithm = "ACS3-HMAC-SHA256"
    request = fnf_models.DescribeExecutionRequest(
        flow_name=flow_name, execution_name=execution_name, wait_time_seconds=wait
    )
    assert client.describe_execution(request).body.status == "Running"
    (sent,) = captured
    return SdkCall(request=sent, url=DaraCore.compose_url(sent), hmac_calls=hmac_calls)


def business_params(flow_name: str, execution_name: str, wait: int | None) -> dict[str, str]:
    params = {"FlowName": flow_name, "ExecutionName": execution_name}
    if wait is not None:
        params["WaitTimeSeconds"] = str(wait)
    return params


def sent_pairs(query: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(query, keep_blank_values=True, strict_parsing=True))


# --- RPC v2 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("flow_name", "execution_name"), NAMES)
@pytest.mark.parametrize("wait", WAITS)
@pytest.mark.parametrize("token", TOKENS)
def test_sign_rpc_v2_matches_sdk(
    monkeypatch: pytest.MonkeyPatch, flow_name: str, execution_name: str, wait: int | None, token: str | None
) -> None:
    sdk = sdk_describe_execution(
        monkeypatch, flow_name=flow_name, execution_name=execution_name, wait=wait, token=token, v3=False
    )
    # The fnf SDK really signs with RPC v2: one HMAC-SHA1 keyed by secret + "&".
    ((key, string_to_sign),) = sdk.hmac_calls
    assert key == (AK_SECRET + "&").encode()
    method, slash, encoded_canonical = string_to_sign.decode().split("&", 2)
    assert (method, slash) == ("GET", "%2F")
    sdk_canonical = unquote(encoded_canonical)
    sdk_signature = sdk.request.query["Signature"]

    ours = sign_rpc_v2(
        Credentials(AK_ID, AK_SECRET, token),
        action="DescribeExecution",
        version="2019-03-15",
        params=business_params(flow_name, execution_name, wait),
        timestamp=FROZEN,
        nonce=NONCE,
    )

    # Exactly the string the SDK signed, then the signature encoded as the SDK encodes parameters.
    assert ours == f"{sdk_canonical}&Signature={SdkUtils.get_encode_param(sdk_signature)}"
    # The same parameters as the SDK puts on the wire (it sends them unsorted, form-encoded).
    assert sent_pairs(ours) == sent_pairs(urlsplit(sdk.url).query)
    assert ("SecurityToken" in dict(parse_qsl(ours))) is (token is not None)


@pytest.mark.parametrize(("flow_name", "execution_name"), NAMES)
@pytest.mark.parametrize("token", TOKENS)
def test_rpc_v2_verifier_accepts_sdk_request(
    monkeypatch: pytest.MonkeyPatch, flow_name: str, execution_name: str, token: str | None
) -> None:
    sdk = sdk_describe_execution(
        monkeypatch, flow_name=flow_name, execution_name=execution_name, wait=30, token=token, v3=False
    )
    # What a server sees: the decoded query parameters of the URL actually sent.
    received = dict(parse_qsl(urlsplit(sdk.url).query, keep_blank_values=True))
    canonical = rpc_v2_canonical_query(received)
    assert rpc_v2_signature(AK_SECRET, method="GET", canonical_query=canonical) == received["Signature"]
    tampered = dict(received, WaitTimeSeconds="31")
    assert (
        rpc_v2_signature(AK_SECRET, method="GET", canonical_query=rpc_v2_canonical_query(tampered))
        != received["Signature"]
    )


def test_rpc_v2_refuses_business_params_that_shadow_common_ones() -> None:
    with pytest.raises(ValueError, match="Timestamp"):
        sign_rpc_v2(
            Credentials(AK_ID, AK_SECRET),
            action="DescribeExecution",
            version="2019-03-15",
            params={"FlowName": "f", "Timestamp": "2000-01-01T00:00:00Z"},
            timestamp=FROZEN,
            nonce=NONCE,
        )


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_rpc_v2(
            Credentials(AK_ID, AK_SECRET),
            action="DescribeExecution",
            version="2019-03-15",
            params={},
            timestamp=FROZEN_NAIVE_UTC,
            nonce=NONCE,
        )


# --- V3 -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("flow_name", "execution_name"), NAMES)
@pytest.mark.parametrize("wait", WAITS)
@pytest.mark.parametrize("token", TOKENS)
def test_sign_acs3_matches_sdk(
    monkeypatch: pytest.MonkeyPatch, flow_name: str, execution_name: str, wait: int | None, token: str | None
) -> None:
    sdk = sdk_describe_execution(
        monkeypatch, flow_name=flow_name, execution_name=execution_name, wait=wait, token=token, v3=True
    )
    sdk_headers = dict(sdk.request.headers)
    # The SDK signs every header it sends, including two that only describe the SDK itself; pass those
    # through so that the header sets, and with them the signatures, can be compared.
    sdk_identity = {name: sdk_headers[name] for name in ("user-agent", "x-acs-credentials-provider")}

    query, headers = sign_acs3(
        Credentials(AK_ID, AK_SECRET, token),
        host=HOST,
        action="DescribeExecution",
        version="2019-03-15",
        params=business_params(flow_name, execution_name, wait),
        timestamp=FROZEN,
        nonce=NONCE,
        extra_headers=sdk_identity,
    )

    assert headers == sdk_headers
    assert query == sdk_utils.get_canonical_query_string(sdk.request.query)
    assert sent_pairs(query) == sent_pairs(urlsplit(sdk.url).query)
    if token is not None:
        assert headers["x-acs-security-token"] == token
        assert headers["x-acs-accesskey-id"] == AK_ID


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize(
    ("method", "body", "content_type"),
    [
        pytest.param("GET", b"", None, id="get"),
        pytest.param(
            "POST",
            b"FlowName=my%20flow&Input=%7B%22a%22%3A%22%E6%89%A7%22%7D",
            "application/x-www-form-urlencoded",
            id="post-form",
        ),
    ],
)
def test_sign_acs3_default_headers_match_sdk_signer(
    token: str | None, method: str, body: bytes, content_type: str | None
) -> None:
    """Without SDK identity headers, the SDK's own V3 signer must agree with ours on our header set."""
    params = {"FlowName": "my flow*~", "ExecutionName": "执行 *~x", "WaitTimeSeconds": "0"}
    extra = {"Content-Type": content_type} if content_type else None
    query, headers = sign_acs3(
        Credentials(AK_ID, AK_SECRET, token),
        host=HOST,
        action="DescribeExecution",
        version="2019-03-15",
        params=params,
        timestamp=FROZEN,
        nonce=NONCE,
        method=method,
        body=body,
        extra_headers=extra,
    )
    unsigned = {name: value for name, value in headers.items() if name != "Authorization"}
    request = DaraRequest()
    request.method = method
    request.pathname = "/"
    request.query = dict(params)
    request.headers = dict(unsigned)
    payload_hash = SdkUtils.hash(body, "ACS3-HMAC-SHA256").hex()
    assert headers["x-acs-content-sha256"] == payload_hash
    assert headers["Authorization"] == SdkUtils.get_authorization(
        request, "ACS3-HMAC-SHA256", payload_hash, AK_ID, AK_SECRET
    )
    assert query == sdk_utils.get_canonical_query_string(params)
    if content_type:
        assert headers["content-type"] == content_type


@pytest.mark.parametrize(("flow_name", "execution_name"), NAMES)
@pytest.mark.parametrize("token", TOKENS)
def test_acs3_verifier_accepts_sdk_request(
    monkeypatch: pytest.MonkeyPatch, flow_name: str, execution_name: str, token: str | None
) -> None:
    sdk = sdk_describe_execution(
        monkeypatch, flow_name=flow_name, execution_name=execution_name, wait=5, token=token, v3=True
    )
    received_query = dict(parse_qsl(urlsplit(sdk.url).query, keep_blank_values=True))
    received_headers = dict(sdk.request.headers)
    auth = parse_acs3_authorization(received_headers["Authorization"])
    assert auth.key_id == AK_ID
    assert auth.signed_headers == tuple(sorted(h for h in received_headers if h != "Authorization"))

    def verify(query: dict[str, str], body: bytes) -> bool:
        canonical = acs3_canonical_request(
            method="GET", query=query, headers=received_headers, signed_headers=auth.signed_headers, body=body
        )
        return acs3_signature(AK_SECRET, canonical) == auth.signature

    assert verify(received_query, b"")
    assert not verify(dict(received_query, WaitTimeSeconds="6"), b"")
    assert not verify(received_query, b"x")


def test_acs3_canonical_request_requires_signed_headers() -> None:
    with pytest.raises(ValueError, match="x-acs-date"):
        acs3_canonical_request(
            method="GET", query={}, headers={"host": HOST}, signed_headers=["host", "x-acs-date"], body=b""
        )


def test_acs3_refuses_overriding_computed_headers() -> None:
    with pytest.raises(ValueError, match="X-Acs-Date"):
        sign_acs3(
            Credentials(AK_ID, AK_SECRET),
            host=HOST,
            action="DescribeExecution",
            version="2019-03-15",
            params={},
            timestamp=FROZEN,
            nonce=NONCE,
            extra_headers={"X-Acs-Date": "2000-01-01T00:00:00Z"},
        )


def test_parse_acs3_authorization() -> None:
    signature = hashlib.sha256(b"x").hexdigest()
    value = f"ACS3-HMAC-SHA256 Credential={AK_ID},SignedHeaders=host;x-acs-date,Signature={signature}"
    assert parse_acs3_authorization(value) == Acs3Authorization(
        key_id=AK_ID, signed_headers=("host", "x-acs-date"), signature=signature
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ACS3-HMAC-SHA1 Credential=a,SignedHeaders=host,Signature=" + "0" * 64,
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
        "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=" + "0" * 64,
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=XYZ",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=;host,Signature=" + "0" * 64,
        "ACS3-HMAC-SHA256 Credential=a,Region=x,SignedHeaders=host,Signature=" + "0" * 64,
    ],
)
def test_parse_acs3_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError, match="ACS3"):
        parse_acs3_authorization(value)


# --- percent-encoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "".join(chr(c) for c in range(0x20, 0x7F)),
        "执行 *~x",
        "a+b=c&d/e",
        "emoji 😀 and é",
        "",
    ],
)
def test_percent_encode_matches_sdk(value: str) -> None:
    assert percent_encode(value) == SdkUtils.get_encode_param(value)


def test_percent_encode_rules() -> None:
    assert percent_encode("a b*c~d/é") == "a%20b%2Ac~d%2F%C3%A9"


def test_canonical_queries_sort_and_encode_both_sides() -> None:
    params = {"b": "2 *", "a~": "~", "A": "执"}
    assert rpc_v2_canonical_query(params) == "A=%E6%89%A7&a~=~&b=2%20%2A"
    assert acs3_canonical_query(params) == "A=%E6%89%A7&a~=~&b=2%20%2A"
    assert rpc_v2_canonical_query({**params, "Signature": "ignored"}) == rpc_v2_canonical_query(params)


# --- POST with a form body (StartExecution / StopExecution) ---------------------------------------------


def sdk_start_execution(monkeypatch: pytest.MonkeyPatch, *, token: str | None, v3: bool) -> SdkCall:
    """Run the fnf SDK's StartExecution (RPC POST, formData) frozen; return what it would have sent."""
    monkeypatch.setattr(sdk_utils, "datetime", _FrozenDatetime)
    monkeypatch.setattr(SdkUtils, "get_nonce", staticmethod(lambda: NONCE))
    captured: list[DaraRequest] = []

    def capture(request: DaraRequest, runtime_option: Any = None) -> DaraResponse:
        captured.append(request)
        response = DaraResponse()
        response.status_code = 200
        response.headers = {"content-type": "application/json"}
        response.body = b'{"RequestId": "req-1", "Status": "Running"}'
        return response

    monkeypatch.setattr(DaraCore, "do_action", staticmethod(capture))
    config = utils_models.Config(
        access_key_id=AK_ID, access_key_secret=AK_SECRET, security_token=token, region_id="cn-hangzhou"
    )
    client = FnfClient(config)
    if v3:
        client._signature_algorithm = "ACS3-HMAC-SHA256"
    request = fnf_models.StartExecutionRequest(flow_name="my flow*~", execution_name="执行 *~x", input=START_INPUT)
    client.start_execution(request)
    (sent,) = captured
    return SdkCall(request=sent, url=DaraCore.compose_url(sent), hmac_calls=[])


START_INPUT = '{"day": "2024-10-29", "note": "a+b c*~/é"}'
START_FORM = {"FlowName": "my flow*~", "ExecutionName": "执行 *~x", "Input": START_INPUT}


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("v3", [pytest.param(False, id="rpc-v2"), pytest.param(True, id="acs3")])
def test_transport_post_matches_sdk_start_execution(
    monkeypatch: pytest.MonkeyPatch, token: str | None, v3: bool
) -> None:
    """Our transport's StartExecution request equals the SDK's: method, body bytes, query and signed headers."""
    from airflow_provider_cloudflows.transport.alibaba import AlibabaApi, AlibabaCall

    sdk = sdk_start_execution(monkeypatch, token=token, v3=v3)
    api = AlibabaApi(
        Credentials(AK_ID, AK_SECRET, token),
        region="cn-hangzhou",
        endpoint=f"https://{HOST}",
        signature_version="v3" if v3 else "v2",
    )
    monkeypatch.setattr("uuid.uuid4", lambda: SimpleNamespace(hex=NONCE))
    ours = api.prepare(AlibabaCall("StartExecution", "2019-03-15", {}, form=START_FORM), FROZEN.timestamp())
    assert (ours.method, sdk.request.method) == ("POST", "POST")
    assert ours.content == sdk.request.body.encode()  # the same form bytes (names sorted, '+' for space)
    if v3:
        sdk_headers = dict(sdk.request.headers)
        mine = {k.lower(): v for k, v in ours.headers.items() if k != "Authorization"}
        assert mine["x-acs-content-sha256"] == sdk_headers["x-acs-content-sha256"]
        assert mine["content-type"] == sdk_headers["content-type"]
        # The SDK also signs its own identity headers: re-sign its exact header set with ours to compare.
        identity = {n: sdk_headers[n] for n in ("user-agent", "x-acs-credentials-provider")}
        _, resigned = sign_acs3(
            Credentials(AK_ID, AK_SECRET, token),
            host=HOST,
            action="StartExecution",
            version="2019-03-15",
            params={},
            timestamp=FROZEN,
            nonce=NONCE,
            method="POST",
            body=ours.content,
            extra_headers={"content-type": mine["content-type"], **identity},
        )
        assert resigned["Authorization"] == sdk_headers["Authorization"]
    else:
        # RPC v2: the query holds only the common parameters, the signature covers query + form together.
        assert sent_pairs(urlsplit(ours.url).query) == sent_pairs(urlsplit(sdk.url).query)
        received = {**dict(parse_qsl(urlsplit(sdk.url).query)), **dict(parse_qsl(sdk.request.body))}
        signature = rpc_v2_signature(AK_SECRET, method="POST", canonical_query=rpc_v2_canonical_query(received))
        assert signature == received["Signature"] == dict(parse_qsl(urlsplit(ours.url).query))["Signature"]
