"""SDK-HMAC-SHA256 parity with huaweicloudsdkcore / huaweicloudsdkdws.

The DWS cases run the SDK's real ``DwsClient.list_cluster_actions`` (path encoding, credentials, signer)
with the clock frozen and the HTTP send replaced by a capture. The query cases, which that API has none of,
call ``huaweicloudsdkcore.signer.Signer.sign`` on an ``SdkRequest``. Either way our output must equal what
the SDK would send, header for header.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import huaweicloudsdkcore.signer.signer as sdk_signer_module
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_client import HttpClient
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkdws.v2 import DwsClient, ListClusterActionsRequest

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.sdk_hmac import (
    SdkHmacAuthorization,
    encode_path,
    parse_sdk_hmac_authorization,
    sdk_hmac_canonical_query,
    sdk_hmac_canonical_request,
    sdk_hmac_canonical_uri,
    sdk_hmac_signature,
    sign_sdk_hmac,
)

AK = "HPUAEXAMPLEACCESSKEY1"
SK = "ExampleSecretKey/with+chars="
SECURITY_TOKEN = "gQpjbi1ub3J0aC00+token/with=chars"
PROJECT_ID = "05f2cff45100d5112f4bc00b794ea08e"
CLUSTER_ID = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
HOST = "dws.cn-north-4.myhuaweicloud.com"
TEMPLATE = "/v1/{project_id}/clusters/{cluster_id}/actions/{action_name}"
FROZEN_NAIVE_UTC = datetime(2024, 10, 29, 12, 23, 49)
# The same instant seen from UTC+8: our signer must convert it to UTC itself.
FROZEN = FROZEN_NAIVE_UTC.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=8)))

TOKENS = [pytest.param(None, id="ak"), pytest.param(SECURITY_TOKEN, id="token")]


class _FrozenDatetime(datetime):
    @classmethod
    def utcnow(cls) -> datetime:  # type: ignore[override]
        return FROZEN_NAIVE_UTC


class _Captured(Exception):
    """Raised instead of sending, once the signed request has been recorded."""


@pytest.fixture
def frozen_sdk(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Freeze the SDK signer's clock; return the list that collects the canonical requests it builds, in order."""
    monkeypatch.setattr(sdk_signer_module, "datetime", _FrozenDatetime)
    canonical_requests: list[str] = []
    original = Signer._process_canonical_request

    def spy(self: Signer, request: SdkRequest, signed_headers: list[str]) -> str:
        result: str = original(self, request, signed_headers)
        canonical_requests.append(result)
        return result

    monkeypatch.setattr(Signer, "_process_canonical_request", spy)
    return canonical_requests


def sdk_credentials(token: str | None) -> BasicCredentials:
    credentials = BasicCredentials(AK, SK, PROJECT_ID)
    if token is not None:
        credentials.security_token = token
    return credentials


def dws_client(token: str | None) -> DwsClient:
    client: DwsClient = (
        DwsClient.new_builder().with_credentials(sdk_credentials(token)).with_endpoint(f"https://{HOST}").build()
    )
    return client


def sdk_list_cluster_actions(
    monkeypatch: pytest.MonkeyPatch, *, cluster_id: str, action_name: str, token: str | None
) -> SdkRequest:
    """Run DwsClient.list_cluster_actions and return the signed request it would have sent."""
    captured: list[SdkRequest] = []

    def capture(self: HttpClient, request: SdkRequest) -> Any:
        captured.append(request)
        raise _Captured

    monkeypatch.setattr(HttpClient, "do_request_sync", capture)
    with pytest.raises(_Captured):
        dws_client(token).list_cluster_actions(
            ListClusterActionsRequest(cluster_id=cluster_id, action_name=action_name)
        )
    (request,) = captured
    return request


def caller_headers(sdk_headers: dict[str, str]) -> dict[str, str]:
    # The SDK signs its User-Agent too (it has no "_"), so it is passed through like any caller header.
    return {
        "Content-Type": "application/json",
        "User-Agent": sdk_headers["User-Agent"],
        "X-Project-Id": PROJECT_ID,
    }


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize(
    "cluster_id", [pytest.param(CLUSTER_ID, id="plain"), pytest.param("a b/c~d", id="needs-encoding")]
)
def test_sign_sdk_hmac_matches_dws_client(
    monkeypatch: pytest.MonkeyPatch, frozen_sdk: list[str], token: str | None, cluster_id: str
) -> None:
    sdk = sdk_list_cluster_actions(monkeypatch, cluster_id=cluster_id, action_name="SNAPSHOTTING", token=token)
    path = encode_path(TEMPLATE, {"project_id": PROJECT_ID, "cluster_id": cluster_id, "action_name": "SNAPSHOTTING"})
    assert path == sdk.resource_path
    # The request goes out without the slash the canonical URI appends.
    assert sdk.url == f"https://{HOST}{path}"
    assert not path.endswith("/")

    ours = sign_sdk_hmac(
        Credentials(AK, SK, token),
        method="GET",
        host=HOST,
        path=path,
        query=[],
        headers=caller_headers(sdk.header_params),
        body=b"",
        timestamp=FROZEN,
    )

    assert ours == sdk.header_params
    assert ours["X-Sdk-Date"] == "20241029T122349Z"
    (sdk_canonical,) = frozen_sdk
    assert (
        sdk_hmac_canonical_request(
            method="GET",
            path=path,
            query=[],
            headers=ours,
            signed_headers=parse_sdk_hmac_authorization(ours["Authorization"]).signed_headers,
            body=b"",
        )
        == sdk_canonical
    )
    assert sdk_canonical.splitlines()[1] == sdk_hmac_canonical_uri(path)
    assert sdk_hmac_canonical_uri(path).endswith("/SNAPSHOTTING/")


def test_encoded_slash_in_a_segment_is_signed_as_a_real_slash(
    monkeypatch: pytest.MonkeyPatch, frozen_sdk: list[str]
) -> None:
    sdk_list_cluster_actions(monkeypatch, cluster_id="a b/c~d", action_name="SNAPSHOTTING", token=None)
    (sdk_canonical,) = frozen_sdk
    expected_uri = f"/v1/{PROJECT_ID}/clusters/a%20b/c~d/actions/SNAPSHOTTING/"
    assert sdk_canonical.splitlines()[1] == expected_uri
    assert sdk_hmac_canonical_uri(f"/v1/{PROJECT_ID}/clusters/a%20b%2Fc~d/actions/SNAPSHOTTING") == expected_uri


def sdk_signer_sign(
    *, path: str, query: list[tuple[str, str]], headers: dict[str, str], token: str | None
) -> SdkRequest:
    """Sign an SdkRequest with the SDK's own credentials + Signer, as the client does before sending."""
    request = SdkRequest(
        method="GET",
        schema="https",
        host=HOST,
        resource_path=path,
        query_params=list(query),
        header_params=dict(headers),
        body=None,
    )
    signed: SdkRequest = sdk_credentials(token).sign_request(request)
    return signed


@pytest.mark.parametrize("token", TOKENS)
def test_query_needing_encoding_matches_sdk_signer(frozen_sdk: list[str], token: str | None) -> None:
    # The SDK's own path-parameter encoder, as DwsClient uses it.
    path = dws_client(token)._parse_path_params(
        {},
        {"cluster_id": "a b/c~d", "action_name": "SNAPSHOTTING"},
        TEMPLATE,
        {"project_id": PROJECT_ID},
    )
    assert path == encode_path(
        TEMPLATE, {"project_id": PROJECT_ID, "cluster_id": "a b/c~d", "action_name": "SNAPSHOTTING"}
    )
    query = [("name", "x y*~"), ("limit", "10"), ("name", "a&b=c"), ("执", "é")]
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT_ID}
    sdk = sdk_signer_sign(path=path, query=query, headers=headers, token=token)

    ours = sign_sdk_hmac(
        Credentials(AK, SK, token),
        method="GET",
        host=HOST,
        path=path,
        query=query,
        headers=headers,
        body=b"",
        timestamp=FROZEN,
    )

    assert ours == sdk.header_params
    # The SDK sends the query exactly as canonicalized, so sending our canonical query matches it too.
    assert sdk.uri == f"{path}?{sdk_hmac_canonical_query(query)}"
    assert sdk_hmac_canonical_query(query) == ("limit=10&name=a%26b%3Dc&name=x%20y%2A~&%E6%89%A7=%C3%A9")


@pytest.mark.parametrize("token", TOKENS)
def test_appended_slash_rule(frozen_sdk: list[str], token: str | None) -> None:
    """A path with and without its trailing slash canonicalize alike: the slash is appended only if missing."""
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT_ID}
    results = {}
    for path in (f"/v1/{PROJECT_ID}/clusters", f"/v1/{PROJECT_ID}/clusters/"):
        sdk = sdk_signer_sign(path=path, query=[], headers=headers, token=token)
        ours = sign_sdk_hmac(
            Credentials(AK, SK, token),
            method="GET",
            host=HOST,
            path=path,
            query=[],
            headers=headers,
            body=b"",
            timestamp=FROZEN,
        )
        assert ours == sdk.header_params
        assert sdk.uri == path
        results[path] = ours["Authorization"]
    assert [line.splitlines()[1] for line in frozen_sdk] == [f"/v1/{PROJECT_ID}/clusters/"] * 2
    assert len(set(results.values())) == 1
    assert sdk_hmac_canonical_uri("/") == "/"


def test_body_and_underscore_headers_match_sdk_signer(frozen_sdk: list[str]) -> None:
    body = b'{"name": "\xe6\x89\xa7"}'
    # Padded values: the SDK trims them both where it signs and where it sends.
    headers = {
        "Content-Type": "application/json;charset=UTF-8",
        "X-Project-Id": f"  {PROJECT_ID} ",
        "X_Custom": " v",
    }
    request = SdkRequest(
        method="POST",
        schema="https",
        host=HOST,
        resource_path=f"/v1/{PROJECT_ID}/clusters",
        query_params=[],
        header_params=dict(headers),
        body=body,
    )
    sdk = sdk_credentials(None).sign_request(request)
    ours = sign_sdk_hmac(
        Credentials(AK, SK),
        method="post",
        host=HOST,
        path=f"/v1/{PROJECT_ID}/clusters",
        query=[],
        headers=headers,
        body=body,
        timestamp=FROZEN,
    )
    assert ours == sdk.header_params
    assert ours["X-Project-Id"] == PROJECT_ID
    assert "x_custom" not in parse_sdk_hmac_authorization(ours["Authorization"]).signed_headers
    assert frozen_sdk[0].endswith(hashlib.sha256(body).hexdigest())


@pytest.mark.parametrize("token", TOKENS)
def test_verifier_accepts_sdk_request_and_rejects_tampering(
    monkeypatch: pytest.MonkeyPatch, frozen_sdk: list[str], token: str | None
) -> None:
    sdk = sdk_list_cluster_actions(monkeypatch, cluster_id=CLUSTER_ID, action_name="SNAPSHOTTING", token=token)
    received = dict(sdk.header_params)
    auth = parse_sdk_hmac_authorization(received["Authorization"])
    assert auth.key_id == AK

    def verify(path: str, headers: dict[str, str]) -> bool:
        canonical = sdk_hmac_canonical_request(
            method="GET", path=path, query=[], headers=headers, signed_headers=auth.signed_headers, body=b""
        )
        return sdk_hmac_signature(SK, sdk_date=headers["X-Sdk-Date"], canonical_request=canonical) == auth.signature

    assert verify(sdk.resource_path, received)
    # Header values are compared trimmed, as the signer trimmed them.
    assert verify(sdk.resource_path, dict(received, **{"X-Project-Id": f" {PROJECT_ID}  "}))
    assert not verify(sdk.resource_path.replace("SNAPSHOTTING", "RESTORING"), received)
    assert not verify(sdk.resource_path, dict(received, **{"X-Project-Id": "0" * 32}))


def test_parse_sdk_hmac_authorization() -> None:
    signature = hashlib.sha256(b"x").hexdigest()
    value = f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={signature}"
    assert parse_sdk_hmac_authorization(value) == SdkHmacAuthorization(
        key_id=AK, signed_headers=("host", "x-sdk-date"), signature=signature
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "SDK-HMAC-SM3 Access=a, SignedHeaders=host, Signature=" + "0" * 64,
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=" + "0" * 64,
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=zz",
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host;;x, Signature=" + "0" * 64,
        "SDK-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=" + "0" * 64,
    ],
)
def test_parse_sdk_hmac_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError, match="SDK-HMAC-SHA256"):
        parse_sdk_hmac_authorization(value)


def test_encode_path_requires_every_placeholder() -> None:
    with pytest.raises(ValueError, match="action_name"):
        encode_path(TEMPLATE, {"project_id": PROJECT_ID, "cluster_id": CLUSTER_ID})


def test_sign_refuses_headers_it_sets_itself() -> None:
    with pytest.raises(ValueError, match="host"):
        sign_sdk_hmac(
            Credentials(AK, SK),
            method="GET",
            host=HOST,
            path="/v1",
            query=[],
            headers={"host": "evil.example.com"},
            body=b"",
            timestamp=FROZEN,
        )


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_sdk_hmac(
            Credentials(AK, SK),
            method="GET",
            host=HOST,
            path="/v1",
            query=[],
            headers={},
            body=b"",
            timestamp=FROZEN_NAIVE_UTC,
        )


# --- writes with a JSON body (DWS create snapshot) -------------------------------------------------------


@pytest.mark.parametrize("token", TOKENS)
def test_post_with_json_body_matches_dws_client(
    monkeypatch: pytest.MonkeyPatch, frozen_sdk: list[str], token: str | None
) -> None:
    """Our transport's create-snapshot request equals DwsClient.create_snapshot's: body bytes and headers."""
    from huaweicloudsdkdws.v2 import CreateSnapshotRequest, CreateSnapshotRequestBody, Snapshot

    from airflow_provider_cloudflows.transport.huawei import HuaweiApi, HuaweiCall

    captured: list[SdkRequest] = []

    def capture(self: HttpClient, request: SdkRequest) -> Any:
        captured.append(request)
        raise _Captured

    monkeypatch.setattr(HttpClient, "do_request_sync", capture)
    body = {"snapshot": {"name": "snap-é 1", "cluster_id": CLUSTER_ID, "description": 'a "quoted" note'}}
    with pytest.raises(_Captured):
        dws_client(token).create_snapshot(
            CreateSnapshotRequest(body=CreateSnapshotRequestBody(snapshot=Snapshot(**body["snapshot"])))
        )
    (sdk,) = captured
    api = HuaweiApi(Credentials(AK, SK, token), region="cn-north-4", endpoint=f"https://{HOST}", project_id=PROJECT_ID)
    call = HuaweiCall("POST", "/v1.0/{project_id}/snapshots", {}, body=body)
    ours = api.prepare(call, FROZEN.timestamp())
    sdk_body = sdk.body if isinstance(sdk.body, bytes) else str(sdk.body).encode()
    assert ours.content == sdk_body
    assert ours.url == sdk.url
    # The SDK signs its User-Agent too: re-sign with its header set, then every header must match.
    resigned = sign_sdk_hmac(
        Credentials(AK, SK, token),
        method="POST",
        host=HOST,
        path="/v1.0/" + PROJECT_ID + "/snapshots",
        query=[],
        headers={**caller_headers(sdk.header_params), "Content-Type": ours.headers["Content-Type"]},
        body=ours.content,
        timestamp=FROZEN,
    )
    assert resigned == sdk.header_params
    assert hashlib.sha256(ours.content).hexdigest() in frozen_sdk[0]
