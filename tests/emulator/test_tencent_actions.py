"""The emulator's Tencent write actions over real HTTP: signatures, ClientToken idempotency, TerminateJob
semantics, rate limits, faults and the stopped marker visible through the control API."""

from __future__ import annotations

import time

import httpx

from airflow_provider_cloudflows.credentials import Credentials
from cloudflows_emulator import DEFAULT_TENCENT_CREDENTIALS, CloudEmulator, EmulatorServer
from cloudflows_emulator.tencent import plan_batch_job
from tests.emulator.helpers import tc3_error, tc3_post, tc3_response

JOB = {"Placement": {"Zone": "ap-guangzhou-3"}, "Job": {"JobName": "j", "Tasks": [{"TaskName": "A"}]}}
SCALE = {"InstanceId": "emr-1", "InstanceChargeType": "POSTPAID_BY_HOUR"}
SCALE["ScaleOutNodeConfig"] = {"NodeFlag": "TASK", "NodeCount": 2}


def test_writes_verify_the_signature(server: EmulatorServer) -> None:
    wrong = Credentials(DEFAULT_TENCENT_CREDENTIALS.key_id, "not-the-secret")
    for service, action, params in (
        ("batch", "SubmitJob", JOB),
        ("emr", "ScaleOutCluster", SCALE),
        ("cynosdb", "PauseServerless", {"ClusterId": "c"}),
    ):
        assert tc3_error(tc3_post(server, service, action, params, creds=wrong)) == "AuthFailure.SignatureFailure"
    assert server.emulator.executions == []


def test_client_token_returns_the_same_job_and_flow(server: EmulatorServer) -> None:
    first = tc3_response(tc3_post(server, "batch", "SubmitJob", {**JOB, "ClientToken": "t-1"}))["JobId"]
    again = tc3_response(tc3_post(server, "batch", "SubmitJob", {**JOB, "ClientToken": "t-1"}))["JobId"]
    other = tc3_response(tc3_post(server, "batch", "SubmitJob", {**JOB, "ClientToken": "t-2"}))["JobId"]
    assert first == again != other
    untokened = {tc3_response(tc3_post(server, "cynosdb", "CreateBackup", {"ClusterId": "c"}))["FlowId"] for _ in "ab"}
    assert len(untokened) == 2  # no ClientToken: every call starts a flow
    one = tc3_response(tc3_post(server, "emr", "ScaleOutCluster", {**SCALE, "ClientToken": "t-3"}))
    two = tc3_response(tc3_post(server, "emr", "ScaleOutCluster", {**SCALE, "ClientToken": "t-3"}))
    assert (one["FlowId"], one["TraceId"]) == (two["FlowId"], two["TraceId"])
    status = tc3_response(
        tc3_post(
            server,
            "emr",
            "DescribeClusterFlowStatusDetail",
            {"InstanceId": "emr-1", "FlowParam": {"FKey": "TraceId", "FValue": one["TraceId"]}},
        )
    )
    assert status["FlowTotalStatus"] in (0, 1, 2)


def test_emr_client_token_expires_after_five_minutes(server: EmulatorServer) -> None:
    one = tc3_response(tc3_post(server, "emr", "ScaleOutCluster", {**SCALE, "ClientToken": "t"}))["FlowId"]
    tokens = server.emulator.scratch("emr")["tokens"]
    tokens["t"] = (tokens["t"][0] - 301, tokens["t"][1])
    assert tc3_response(tc3_post(server, "emr", "ScaleOutCluster", {**SCALE, "ClientToken": "t"}))["FlowId"] != one


def test_terminate_is_refused_while_submitted_then_stops_the_job(server: EmulatorServer) -> None:
    emulator = server.emulator
    plan_batch_job(emulator, {"A": [(0, "SUBMITTED"), (0.6, "RUNNING"), (60, "SUCCEED")]})
    job_id = tc3_response(tc3_post(server, "batch", "SubmitJob", JOB))["JobId"]
    assert tc3_error(tc3_post(server, "batch", "TerminateJob", {"JobId": job_id})) == "UnsupportedOperation"
    time.sleep(0.7)
    assert "Error" not in tc3_response(tc3_post(server, "batch", "TerminateJob", {"JobId": job_id}))
    time.sleep(0.6)
    job = tc3_response(tc3_post(server, "batch", "DescribeJob", {"JobId": job_id}))
    assert job["JobState"] == "FAILED" and "TerminateJob" in job["StateReason"]
    listed = httpx.get(server.url + "/_emulator/executions").json()["executions"]
    assert [e["stopped_at"] is not None for e in listed if e["key"][0] == job_id] == [True]
    logs = tc3_response(tc3_post(server, "batch", "DescribeTaskLogs", {"JobId": job_id, "TaskName": "A"}))
    assert logs["TotalCount"] == 1 and logs["TaskInstanceLogSet"][0]["StderrLog"]


def test_terminate_after_success_is_a_no_op(server: EmulatorServer) -> None:
    plan_batch_job(server.emulator, {"A": [(0, "SUCCEED")]})
    job_id = tc3_response(tc3_post(server, "batch", "SubmitJob", JOB))["JobId"]
    assert "Error" not in tc3_response(tc3_post(server, "batch", "TerminateJob", {"JobId": job_id}))
    assert tc3_response(tc3_post(server, "batch", "DescribeJob", {"JobId": job_id}))["JobState"] == "SUCCEED"
    assert all(e.stopped_at is None for e in server.emulator.executions)


def test_documented_rate_limit_and_faults_apply(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    job_id = tc3_response(tc3_post(server, "batch", "SubmitJob", JOB))["JobId"]
    codes = [tc3_response(tc3_post(server, "batch", "DescribeJob", {"JobId": job_id})).get("Error") for _ in range(3)]
    assert [c["Code"] if c else None for c in codes] == [None, None, "RequestLimitExceeded"]  # 2 per second
    cloud_emulator.inject("internal_error", service="batch", action="SubmitJob")
    assert tc3_error(tc3_post(server, "batch", "SubmitJob", JOB)) == "InternalError"
    cloud_emulator.set_rate_limit("batch", "DescribeJob", None)
    assert tc3_error(tc3_post(server, "batch", "DescribeJob", {"JobId": "job-zzzzzzzz"})) == "ResourceNotFound.Job"
