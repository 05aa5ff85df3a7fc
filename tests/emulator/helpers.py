"""Signed-request helpers for the emulator tests: our own signers, real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import httpx

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.acs import sign_acs3, sign_rpc_v2
from airflow_provider_cloudflows.signing.tc3 import sign_tc3
from cloudflows_emulator import (
    DEFAULT_ALIBABA_CREDENTIALS,
    DEFAULT_TENCENT_CREDENTIALS,
    EmulatorServer,
)

# One pooled client: creating an httpx client per request costs ~25 ms of TLS set-up even for plain HTTP.
HTTP = httpx.Client(timeout=10.0)

VERSIONS = {"emr": "2019-01-03", "cynosdb": "2019-01-07", "batch": "2017-03-12", "fnf": "2019-03-15"}


def tc3_post(
    server: EmulatorServer,
    service: str,
    action: str,
    params: Mapping[str, Any],
    *,
    creds: Credentials = DEFAULT_TENCENT_CREDENTIALS,
    version: str | None = None,
    timestamp: int | None = None,
    region: str | None = "ap-guangzhou",
    client: httpx.Client | None = None,
) -> httpx.Response:
    """A TC3-signed POST, as our transport sends it."""
    body = json.dumps(params).encode()
    headers = sign_tc3(
        creds,
        service=service,
        host=server.endpoint,
        action=action,
        version=version or VERSIONS[service],
        region=region,
        body=body,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    sender = client or HTTP
    return sender.post(server.url + "/", content=body, headers=headers)


def tc3_response(response: httpx.Response) -> dict[str, Any]:
    """The ``Response`` object of a Tencent reply (which is HTTP 200 for errors too)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()["Response"]
    assert body["RequestId"]
    return body


def tc3_error(response: httpx.Response) -> str:
    """The error code of a Tencent reply."""
    code: str = tc3_response(response)["Error"]["Code"]
    return code


def rpc_get(
    server: EmulatorServer,
    action: str,
    params: Mapping[str, str],
    *,
    creds: Credentials = DEFAULT_ALIBABA_CREDENTIALS,
    timestamp: datetime | None = None,
    nonce: str | None = None,
    version: str = VERSIONS["fnf"],
    timeout: float = 5.0,
) -> httpx.Response:
    """An RPC v2 signed GET, as the official fnf SDK sends it."""
    query = sign_rpc_v2(
        creds,
        action=action,
        version=version,
        params=params,
        timestamp=timestamp or datetime.now(timezone.utc),
        nonce=nonce or uuid.uuid4().hex,
    )
    return HTTP.get(f"{server.url}/?{query}", timeout=timeout)


def acs3_get(
    server: EmulatorServer,
    action: str,
    params: Mapping[str, str],
    *,
    creds: Credentials = DEFAULT_ALIBABA_CREDENTIALS,
    timestamp: datetime | None = None,
    nonce: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """A V3 (ACS3-HMAC-SHA256) signed GET."""
    query, headers = sign_acs3(
        creds,
        host=server.endpoint,
        action=action,
        version=VERSIONS["fnf"],
        params=params,
        timestamp=timestamp or datetime.now(timezone.utc),
        nonce=nonce or uuid.uuid4().hex,
    )
    headers.update(extra_headers or {})
    return HTTP.get(f"{server.url}/?{query}", headers=headers)


def tencent_sdk(
    server: EmulatorServer,
    service: str,
    *,
    creds: Credentials = DEFAULT_TENCENT_CREDENTIALS,
    unsigned_payload: bool = False,
) -> Any:
    """The official Tencent SDK's generic client, pointed at the emulator over plain HTTP."""
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    credential = Credential(creds.key_id, creds.secret, creds.token)
    http_profile = HttpProfile(protocol="http", endpoint=server.endpoint, reqTimeout=10)
    client_profile = ClientProfile(httpProfile=http_profile, language="en-US")
    # The SDK variant that signs the literal UNSIGNED-PAYLOAD instead of the body hash.
    client_profile.unsignedPayload = unsigned_payload
    return CommonClient(service, VERSIONS[service], credential, "ap-guangzhou", profile=client_profile)


def fnf_sdk(server: EmulatorServer, *, v3: bool = False, creds: Credentials = DEFAULT_ALIBABA_CREDENTIALS) -> Any:
    """The official CloudFlow SDK client pointed at the emulator; RPC v2 signing (its default) or V3."""
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi.models import Config

    config = Config(
        access_key_id=creds.key_id,
        access_key_secret=creds.secret,
        security_token=creds.token,
        endpoint=server.endpoint,
        protocol="http",
        region_id="cn-hangzhou",
        read_timeout=70_000,
    )
    client = Client(config)
    if v3:
        # The fnf client pins RPC v2 in its constructor; clearing it makes the base client sign with
        # ACS3-HMAC-SHA256, the scheme Alibaba documents for every product.
        client._signature_algorithm = None
    return client
