"""Connections naming each source of temporary keys, per vendor, pointed at a test's emulator.

``identity_connection`` sets ``AIRFLOW_CONN_<ID>`` for one (vendor, source): an assumed role (stored key +
role), the instance's metadata, a pod's OIDC token file, or nothing stored at all (the SDK's default chain,
which finds the emulated instance's metadata). The vendors' SDK environment variables are cleared, so the
chain cannot pick up a key from the machine running the tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudflows_emulator.server import EmulatorServer
from tests.helpers import FAST

VENDORS = ("tencent", "alibaba", "huawei")
SOURCES = ("role", "instance", "oidc", "chain")
CONN_TYPES = {"tencent": "tencentcloud", "alibaba": "alibabacloud", "huawei": "huaweicloud"}
# A JWT-shaped token, as a kubelet projects it (the emulators check the shape, not a signature).
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YWlyZmxvdyJ9.c2lnbmF0dXJl"
SDK_VARIABLES = (
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "TKE_REGION",
    "TKE_PROVIDER_ID",
    "TKE_WEB_IDENTITY_TOKEN_FILE",
    "TKE_ROLE_ARN",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
    "ALIBABA_CLOUD_ROLE_ARN",
    "ALIBABA_CLOUD_ROLE_SESSION_NAME",
    "ALIBABA_CLOUD_ECS_METADATA",
    "ALIBABA_CLOUD_ECS_METADATA_DISABLED",
    "ALIBABA_CLOUD_IMDSV1_DISABLED",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_IDP_ID",
    "HUAWEICLOUD_SDK_ID_TOKEN_FILE",
    "HUAWEICLOUD_SDK_IAM_ENDPOINT",
    "HUAWEICLOUD_SDK_PROJECT_ID",
)
"""Every variable the vendors' SDK chains read: the machine running the tests never decides a source."""


def clear_sdk_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset :data:`SDK_VARIABLES` for the test."""
    for name in SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def source_extras(vendor: str, source: str, url: str, token_file: Path) -> tuple[dict[str, Any], bool]:
    """The extras naming ``source`` (endpoints at ``url``) and whether the stored key stays in the connection."""
    if vendor == "tencent":
        role = "qcs::cam::uin/100000000001:roleName/airflow"
        extras: dict[str, dict[str, Any]] = {
            "role": {"role_arn": role, "sts_endpoint": url},
            "instance": {"instance_role": "auto", "metadata_endpoint": url},
            "oidc": {"role_arn": role, "oidc_provider_id": "tke-oidc", "oidc_token_file": str(token_file)},
            "chain": {"metadata_endpoint": url},
        }
        extras["oidc"]["sts_endpoint"] = url
    elif vendor == "alibaba":
        role = "acs:ram::1234567890123456:role/airflow"
        extras = {
            "role": {"role_arn": role, "sts_endpoint": url},
            "instance": {"ecs_ram_role": "auto", "metadata_endpoint": url},
            "oidc": {
                "role_arn": role,
                "oidc_provider_arn": "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1",
                "oidc_token_file": str(token_file),
                "sts_endpoint": url,
            },
            "chain": {"metadata_endpoint": url},
        }
    else:
        extras = {
            "role": {"agency_name": "airflow", "agency_domain": "example-domain", "iam_endpoint": url},
            "instance": {"instance_metadata": True, "metadata_endpoint": url},
            "oidc": {"idp_id": "airflow-idp", "oidc_token_file": str(token_file), "iam_endpoint": url},
            "chain": {"metadata_endpoint": url},
        }
    return extras[source], source == "role"


def identity_connection(
    vendor: str,
    source: str,
    conn_id: str,
    server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> dict[str, Any]:
    """Set connection ``conn_id`` to ``vendor``'s emulator connection with its keys coming from ``source``."""
    clear_sdk_variables(monkeypatch)
    token_file = tmp_path / "oidc-token"
    token_file.write_text(OIDC_TOKEN + "\n")
    default = json.loads(server.airflow_connections()[f"AIRFLOW_CONN_{CONN_TYPES[vendor].upper()}_DEFAULT"])
    extras, keep_key = source_extras(vendor, source, server.url, token_file)
    conn: dict[str, Any] = {"conn_type": default["conn_type"], "extra": {**default["extra"], **FAST, **extras}}
    if keep_key:
        conn["login"], conn["password"] = default["login"], default["password"]
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn
