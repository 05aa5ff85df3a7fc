"""Request signers: pure functions of credentials, request parts and time, one module per vendor scheme."""

from airflow_provider_cloudflows.signing.acs import (
    Acs3Authorization,
    parse_acs3_authorization,
    percent_encode,
    sign_acs3,
    sign_rpc_v2,
)
from airflow_provider_cloudflows.signing.sdk_hmac import (
    SdkHmacAuthorization,
    encode_path,
    parse_sdk_hmac_authorization,
    sign_sdk_hmac,
)
from airflow_provider_cloudflows.signing.tc3 import Tc3Authorization, parse_tc3_authorization, sign_tc3

__all__ = [
    "Acs3Authorization",
    "SdkHmacAuthorization",
    "Tc3Authorization",
    "encode_path",
    "parse_acs3_authorization",
    "parse_sdk_hmac_authorization",
    "parse_tc3_authorization",
    "percent_encode",
    "sign_acs3",
    "sign_rpc_v2",
    "sign_sdk_hmac",
    "sign_tc3",
]
