"""The emulator's list APIs: Tencent Batch ``DescribeJobs``, Huawei DWS cluster list, CloudFlow ``ListExecutions``.

Each is called through the vendor's official SDK (its signature, its model) and checked against the single
read beside it at the same instant: scripts change state only at whole minutes and the tests jump between
them with ``advance()``, so "the same instant" holds however slow the machine is.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkdws.v2 import ClusterInfo, DwsClient, ListClusterDetailsRequest, ListClustersRequest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.emulator import (
    DEFAULT_HUAWEI_CREDENTIALS,
    DEFAULT_TENCENT_CREDENTIALS,
    CloudEmulator,
    EmulatorServer,
    dws_cluster,
    dws_task,
)
from airflow_provider_cloudflows.emulator.batch_jobs import plan_batch_job
from airflow_provider_cloudflows.emulator.dws import TRY_LATER
from airflow_provider_cloudflows.emulator.huawei import DEFAULT_PROJECT_ID, script_error
from airflow_provider_cloudflows.signing.sdk_hmac import sdk_hmac_canonical_query, sign_sdk_hmac

from .helpers import HTTP, tc3_error, tc3_post, tc3_response, tencent_sdk

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
