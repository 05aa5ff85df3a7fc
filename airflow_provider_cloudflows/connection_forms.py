"""Connection types and their UI form metadata: pure data, read by ``get_provider_info()`` and the hooks."""

from __future__ import annotations

from typing import Any


def _text(
    label: str,
    description: str,
    *,
    default: str | None = None,
    secret: bool = False,
    examples: list[str] | None = None,
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if default is not None:
        schema["default"] = default
    if examples:
        # Airflow 3's form shows no placeholder for extra fields; it offers ``examples`` as suggestions instead.
        schema["examples"] = examples
    if secret:
        # "password" makes Airflow mask the field in the UI and treat its value as sensitive.
        schema["format"] = "password"
    return {"label": label, "schema": schema, "description": description}


def _region(regions: str) -> dict[str, Any]:
    """A region field suggesting ``regions`` (space-separated, the most common first)."""
    names = regions.split()
    return _text("Region", f"Default region, e.g. {names[0]}; a task's `region` overrides it.", examples=names)


def _flag(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "schema": {"type": ["boolean", "null"]}, "description": description}


_DURATION = _text(
    "Session duration (s)",
    "Lifetime asked for each temporary key; it is refreshed before it expires. Empty: the vendor's default.",
)
_STS_HELP = "Default: the vendor's. Same rules as Endpoint."
_METADATA_HELP = (
    "Base URL of the instance metadata service; default: the vendor's link-local address. "
    "http:// is allowed here (the service is only reachable from the instance)."
)
_OIDC_FILE = _text(
    "OIDC token file",
    "Path of the pod's projected service-account token (re-read at every refresh).",
    examples=["/var/run/secrets/tokens/oidc-token"],
)

_ENDPOINT_HELP = (
    "Base URL; may contain {placeholders}. https:// is required, except http:// for loopback hosts "
    "(the local emulator, e.g. http://127.0.0.1:8765)."
)

CONNECTION_TYPES: dict[str, dict[str, Any]] = {
    "tencentcloud": {
        "hook-class-name": "airflow_provider_cloudflows.hooks.tencent.TencentCloudHook",
        "hook-name": "Tencent Cloud",
        "connection-type": "tencentcloud",
        "conn-fields": {
            "region": _region(
                "ap-guangzhou ap-shanghai ap-beijing ap-chengdu ap-nanjing ap-hongkong "
                "ap-singapore ap-jakarta ap-tokyo ap-seoul na-siliconvalley eu-frankfurt"
            ),
            "token": _text("Session token", "Temporary credentials (STS) token, if any.", secret=True),
            "role_arn": _text(
                "Role ARN",
                "CAM role to assume with the SecretId/SecretKey above (STS AssumeRole), or with the OIDC token "
                "file (AssumeRoleWithWebIdentity).",
                examples=["qcs::cam::uin/100000000001:roleName/airflow"],
            ),
            "role_session_name": _text("Role session name", "Names the session in CloudAudit. Default: airflow."),
            "duration_seconds": _DURATION,
            "instance_role": _text(
                "CVM instance role",
                "Use the CVM's role from the metadata service: a role name, or auto to read it there.",
                examples=["auto"],
            ),
            "oidc_token_file": _OIDC_FILE,
            "oidc_provider_id": _text("OIDC provider ID", "TKE identity provider (with Role ARN and OIDC token file)."),
            "sts_endpoint": _text("STS endpoint", "Default: https://sts.tencentcloudapi.com. " + _STS_HELP),
            "metadata_endpoint": _text(
                "Metadata endpoint", _METADATA_HELP, examples=["http://metadata.tencentyun.com"]
            ),
            "site": _text(
                "Site",
                "china (default): *.tencentcloudapi.com; intl: the international site, "
                "*.intl.tencentcloudapi.com, its STS and its console. Empty: china, or intl when Endpoint is "
                "on the international domain.",
                examples=["china", "intl"],
            ),
            "endpoint": _text(
                "Endpoint",
                _ENDPOINT_HELP.replace("{placeholders}", "{service} and {region}")
                + " Overrides Site. Empty: https://{service}.tencentcloudapi.com, "
                "https://{service}.{region}.tencentcloudapi.com in the financial regions (*-fsi), "
                "https://{service}.intl.tencentcloudapi.com with Site intl.",
                examples=["https://{service}.tencentcloudapi.com", "https://{service}.intl.tencentcloudapi.com"],
            ),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "host"],
            "relabeling": {"login": "SecretId", "password": "SecretKey"},
            "placeholders": {"login": "AKID...", "region": "ap-guangzhou"},
        },
    },
    "alibabacloud": {
        "hook-class-name": "airflow_provider_cloudflows.hooks.alibaba.AlibabaCloudHook",
        "hook-name": "Alibaba Cloud",
        "connection-type": "alibabacloud",
        "conn-fields": {
            "region": _region(
                "cn-hangzhou cn-shanghai cn-beijing cn-shenzhen cn-zhangjiakou "
                "cn-hongkong ap-southeast-1 ap-northeast-1 us-west-1 us-east-1 eu-central-1"
            ),
            "security_token": _text("STS security token", "Temporary credentials token, if any.", secret=True),
            "role_arn": _text(
                "Role ARN",
                "RAM role to assume with the AccessKey above (STS AssumeRole), or with the OIDC token file "
                "(AssumeRoleWithOIDC, RRSA).",
                examples=["acs:ram::1234567890123456:role/airflow"],
            ),
            "role_session_name": _text("Role session name", "Names the session in ActionTrail. Default: airflow."),
            "duration_seconds": _DURATION,
            "external_id": _text("External ID", "The role's external ID, if its trust policy asks for one."),
            "ecs_ram_role": _text(
                "ECS RAM role",
                "Use the ECS instance's RAM role from the metadata service (IMDSv2): a role name, or auto.",
                examples=["auto"],
            ),
            "oidc_token_file": _OIDC_FILE,
            "disable_imds_v1": _flag(
                "Disable IMDS v1",
                "With ECS RAM role: never read the metadata without an IMDSv2 token "
                "(default: fall back like the SDK; env ALIBABA_CLOUD_IMDSV1_DISABLED).",
            ),
            "oidc_provider_arn": _text(
                "OIDC provider ARN",
                "ACK RRSA identity provider (with Role ARN and OIDC token file).",
                examples=["acs:ram::1234567890123456:oidc-provider/ack-rrsa-c123"],
            ),
            "sts_endpoint": _text("STS endpoint", "Default: https://sts.aliyuncs.com. " + _STS_HELP),
            "metadata_endpoint": _text("Metadata endpoint", _METADATA_HELP, examples=["http://100.100.100.200"]),
            "endpoint": _text(
                "Endpoint",
                _ENDPOINT_HELP.replace("{placeholders}", "{region}"),
                default="https://{region}.fnf.aliyuncs.com",
            ),
            "signature_version": {
                "label": "Signature version",
                "schema": {"type": ["string", "null"], "default": "v2", "enum": ["v2", "v3"]},
                "description": "v2: RPC HMAC-SHA1 (what the official fnf SDK sends); v3: ACS3-HMAC-SHA256.",
            },
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "host"],
            "relabeling": {"login": "AccessKey ID", "password": "AccessKey Secret"},
            "placeholders": {"login": "LTAI...", "region": "cn-hangzhou"},
        },
    },
    "huaweicloud": {
        "hook-class-name": "airflow_provider_cloudflows.hooks.huawei.HuaweiCloudHook",
        "hook-name": "Huawei Cloud",
        "connection-type": "huaweicloud",
        "conn-fields": {
            "region": _region(
                "cn-north-4 cn-east-3 cn-south-1 cn-north-1 ap-southeast-1 "
                "ap-southeast-3 af-south-1 la-south-2 eu-west-101 tr-west-1"
            ),
            "project_id": _text(
                "Project ID",
                "The project of the region; a task's `project_id` overrides it. "
                "Empty: looked up from IAM once per account and region.",
            ),
            "security_token": _text("Security token", "Temporary AK/SK token, if any.", secret=True),
            "agency_name": _text(
                "Agency name", "IAM agency to assume with the AK/SK above (with Agency domain).", examples=["airflow"]
            ),
            "agency_domain": _text(
                "Agency domain", "The account (domain) that owns the agency: its name, or its 32-character ID."
            ),
            "duration_seconds": _DURATION,
            "instance_metadata": _flag(
                "ECS instance metadata", "Use the ECS's agency credentials from the metadata service (securitykey)."
            ),
            "oidc_token_file": _OIDC_FILE,
            "idp_id": _text("Identity provider ID", "IAM identity provider of the OIDC token file (CCE workload)."),
            "metadata_endpoint": _text("Metadata endpoint", _METADATA_HELP, examples=["http://169.254.169.254"]),
            "endpoint": _text(
                "Endpoint",
                _ENDPOINT_HELP.replace("{placeholders}", "{region}")
                + " Default: https://dws.{region}.myhuaweicloud.com (.eu / .cn for the regions that use them).",
            ),
            "iam_endpoint": _text(
                "IAM endpoint",
                _ENDPOINT_HELP.replace("{placeholders}", "{region}")
                + " Used to look up an empty Project ID, and for agency and OIDC credentials. "
                "Default: the official SDK's, "
                "https://iam.{region}.myhuaweicloud.com where the region has one, else https://iam.myhuaweicloud.com.",
            ),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "host"],
            "relabeling": {"login": "Access Key (AK)", "password": "Secret Key (SK)"},
            "placeholders": {"region": "cn-north-4"},
        },
    },
}


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """The Airflow-2-style ``get_ui_field_behaviour()`` dict for a connection type."""
    behaviour = CONNECTION_TYPES[conn_type]["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour["hidden-fields"]),
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": dict(behaviour["placeholders"]),
    }
