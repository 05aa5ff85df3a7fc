"""Tencent Cloud API 3.0: the official SDK against the emulator, TC3 verification and the three operations."""

from __future__ import annotations

import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_cloudflows.credentials import Credentials
from cloudflows_emulator import (
    DEFAULT_TENCENT_CREDENTIALS,
    BatchPhase,
    CloudEmulator,
    EmrPhase,
    EmulatorServer,
    batch_task,
    cynosdb_flow,
    emr_flow,
)

from .helpers import tc3_error, tc3_post, tc3_response, tencent_sdk

EMR_PARAMS = {"InstanceId": "emr-abc", "FlowParam": {"FKey": "FlowId", "FValue": "1001"}}


def _sdk_error(call: object) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        call()  # type: ignore[operator]
    return str(info.value.code)


# --- the official SDK: genuine signatures are accepted ------------------------------------------------


def test_sdk_emr(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(emr_flow("emr-abc", flow_id=1001, trace_id="1730-1"))
    client = tencent_sdk(server, "emr")
    by_id = client.call_json("DescribeClusterFlowStatusDetail", EMR_PARAMS)["Response"]
    assert by_id["FlowTotalStatus"] == 1
    assert by_id["FlowName"] == "Scale Out Core"
    assert len(by_id["StageDetails"]) == 8
    by_trace = client.call_json(
        "DescribeClusterFlowStatusDetail",
        {"InstanceId": "emr-abc", "FlowParam": {"FKey": "TraceId", "FValue": "1730-1"}, "NeedExtraDetail": True},
    )["Response"]
    assert by_trace["FlowTotalStatus"] == 1
    assert cloud_emulator.count("emr", "DescribeClusterFlowStatusDetail") == 2


def test_sdk_cynosdb(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(123))
    response = tencent_sdk(server, "cynosdb").call_json("DescribeFlow", {"FlowId": 123})["Response"]
    assert response["Status"] == 2
    assert set(response) == {"Status", "RequestId"}


def test_sdk_batch(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(batch_task("job-97zcl3wt", "A", [(0, "SUCCEED")], instance_count=2))
    response = tencent_sdk(server, "batch").call_json("DescribeTask", {"JobId": "job-97zcl3wt", "TaskName": "A"})
    body = response["Response"]
    assert body["TaskState"] == "SUCCEED"
    assert body["TaskInstanceTotalCount"] == 2
    assert body["TaskInstanceMetrics"]["SucceedCount"] == 2


def test_sdk_unsigned_payload_variant(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(7))
    client = tencent_sdk(server, "cynosdb", unsigned_payload=True)
    assert client.call_json("DescribeFlow", {"FlowId": 7})["Response"]["Status"] == 2


def test_sdk_wrong_secret_is_rejected(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(123))
    client = tencent_sdk(server, "cynosdb", creds=Credentials(DEFAULT_TENCENT_CREDENTIALS.key_id, "not-the-secret"))
    assert _sdk_error(lambda: client.call_json("DescribeFlow", {"FlowId": 123})) == "AuthFailure.SignatureFailure"
    assert cloud_emulator.count(error="AuthFailure.SignatureFailure") == 1


def test_sdk_session_token(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(123))
    cloud_emulator.add_credentials("tencent", "AKIDTEMP", "temp-secret", token="tok-1")
    good = tencent_sdk(server, "cynosdb", creds=Credentials("AKIDTEMP", "temp-secret", "tok-1"))
    assert good.call_json("DescribeFlow", {"FlowId": 123})["Response"]["Status"] == 2
    # A token the emulator never issued for this key, and no token at all for a temporary key.
    bad = tencent_sdk(server, "cynosdb", creds=Credentials("AKIDTEMP", "temp-secret", "tok-unknown"))
    assert _sdk_error(lambda: bad.call_json("DescribeFlow", {"FlowId": 123})) == "AuthFailure.TokenFailure"
    tokenless = tencent_sdk(server, "cynosdb", creds=Credentials("AKIDTEMP", "temp-secret"))
    assert _sdk_error(lambda: tokenless.call_json("DescribeFlow", {"FlowId": 123})) == "AuthFailure.TokenFailure"


# --- TC3 verification with our signer ----------------------------------------------------------------


def test_unknown_key(server: EmulatorServer) -> None:
    response = tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1}, creds=Credentials("AKIDNOPE", "x"))
    assert tc3_error(response) == "AuthFailure.SecretIdNotFound"


@pytest.mark.parametrize("skew", [-301, 400])
def test_clock_skew_is_rejected(server: EmulatorServer, cloud_emulator: CloudEmulator, skew: int) -> None:
    cloud_emulator.add_execution(cynosdb_flow(1))
    response = tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1}, timestamp=int(time.time()) + skew)
    assert tc3_error(response) == "AuthFailure.SignatureExpire"


def test_small_skew_is_accepted(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(cynosdb_flow(1))
    response = tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1}, timestamp=int(time.time()) - 250)
    assert tc3_response(response)["Status"] == 2


def test_signature_binds_the_service(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    # Signed for batch but the scope says cynosdb: the service comes from the scope, so the action is unknown.
    response = tc3_post(server, "cynosdb", "DescribeTask", {"JobId": "job-aaaaaaaa", "TaskName": "A"})
    assert tc3_error(response) == "InvalidAction"


def test_tampered_body_is_rejected(server: EmulatorServer) -> None:
    import json

    import httpx

    from airflow_provider_cloudflows.signing.tc3 import sign_tc3

    body = json.dumps({"FlowId": 1}).encode()
    headers = sign_tc3(
        DEFAULT_TENCENT_CREDENTIALS,
        service="cynosdb",
        host=server.endpoint,
        action="DescribeFlow",
        version="2019-01-07",
        region="ap-guangzhou",
        body=body,
        timestamp=int(time.time()),
    )
    response = httpx.post(server.url + "/", content=b'{"FlowId": 2}', headers=headers)
    assert tc3_error(response) == "AuthFailure.SignatureFailure"


def test_missing_and_malformed_authorization(server: EmulatorServer) -> None:
    import httpx

    bare = httpx.post(server.url + "/", headers={"X-TC-Action": "DescribeFlow"}, json={"FlowId": 1})
    assert tc3_error(bare) == "AuthFailure.InvalidAuthorization"
    junk = httpx.post(
        server.url + "/", headers={"X-TC-Action": "DescribeFlow", "Authorization": "TC3-HMAC-SHA256 nope"}
    )
    assert tc3_error(junk) == "AuthFailure.InvalidAuthorization"


def test_version_and_action(server: EmulatorServer) -> None:
    assert tc3_error(tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 1}, version="2017-03-12")) == (
        "NoSuchVersion"
    )
    assert tc3_error(tc3_post(server, "cynosdb", "DescribeFlows", {"FlowId": 1})) == "InvalidAction"


# --- parameters and not-found codes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"FlowParam": {"FKey": "FlowId", "FValue": "1"}}, "MissingParameter"),
        ({"InstanceId": "emr-abc"}, "MissingParameter"),
        ({"InstanceId": "emr-abc", "FlowParam": {"FKey": "FlowId"}}, "MissingParameter"),
        ({"InstanceId": "emr-abc", "FlowParam": {"FKey": "FlowId", "FValue": 1001}}, "InvalidParameter"),
        ({"InstanceId": "emr-abc", "FlowParam": {"FKey": "Other", "FValue": "1"}}, "InvalidParameterValue"),
        ({**EMR_PARAMS, "Instance": "x"}, "UnknownParameter"),
        ({**EMR_PARAMS, "InstanceId": "emr-zzz"}, "ResourceNotFound.InstanceNotFound"),
    ],
)
def test_emr_errors(
    server: EmulatorServer, cloud_emulator: CloudEmulator, params: dict[str, object], code: str
) -> None:
    cloud_emulator.add_execution(emr_flow("emr-abc", flow_id="1001"))
    response = tc3_post(server, "emr", "DescribeClusterFlowStatusDetail", params)
    assert tc3_error(response) == code
    assert tc3_response(response)["Error"]["Message"]


def test_emr_region_required(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(emr_flow("emr-abc", flow_id="1001"))
    response = tc3_post(server, "emr", "DescribeClusterFlowStatusDetail", EMR_PARAMS, region=None)
    assert tc3_error(response) == "MissingParameter"


def test_emr_extra_detail_only_when_asked(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    detail = [{"Title": "Nodes", "Detail": [{"PKey": "Added", "PValue": "1"}]}]
    cloud_emulator.add_execution(emr_flow("emr-abc", flow_id="1001", extra_detail=detail))
    plain = tc3_response(tc3_post(server, "emr", "DescribeClusterFlowStatusDetail", EMR_PARAMS))
    assert plain["FlowExtraDetail"] is None
    asked = {**EMR_PARAMS, "NeedExtraDetail": True}
    assert tc3_response(tc3_post(server, "emr", "DescribeClusterFlowStatusDetail", asked))["FlowExtraDetail"] == detail


def test_emr_failed_stage(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        emr_flow("emr-abc", flow_id="1001", phases=[EmrPhase(0, -1, "applyCvm", "CVM sold out in the zone")])
    )
    body = tc3_response(tc3_post(server, "emr", "DescribeClusterFlowStatusDetail", EMR_PARAMS))
    assert body["FlowTotalStatus"] == -1
    failed = [stage for stage in body["StageDetails"] if stage["Status"] == -1]
    assert [(s["Stage"], s["FailedReason"]) for s in failed] == [("applyCvm", "CVM sold out in the zone")]


def test_cynosdb_errors(server: EmulatorServer) -> None:
    assert (
        tc3_error(tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": 99})) == "InvalidParameterValue.FlowNotFound"
    )
    assert tc3_error(tc3_post(server, "cynosdb", "DescribeFlow", {"FlowId": "99"})) == "InvalidParameter"
    assert tc3_error(tc3_post(server, "cynosdb", "DescribeFlow", {})) == "MissingParameter"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"JobId": "job-1", "TaskName": "A"}, "InvalidParameter.JobIdMalformed"),
        ({"JobId": "job-zzzzzzzz", "TaskName": "A"}, "ResourceNotFound.Job"),
        ({"JobId": "job-abcdefgh", "TaskName": "B"}, "ResourceNotFound.Task"),
        ({"JobId": "job-abcdefgh"}, "MissingParameter"),
        ({"JobId": "job-abcdefgh", "TaskName": "A", "Limit": 1001}, "InvalidParameterValue"),
    ],
)
def test_batch_errors(
    server: EmulatorServer, cloud_emulator: CloudEmulator, params: dict[str, object], code: str
) -> None:
    cloud_emulator.add_execution(batch_task("job-abcdefgh", "A"))
    assert tc3_error(tc3_post(server, "batch", "DescribeTask", params)) == code


def test_batch_offset_limit_and_filters(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        batch_task(
            "job-abcdefgh",
            "A",
            [BatchPhase(0, "FAILED", failed_instances=[1, 3], exit_code=137, reason="OOM killed")],
            instance_count=5,
        )
    )
    page = tc3_response(
        tc3_post(server, "batch", "DescribeTask", {"JobId": "job-abcdefgh", "TaskName": "A", "Offset": 1, "Limit": 2})
    )
    assert page["TaskInstanceTotalCount"] == 5
    assert [i["TaskInstanceIndex"] for i in page["TaskInstanceSet"]] == [1, 2]
    failed_filter = [{"Name": "task-instance-state", "Values": ["FAILED"]}]
    failed = tc3_response(
        tc3_post(server, "batch", "DescribeTask", {"JobId": "job-abcdefgh", "TaskName": "A", "Filters": failed_filter})
    )
    assert failed["TaskInstanceTotalCount"] == 2
    assert {(i["ExitCode"], i["StateReason"]) for i in failed["TaskInstanceSet"]} == {(137, "OOM killed")}
