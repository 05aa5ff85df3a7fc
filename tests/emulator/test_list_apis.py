"""The emulator's list APIs: Tencent Batch ``DescribeJobs``, Huawei DWS cluster list, CloudFlow ``ListExecutions``.

Each is called through the vendor's official SDK (its signature, its model) and checked against the single
read beside it at the same instant: scripts change state only at whole minutes and the tests jump between
them with ``advance()``, so "the same instant" holds however slow the machine is.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from alibabacloud_fnf20190315 import models as fn_models
from alibabacloud_tea_openapi.exceptions import ClientException
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkdws.v2 import ClusterInfo, DwsClient, ListClusterDetailsRequest, ListClustersRequest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.signing.sdk_hmac import sdk_hmac_canonical_query, sign_sdk_hmac
from cloudflows_emulator import (
    DEFAULT_ALIBABA_CREDENTIALS,
    DEFAULT_HUAWEI_CREDENTIALS,
    DEFAULT_TENCENT_CREDENTIALS,
    CloudEmulator,
    EmulatorServer,
    cloudflow_execution,
    dws_cluster,
    dws_task,
)
from cloudflows_emulator.huawei import DEFAULT_PROJECT_ID, TRY_LATER, script_error
from cloudflows_emulator.tencent import plan_batch_job

from .helpers import HTTP, fnf_sdk, rpc_get, tc3_error, tc3_post, tc3_response, tencent_sdk

UNSPACED = (
    ("batch", "SubmitJob"),
    ("batch", "DescribeJob"),
    ("batch", "DescribeJobs"),
    ("dws", "ListClusters"),
    ("dws", "ListClusterDetails"),
    ("fnf", "DescribeExecution"),
    ("fnf", "ListExecutions"),
    ("fnf", "StartExecution"),
)


@pytest.fixture(autouse=True)
def _unspaced(server: EmulatorServer) -> None:
    """These tests send requests back to back: the documented quotas (a few per second) would throttle them.
    The fixture restores the quotas after the test."""
    for service, action in UNSPACED:
        server.emulator.set_rate_limit(service, action, None)


# --- Tencent Batch DescribeJobs ---------------------------------------------------------------------------

JOB_VIEW_FIELDS = {
    "JobId",
    "JobName",
    "JobState",
    "Priority",
    "Placement",
    "CreateTime",
    "EndTime",
    "TaskMetrics",
    "Tags",
}
TASK_METRICS = {
    "SubmittedCount",
    "PendingCount",
    "RunnableCount",
    "StartingCount",
    "RunningCount",
    "SucceedCount",
    "FailedInterruptedCount",
    "FailedCount",
}
SLOW_JOB = {"A": [(0, "SUBMITTED"), (60, "RUNNING"), (120, "SUCCEED")]}
FAILING_JOB = {"A": [(0, "RUNNING"), (60, "FAILED")]}


def _submit(server: EmulatorServer, name: str, *, zone: str = "ap-guangzhou-3", tags: Any = None) -> str:
    job: dict[str, Any] = {"JobName": name, "Tasks": [{"TaskName": "A"}]}
    if tags is not None:
        job["Tags"] = tags
    answer = tc3_response(tc3_post(server, "batch", "SubmitJob", {"Placement": {"Zone": zone}, "Job": job}))
    job_id: str = answer["JobId"]
    return job_id


def _describe_jobs(server: EmulatorServer, params: dict[str, Any]) -> dict[str, Any]:
    return tc3_response(tc3_post(server, "batch", "DescribeJobs", params))


def _describe_job(server: EmulatorServer, job_id: str) -> dict[str, Any]:
    return tc3_response(tc3_post(server, "batch", "DescribeJob", {"JobId": job_id}))


def test_the_official_batch_sdk_reads_describe_jobs_into_its_model_as_the_job_runs(server: EmulatorServer) -> None:
    batch_client = pytest.importorskip("tencentcloud.batch.v20170312.batch_client")
    models = pytest.importorskip("tencentcloud.batch.v20170312.models")
    plan_batch_job(server.emulator, SLOW_JOB, job_name="slow")
    job_id = _submit(server, "slow", tags=[{"Key": "team", "Value": "etl"}])
    sdk = tencent_sdk(server, "batch")
    client = batch_client.BatchClient(sdk.credential, "ap-guangzhou", sdk.profile)
    seen = []
    for _ in range(3):
        request = models.DescribeJobsRequest()
        request.JobIds = [job_id]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            response = client.DescribeJobs(request)
        # The SDK warns about every answered field its model lacks: none may be dropped.
        assert not [w for w in caught if "useless" in str(w.message)]
        assert response.TotalCount == 1
        view = response.JobSet[0]
        assert (view.JobId, view.JobName, view.Priority) == (job_id, "slow", 0)
        assert view.Placement.Zone == "ap-guangzhou-3"
        assert [(tag.Key, tag.Value) for tag in view.Tags] == [("team", "etl")]
        assert view.CreateTime.endswith("Z")
        seen.append((view.JobState, view.TaskMetrics.RunningCount, view.TaskMetrics.SucceedCount, view.EndTime))
        server.emulator.advance(60)
    assert [state for state, *_ in seen] == ["SUBMITTED", "RUNNING", "SUCCEED"]
    assert seen[1][1:3] == (1, 0) and seen[2][1:3] == (0, 1)
    assert seen[0][3] is None and seen[2][3] is not None


def test_an_sdk_signed_describe_jobs_answers_exactly_the_job_view_fields(server: EmulatorServer) -> None:
    job_id = _submit(server, "plain")
    answer = tencent_sdk(server, "batch").call_json("DescribeJobs", {"JobIds": [job_id], "Limit": 100})["Response"]
    assert set(answer) == {"JobSet", "TotalCount", "RequestId"}
    (view,) = answer["JobSet"]
    assert set(view) == JOB_VIEW_FIELDS
    assert set(view["TaskMetrics"]) == TASK_METRICS
    assert view["Placement"] == {"Zone": "ap-guangzhou-3", "ProjectId": 0}


def test_describe_jobs_agrees_with_describe_job_at_every_instant(server: EmulatorServer) -> None:
    plan_batch_job(server.emulator, SLOW_JOB, job_name="slow")
    plan_batch_job(server.emulator, FAILING_JOB, job_name="failing")
    ids = [_submit(server, "slow"), _submit(server, "failing"), _submit(server, "slow")]
    states = []
    for _ in range(3):
        listed = {view["JobId"]: view for view in _describe_jobs(server, {"JobIds": ids, "Limit": 100})["JobSet"]}
        for job_id in ids:
            single = _describe_job(server, job_id)
            view = listed[job_id]
            for field in ("JobName", "JobState", "Priority", "CreateTime", "EndTime", "TaskMetrics", "Tags"):
                assert view[field] == single[field], field
            assert view["Placement"]["Zone"] == single["Zone"]
        states.append([listed[job_id]["JobState"] for job_id in ids])
        server.emulator.advance(60)
    assert states == [
        ["SUBMITTED", "RUNNING", "SUBMITTED"],
        ["RUNNING", "FAILED", "RUNNING"],
        ["SUCCEED", "FAILED", "SUCCEED"],
    ]


def test_unknown_job_ids_are_absent_and_a_repeated_id_is_listed_once(server: EmulatorServer) -> None:
    job_id = _submit(server, "known")
    answer = _describe_jobs(server, {"JobIds": ["job-unknown1", job_id, job_id]})
    assert answer["TotalCount"] == 1
    assert [view["JobId"] for view in answer["JobSet"]] == [job_id]
    empty = _describe_jobs(server, {"JobIds": ["job-unknown1"]})
    assert (empty["JobSet"], empty["TotalCount"]) == ([], 0)
    assert tc3_error(tc3_post(server, "batch", "DescribeJobs", {"JobIds": ["not-a-job"]})) == (
        "InvalidParameter.JobIdMalformed"
    )


def test_at_most_100_job_ids_are_read_in_one_call(server: EmulatorServer) -> None:
    job_id = _submit(server, "one")
    hundred = [job_id] + [f"job-{n:08d}" for n in range(99)]
    answer = _describe_jobs(server, {"JobIds": hundred, "Limit": 100})
    assert [view["JobId"] for view in answer["JobSet"]] == [job_id]
    too_many = [*hundred, "job-zzzzzzzz"]
    assert tc3_error(tc3_post(server, "batch", "DescribeJobs", {"JobIds": too_many})) == (
        "InvalidParameterValue.LimitExceeded"
    )
    assert server.emulator.count("batch", "DescribeJobs", error="InvalidParameterValue.LimitExceeded") == 1


def test_job_ids_and_filters_together_are_refused(server: EmulatorServer) -> None:
    job_id = _submit(server, "one")
    params = {"JobIds": [job_id], "Filters": [{"Name": "job-name", "Values": ["one"]}]}
    assert tc3_error(tc3_post(server, "batch", "DescribeJobs", params)) == (
        "InvalidParameter.InvalidParameterCombination"
    )


def test_offset_and_limit_page_the_jobs_newest_first(server: EmulatorServer) -> None:
    ids = [_submit(server, f"job{n}") for n in range(25)]
    first = _describe_jobs(server, {})
    assert first["TotalCount"] == 25
    assert [view["JobId"] for view in first["JobSet"]] == ids[::-1][:20]  # default Limit 20
    pages = []
    for offset in range(0, 25, 10):
        page = _describe_jobs(server, {"Offset": offset, "Limit": 10})
        assert page["TotalCount"] == 25
        pages += [view["JobId"] for view in page["JobSet"]]
    assert pages == ids[::-1]
    # Limit pages a JobIds request too.
    assert len(_describe_jobs(server, {"JobIds": ids})["JobSet"]) == 20
    assert len(_describe_jobs(server, {"JobIds": ids, "Limit": 25})["JobSet"]) == 25
    assert tc3_error(tc3_post(server, "batch", "DescribeJobs", {"Limit": 101})) == "InvalidParameterValue.LimitExceeded"
    assert tc3_error(tc3_post(server, "batch", "DescribeJobs", {"Offset": -1})) == "InvalidParameterValue"


def test_filters_narrow_by_state_name_zone_and_tag(server: EmulatorServer) -> None:
    plan_batch_job(server.emulator, SLOW_JOB, job_name="slow")
    slow = _submit(server, "slow", tags=[{"Key": "team", "Value": "etl"}])
    other = _submit(server, "other", zone="ap-guangzhou-4", tags=[{"Key": "team", "Value": "bi"}])
    server.emulator.advance(5)  # "other" runs the default script: SUCCEED after 2 s; "slow" is SUBMITTED

    def listed(*filters: tuple[str, list[str]]) -> list[str]:
        params = {"Filters": [{"Name": name, "Values": values} for name, values in filters], "Limit": 100}
        return sorted(view["JobId"] for view in _describe_jobs(server, params)["JobSet"])

    assert listed(("job-state", ["SUBMITTED"])) == [slow]
    assert listed(("job-state", ["SUBMITTED", "SUCCEED"])) == sorted([slow, other])
    assert listed(("job-name", ["other"])) == [other]
    assert listed(("job-id", [slow])) == [slow]
    assert listed(("zone", ["ap-guangzhou-4"])) == [other]
    assert listed(("tag-key", ["team"])) == sorted([slow, other])
    assert listed(("tag-value", ["etl"])) == [slow]
    assert listed(("tag:team", ["bi"])) == [other]
    assert listed(("tag-key", ["team"]), ("job-state", ["SUCCEED"])) == [other]  # filters AND together
    for bad in ({"Name": "job-colour", "Values": ["red"]}, {"Name": "job-state", "Values": ["DONE"]}):
        assert tc3_error(tc3_post(server, "batch", "DescribeJobs", {"Filters": [bad]})) == (
            "InvalidParameterValue.InvalidFilter"
        )


def test_describe_jobs_is_logged_verified_and_takes_injected_faults(server: EmulatorServer) -> None:
    emulator: CloudEmulator = server.emulator
    job_id = _submit(server, "one")
    emulator.inject("throttle", service="batch", action="DescribeJobs")
    assert tc3_error(tc3_post(server, "batch", "DescribeJobs", {"JobIds": [job_id]})) == "RequestLimitExceeded"
    assert _describe_jobs(server, {"JobIds": [job_id]})["TotalCount"] == 1
    assert emulator.count("batch", "DescribeJobs") == 2
    assert emulator.count("batch", "DescribeJobs", ok=True) == 1
    wrong = tencent_sdk(server, "batch", creds=Credentials(DEFAULT_TENCENT_CREDENTIALS.key_id, "not-the-secret"))
    with pytest.raises(TencentCloudSDKException) as info:
        wrong.call_json("DescribeJobs", {"JobIds": [job_id]})
    assert info.value.code == "AuthFailure.SignatureFailure"


# --- Huawei DWS cluster list ------------------------------------------------------------------------------

PROJECT = DEFAULT_PROJECT_ID
SNAPSHOTTING = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
GROWING = "0b3e5c1a-6d7f-4a8b-9c0d-1e2f3a4b5c6d"
IDLE = "3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f"
CLUSTER_INFO_FIELDS = set(ClusterInfo.attribute_map.values())


def _dws_sdk(server: EmulatorServer, project: str = PROJECT) -> DwsClient:
    """The official DWS client over plain HTTP."""
    creds = DEFAULT_HUAWEI_CREDENTIALS
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    client: DwsClient = (
        DwsClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(creds.key_id, creds.secret, project))
        .with_endpoint(server.url)
        .build()
    )
    return client


def _dws_get(server: EmulatorServer, path: str, query: list[tuple[str, str]] | None = None) -> httpx.Response:
    """A GET signed by the provider's own signer, for the raw JSON of an answer."""
    query = query or []
    headers = sign_sdk_hmac(
        DEFAULT_HUAWEI_CREDENTIALS,
        method="GET",
        host=server.endpoint,
        path=path,
        query=query,
        headers={"Content-Type": "application/json", "X-Project-Id": PROJECT},
        body=b"",
        timestamp=datetime.now(timezone.utc),
    )
    suffix = "?" + sdk_hmac_canonical_query(query) if query else ""
    return HTTP.get(server.url + path + suffix, headers=headers)


def _dws_clusters(emulator: CloudEmulator) -> None:
    """A snapshot at 35 % then 70 %, done at 120 s; a resize that fails at 60 s; an idle cluster."""
    emulator.add_executions(
        [
            dws_task(SNAPSHOTTING, "SNAPSHOTTING", [(0, "RUNNING", 35), (60, "RUNNING", 70)], end_at=120),
            dws_task(GROWING, "GROWING", [(0, "RUNNING", 50)], end="failed", end_at=60),
            dws_cluster(IDLE, cluster_name="idle_cluster"),
        ]
    )


def test_the_official_dws_sdk_reads_the_cluster_list_into_its_model_as_tasks_run(server: EmulatorServer) -> None:
    _dws_clusters(server.emulator)
    client = _dws_sdk(server)
    seen = []
    for _ in range(3):
        response = client.list_clusters(ListClustersRequest())
        assert response.count == 3 and len(response.clusters) == 3
        by_id = {info.id: info for info in response.clusters}
        assert set(by_id) == {SNAPSHOTTING, GROWING, IDLE}
        assert all(isinstance(info, ClusterInfo) and info.status == "AVAILABLE" for info in response.clusters)
        seen.append({cluster_id: (info.task_status, info.action_progress) for cluster_id, info in by_id.items()})
        failed = by_id[GROWING].failed_reasons
        server.emulator.advance(60)
    assert [state[SNAPSHOTTING] for state in seen] == [
        ("SNAPSHOTTING", {"SNAPSHOTTING": "35%"}),
        ("SNAPSHOTTING", {"SNAPSHOTTING": "70%"}),
        (None, {}),
    ]
    assert [state[GROWING] for state in seen] == [
        ("GROWING", {"GROWING": "50%"}),
        ("RESIZE_FAILURE", {}),
        ("RESIZE_FAILURE", {}),
    ]
    assert failed is not None and failed.error_code == "DWS.9999"
    assert all(state[IDLE] == (None, {}) for state in seen)


def test_each_listed_cluster_carries_exactly_the_cluster_info_fields(server: EmulatorServer) -> None:
    _dws_clusters(server.emulator)
    response = _dws_get(server, f"/v1.0/{PROJECT}/clusters")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"clusters", "count"} and body["count"] == 3
    for info in body["clusters"]:
        assert set(info) == CLUSTER_INFO_FIELDS
    # The SDK keeps every field it was sent.
    listed = _dws_sdk(server).list_clusters(ListClustersRequest()).clusters
    assert sorted((info.to_dict() for info in listed), key=lambda info: info["id"]) == sorted(
        (ClusterInfo(**info).to_dict() for info in body["clusters"]), key=lambda info: info["id"]
    )


def test_the_cluster_list_agrees_with_the_cluster_detail_at_every_instant(server: EmulatorServer) -> None:
    _dws_clusters(server.emulator)
    client = _dws_sdk(server)
    for _ in range(3):
        listed = {info.id: info for info in client.list_clusters(ListClustersRequest()).clusters}
        for cluster_id, info in listed.items():
            detail = client.list_cluster_details(ListClusterDetailsRequest(cluster_id=cluster_id)).cluster
            for field in ClusterInfo.openapi_types:
                assert getattr(info, field) == getattr(detail, field), field
        server.emulator.advance(60)


def test_the_cluster_list_is_empty_without_clusters_and_filters_by_enterprise_project(
    server: EmulatorServer,
) -> None:
    client = _dws_sdk(server)
    empty = client.list_clusters(ListClustersRequest())
    assert (empty.clusters, empty.count) == ([], 0)
    _dws_clusters(server.emulator)
    assert client.list_clusters(ListClustersRequest(enterprise_project_id="0")).count == 3
    assert client.list_clusters(ListClustersRequest(enterprise_project_id="all_granted_eps")).count == 3
    other = client.list_clusters(ListClustersRequest(enterprise_project_id="aa2a3d7e-0d0c-4c4b-8a8d-2f1d5b6c7e8f"))
    assert (other.clusters, other.count) == ([], 0)


def test_the_cluster_list_is_verified_logged_and_takes_faults(server: EmulatorServer) -> None:
    emulator: CloudEmulator = server.emulator
    _dws_clusters(emulator)
    client = _dws_sdk(server)
    emulator.inject("internal_error", service="dws", action="ListClusters")
    with pytest.raises(ServerResponseException) as info:
        client.list_clusters(ListClustersRequest())
    assert (info.value.status_code, info.value.error_code) == (500, "DWS.0005")
    script_error(emulator, *TRY_LATER, action="ListClusters")
    with pytest.raises(ClientRequestException) as info:
        client.list_clusters(ListClustersRequest())
    assert (info.value.status_code, info.value.error_code) == (409, "DWS.0011")
    assert client.list_clusters(ListClustersRequest()).count == 3
    assert emulator.count("dws", "ListClusters") == 3
    assert emulator.count("dws", "ListClusters", ok=True) == 1
    with pytest.raises(ClientRequestException) as info:
        _dws_sdk(server, project="0a1b2c3d4e5f60718293a4b5c6d7e8f9").list_clusters(ListClustersRequest())
    assert (info.value.status_code, info.value.error_code) == (403, "APIG.0302")


# --- Alibaba CloudFlow ListExecutions ---------------------------------------------------------------------

LIST_ITEM_FIELDS = {"Name", "FlowName", "Status", "StartedTime", "StoppedTime", "Input", "Output", "FlowDefinition"}


def _runs(emulator: CloudEmulator, flow: str, count: int, phases: Any = None, *, prefix: str = "run") -> list[str]:
    """``count`` executions of ``flow`` started one second apart, named so that name order is start order
    reversed (the listing must follow start time, not names)."""
    names = [f"{prefix}{count - n:03d}" for n in range(count)]
    for offset, name in enumerate(names):
        steps = phases or [(0, "Running"), (60, "Succeeded")]
        # The first phase's offset sets StartedTime (it applies from time zero all the same).
        shifted = [(offset if n == 0 else at, status) for n, (at, status) in enumerate(steps)]
        emulator.add_execution(cloudflow_execution(flow, name, shifted, output={"n": offset}))
    return names


def _list(server: EmulatorServer, params: dict[str, str]) -> dict[str, Any]:
    response = rpc_get(server, "ListExecutions", params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _list_error(server: EmulatorServer, params: dict[str, str]) -> tuple[int, str]:
    response = rpc_get(server, "ListExecutions", params)
    return response.status_code, response.json()["Code"]


@pytest.mark.parametrize("v3", [False, True], ids=["rpc-v2", "acs3"])
def test_the_official_fnf_sdk_reads_list_executions_into_its_model_as_executions_run(
    server: EmulatorServer, v3: bool
) -> None:
    emulator: CloudEmulator = server.emulator
    emulator.add_executions(
        [
            cloudflow_execution("etl", "ok", [(0, "Running"), (60, "Succeeded")], output={"rows": 3}),
            cloudflow_execution("etl", "bad", [(0, "Running"), (60, "Failed")]),
            cloudflow_execution("etl", "long", [(0, "Running"), (120, "Succeeded")]),
        ]
    )
    client = fnf_sdk(server, v3=v3)
    seen = []
    for _ in range(3):
        body = client.list_executions(fn_models.ListExecutionsRequest(flow_name="etl")).body
        assert body.next_token is None
        by_name = {item.name: item for item in body.executions}
        assert set(by_name) == {"ok", "bad", "long"}
        assert all(item.flow_name == "etl" and item.started_time for item in body.executions)
        seen.append({name: item.status for name, item in by_name.items()})
        output = by_name["ok"].output
        emulator.advance(60)
    assert seen == [
        {"ok": "Running", "bad": "Running", "long": "Running"},
        {"ok": "Succeeded", "bad": "Failed", "long": "Running"},
        {"ok": "Succeeded", "bad": "Failed", "long": "Succeeded"},
    ]
    assert json.loads(output) == {"rows": 3}
    # The model keeps every field that was sent.
    raw = _list(server, {"FlowName": "etl"})
    again = client.list_executions(fn_models.ListExecutionsRequest(flow_name="etl")).body.to_map()
    assert again["Executions"] == raw["Executions"]
    assert all(set(item) == LIST_ITEM_FIELDS for item in raw["Executions"])


def test_list_executions_agrees_with_describe_execution_at_every_instant(server: EmulatorServer) -> None:
    emulator: CloudEmulator = server.emulator
    names = _runs(emulator, "etl", 3, [(0, "Starting"), (60, "Running"), (120, "Succeeded")])
    emulator.add_execution(cloudflow_execution("etl", "stops", [(0, "Running"), (60, "Stopped")]))
    client = fnf_sdk(server)
    for _ in range(3):
        listed = client.list_executions(fn_models.ListExecutionsRequest(flow_name="etl")).body.to_map()["Executions"]
        assert [item["Name"] for item in listed if item["Name"] != "stops"] == names
        for item in listed:
            request = fn_models.DescribeExecutionRequest(flow_name="etl", execution_name=item["Name"])
            single = client.describe_execution(request).body.to_map()
            assert item == {name: single[name] for name in LIST_ITEM_FIELDS}
        emulator.advance(60)


def test_next_token_pages_in_start_order_and_new_executions_come_last(server: EmulatorServer) -> None:
    emulator: CloudEmulator = server.emulator
    names = _runs(emulator, "etl", 7)
    pages: list[list[str]] = []
    tokens: list[str] = []
    while True:
        params = {"FlowName": "etl", "Limit": "3"} | ({"NextToken": tokens[-1]} if tokens else {})
        body = _list(server, params)
        pages.append([item["Name"] for item in body["Executions"]])
        if len(pages) == 1:
            # Started after the first page was read (a minute after the others): listed at the end, and the
            # pages still to read do not shift.
            emulator.add_execution(cloudflow_execution("etl", "late", [(60, "Running"), (120, "Succeeded")]))
        if "NextToken" not in body:
            break
        tokens.append(body["NextToken"])
    assert pages == [names[0:3], names[3:6], [names[6], "late"]]
    # The token names the execution the next page starts with, as documented.
    assert tokens == [page[0] for page in pages[1:]]
    assert len(_list(server, {"FlowName": "etl"})["Executions"]) == 8


def test_limit_is_1_to_100_and_60_by_default(server: EmulatorServer) -> None:
    emulator: CloudEmulator = server.emulator
    names = _runs(emulator, "big", 61)
    first = _list(server, {"FlowName": "big"})
    assert [item["Name"] for item in first["Executions"]] == names[:60]
    assert first["NextToken"] == names[60]
    assert len(_list(server, {"FlowName": "big", "Limit": "100"})["Executions"]) == 61
    for bad in ("0", "101", "many"):
        assert _list_error(server, {"FlowName": "big", "Limit": bad}) == (400, "InvalidArgument")
    assert _list_error(server, {"FlowName": "big", "NextToken": "nobody"}) == (400, "InvalidArgument")


def test_filters_narrow_by_status_name_prefix_and_start_time(server: EmulatorServer) -> None:
    emulator: CloudEmulator = server.emulator
    runs = _runs(emulator, "etl", 3, [(0, "Running"), (60, "Succeeded")])
    fails = _runs(emulator, "etl", 2, [(0, "Running"), (60, "Failed")], prefix="fail")
    emulator.advance(60)

    def names(**params: str) -> list[str]:
        return [item["Name"] for item in _list(server, {"FlowName": "etl", **params})["Executions"]]

    assert sorted(names(Status="Failed")) == sorted(fails)
    assert sorted(names(Status="Succeeded")) == sorted(runs)
    assert names(Status="Running") == []
    assert sorted(names(ExecutionNamePrefix="fail")) == sorted(fails)
    started = {item["Name"]: item["StartedTime"] for item in _list(server, {"FlowName": "etl"})["Executions"]}
    middle = started[runs[1]]
    assert set(names(StartedTimeBegin=middle)) == {name for name, at in started.items() if at >= middle}
    assert set(names(StartedTimeEnd=middle)) == {name for name, at in started.items() if at <= middle}
    assert names(StartedTimeBegin=middle, StartedTimeEnd=middle, ExecutionNamePrefix="run") == [runs[1]]
    assert names(StartedTimeBegin="2000-01-01T00:00:00Z", StartedTimeEnd="2000-01-02T00:00:00Z") == []
    for bad in ({"Status": "Done"}, {"StartedTimeBegin": "yesterday"}, {"StartedTimeEnd": "2020-12-02T02:39:20"}):
        assert _list_error(server, {"FlowName": "etl", **bad}) == (400, "InvalidArgument")


def test_metadata_only_leaves_out_definition_input_and_output(server: EmulatorServer) -> None:
    _runs(server.emulator, "etl", 2)
    client = fnf_sdk(server)
    full = client.list_executions(fn_models.ListExecutionsRequest(flow_name="etl", metadata_only=False)).body
    assert all(item.flow_definition and item.input for item in full.executions)
    meta = client.list_executions(fn_models.ListExecutionsRequest(flow_name="etl", metadata_only=True)).body
    for item in meta.to_map()["Executions"]:
        assert set(item) == LIST_ITEM_FIELDS - {"FlowDefinition", "Input", "Output"}


def test_an_unknown_flow_is_flow_not_exists_and_flow_name_is_required(server: EmulatorServer) -> None:
    _runs(server.emulator, "etl", 1)
    assert _list_error(server, {"FlowName": "nightly"}) == (404, "FlowNotExists")
    assert _list_error(server, {}) == (400, "MissingRequiredParams")
    assert _list_error(server, {"FlowName": "9bad"}) == (400, "InvalidArgument")


def test_list_executions_is_verified_logged_and_takes_injected_faults(server: EmulatorServer) -> None:
    emulator: CloudEmulator = server.emulator
    _runs(emulator, "etl", 2)
    emulator.inject("throttle", service="fnf", action="ListExecutions")
    assert _list_error(server, {"FlowName": "etl"}) == (429, "Throttling.User")
    assert len(_list(server, {"FlowName": "etl"})["Executions"]) == 2
    assert emulator.count("fnf", "ListExecutions") == 2
    assert emulator.count("fnf", "ListExecutions", ok=True) == 1
    wrong = fnf_sdk(server, creds=Credentials(DEFAULT_ALIBABA_CREDENTIALS.key_id, "not-the-secret"))
    with pytest.raises(ClientException) as info:
        wrong.list_executions(fn_models.ListExecutionsRequest(flow_name="etl"))
    assert (info.value.status_code, info.value.code) == (403, "SignatureDoesNotMatch")
