"""Huawei DWS: the official SDK against the emulator, SDK-HMAC-SHA256 verification, the views, faults."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkdws.v2 import DwsClient, ListClusterActionsRequest, ListClusterDetailsRequest

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.limits import QUOTAS
from airflow_provider_cloudflows.signing.sdk_hmac import encode_path, sign_sdk_hmac
from cloudflows_emulator import (
    DEFAULT_HUAWEI_CREDENTIALS,
    CloudEmulator,
    DwsPhase,
    EmulatorServer,
    dws_cluster,
    dws_task,
    load_example,
)
from cloudflows_emulator.huawei import ACTION_NAMES, FAILURE_VIEWS, dws_answer, dws_record

from .helpers import HTTP

PROJECT = "05f2cff45100d5112f4bc00b794ea08e"
CLUSTER = "9f76c502-fc9c-4a52-8656-65d0da6e3d57"
OTHER_CLUSTER = "0b3e5c1a-6d7f-4a8b-9c0d-1e2f3a4b5c6d"
ACTIONS_PATH = "/v1/{project_id}/clusters/{cluster_id}/actions/{action_name}"
DETAIL_PATH = "/v1.0/{project_id}/clusters/{cluster_id}"
WRONG_SECRET = Credentials(DEFAULT_HUAWEI_CREDENTIALS.key_id, "not-the-secret")


# --- clients ------------------------------------------------------------------------------------------


def sdk(server: EmulatorServer, creds: Credentials = DEFAULT_HUAWEI_CREDENTIALS, project: str = PROJECT) -> DwsClient:
    """The official DWS client over plain HTTP: an ``http://`` endpoint is kept as is by the SDK's builder."""
    credentials = BasicCredentials(creds.key_id, creds.secret, project)
    if creds.token:
        credentials.security_token = creds.token
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True
    config.timeout = (5, 10)
    client: DwsClient = (
        DwsClient.new_builder().with_http_config(config).with_credentials(credentials).with_endpoint(server.url).build()
    )
    return client


def actions(client: DwsClient, action: str = "SNAPSHOTTING", cluster: str = CLUSTER) -> Any:
    return client.list_cluster_actions(ListClusterActionsRequest(cluster_id=cluster, action_name=action))


def details(client: DwsClient, cluster: str = CLUSTER) -> Any:
    return client.list_cluster_details(ListClusterDetailsRequest(cluster_id=cluster))


def sdk_error(call: Any, *args: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call(*args)
    return info.value


def hw_get(
    server: EmulatorServer,
    template: str,
    *,
    creds: Credentials = DEFAULT_HUAWEI_CREDENTIALS,
    project: str = PROJECT,
    header_project: str | None = PROJECT,
    timestamp: datetime | None = None,
    sent_path: str | None = None,
    drop: tuple[str, ...] = (),
    **params: str,
) -> httpx.Response:
    """A GET signed by our own signer (as the provider's transport sends it), optionally tampered with."""
    path = encode_path(template, {"project_id": project, **params})
    headers = {"Content-Type": "application/json"}
    if header_project is not None:
        headers["X-Project-Id"] = header_project
    signed = sign_sdk_hmac(
        creds,
        method="GET",
        host=server.endpoint,
        path=path,
        query=[],
        headers=headers,
        body=b"",
        timestamp=timestamp or datetime.now(timezone.utc),
    )
    for name in drop:
        signed.pop(name)
    return HTTP.get(server.url + (sent_path or path), headers=signed)


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    """HTTP status, error_code and error_msg of a Huawei error reply (which always carries X-Request-Id)."""
    assert uuid.UUID(response.headers["x-request-id"])
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}, body
    return response.status_code, body["error_code"], body["error_msg"]


def inner_detail(sub_item: Mapping[str, Any]) -> dict[str, Any]:
    """The progressInfo JSON nested, escaped, inside a sub-item's ``detail``."""
    info: dict[str, Any] = json.loads(json.loads(sub_item["detail"])["progressInfo"])
    return info


@pytest.fixture
def task(cloud_emulator: CloudEmulator) -> CloudEmulator:
    """A snapshot running at 35 % that ends (by default successfully) after 1 s of script."""
    cloud_emulator.add_execution(dws_task(CLUSTER, "SNAPSHOTTING", [(0, "RUNNING", 35)], end_at=1.0))
    return cloud_emulator


# --- the official SDK ---------------------------------------------------------------------------------


def test_sdk_reads_an_ongoing_task_and_the_cluster(server: EmulatorServer, task: CloudEmulator) -> None:
    client = sdk(server)
    record = actions(client)
    assert (record.status, record.action_name, record.cluster_name) == ("RUNNING", "SNAPSHOTTING", "cluster_779")
    (item,) = record.items
    (sub,) = item.sub_items
    assert (item.item_name, sub.sub_item_name, sub.status) == ("Create a snapshot", "Perform a backup", "RUNNING")
    assert inner_detail(sub.to_dict())["progress"] == "35.00%"
    cluster = details(client).cluster
    assert (cluster.id, cluster.status, cluster.task_status) == (CLUSTER, "AVAILABLE", "SNAPSHOTTING")
    assert cluster.action_progress == {"SNAPSHOTTING": "35%"}
    # Only this test's services: a late poll of an earlier test on this worker's server may be logged too.
    assert [(r.service, r.action, r.key, r.status) for r in task.requests if r.service == "dws"] == [
        ("dws", "ListClusterActions", (CLUSTER,), 200),
        ("dws", "ListClusterDetails", (CLUSTER,), 200),
    ]
    assert task.requests[0].key_id == DEFAULT_HUAWEI_CREDENTIALS.key_id


def test_sdk_wrong_secret_is_apig_0301(server: EmulatorServer, task: CloudEmulator) -> None:
    error = sdk_error(actions, sdk(server, WRONG_SECRET))
    assert (error.status_code, error.error_code) == (401, "APIG.0301")
    assert "verify aksk signature fail" in error.error_msg
    assert uuid.UUID(error.request_id)
    # Rejected before the operation: the scripted clock has not started.
    execution = task.get_execution("dws", (CLUSTER,))
    assert execution is not None
    assert execution.started_at is None


def test_sdk_temporary_key_needs_its_token(server: EmulatorServer, task: CloudEmulator) -> None:
    task.add_credentials("huawei", "HWTEMPORARYAK001", "temp-secret", token="sts-token/with=chars")
    assert actions(sdk(server, Credentials("HWTEMPORARYAK001", "temp-secret", "sts-token/with=chars"))).status
    for token in (None, "another-token"):
        error = sdk_error(actions, sdk(server, Credentials("HWTEMPORARYAK001", "temp-secret", token)))
        assert (error.status_code, error.error_code) == (401, "APIG.0301")


def test_sdk_unknown_cluster_is_dws_0047_on_both_routes(server: EmulatorServer, task: CloudEmulator) -> None:
    client = sdk(server)
    for error in (sdk_error(actions, client, "SNAPSHOTTING", OTHER_CLUSTER), sdk_error(details, client, OTHER_CLUSTER)):
        assert (error.status_code, error.error_code) == (401, "DWS.0047")
        assert error.error_msg == "Cluster does not exist or has been deleted."


def test_sdk_bad_action_name_is_dws_0001(server: EmulatorServer, task: CloudEmulator) -> None:
    error = sdk_error(actions, sdk(server), "RESIZING")
    assert (error.status_code, error.error_code) == (400, "DWS.0001")
    assert "action_name" in error.error_msg


# --- verification -------------------------------------------------------------------------------------


def test_unknown_key_missing_or_tampered_signature(server: EmulatorServer, task: CloudEmulator) -> None:
    unknown = hw_get(server, DETAIL_PATH, creds=Credentials("HWNOSUCHKEY", "x"), cluster_id=CLUSTER)
    assert error_of(unknown)[:2] == (401, "APIG.0301")
    unsigned = hw_get(server, DETAIL_PATH, drop=("Authorization",), cluster_id=CLUSTER)
    assert error_of(unsigned)[:2] == (401, "APIG.0301")
    # Signed for one cluster, sent for another: the path is part of the signature.
    other = encode_path(DETAIL_PATH, {"project_id": PROJECT, "cluster_id": OTHER_CLUSTER})
    tampered = hw_get(server, DETAIL_PATH, sent_path=other, cluster_id=CLUSTER)
    assert error_of(tampered)[:2] == (401, "APIG.0301")
    assert hw_get(server, DETAIL_PATH, cluster_id=CLUSTER).status_code == 200
    assert task.count("dws", error="APIG.0301") == 3


@pytest.mark.parametrize("minutes", [-16, 16])
def test_skewed_sdk_date_is_expired(server: EmulatorServer, task: CloudEmulator, minutes: int) -> None:
    when = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    status, code, message = error_of(hw_get(server, DETAIL_PATH, timestamp=when, cluster_id=CLUSTER))
    assert (status, code) == (401, "APIG.0301")
    assert "expired" in message
    fine = datetime.now(timezone.utc) - timedelta(minutes=14)
    assert hw_get(server, DETAIL_PATH, timestamp=fine, cluster_id=CLUSTER).status_code == 200


def test_the_raw_path_is_verified(server: EmulatorServer, task: CloudEmulator) -> None:
    # "%41" is sent as "%2541": verified from the raw path it passes (then fails as a non-UUID id); the
    # decoded path ("/%41") would canonicalize to "A" and the signature would not match.
    status, code, message = error_of(hw_get(server, DETAIL_PATH, cluster_id="%41"))
    assert (status, code) == (400, "DWS.0001")
    assert "not a valid UUID" in message


def test_project_header_and_project(server: EmulatorServer, task: CloudEmulator) -> None:
    mismatch = hw_get(server, DETAIL_PATH, header_project="0" * 32, cluster_id=CLUSTER)
    status, code, message = error_of(mismatch)
    assert (status, code) == (400, "DWS.0001")
    assert "project" in message
    missing = hw_get(server, DETAIL_PATH, header_project=None, cluster_id=CLUSTER)
    assert error_of(missing)[:2] == (400, "DWS.0001")
    foreign = "a" * 32
    assert error_of(hw_get(server, DETAIL_PATH, project=foreign, header_project=foreign, cluster_id=CLUSTER))[:2] == (
        403,
        "APIG.0302",
    )
    # The official SDK sends X-Project-Id from its credentials' project: another project is refused too.
    error = sdk_error(details, sdk(server, project=foreign))
    assert (error.status_code, error.error_code) == (403, "APIG.0302")


def test_unserved_paths_and_methods(server: EmulatorServer, task: CloudEmulator) -> None:
    for response in (
        HTTP.get(f"{server.url}/v1/{PROJECT}/clusters/{CLUSTER}"),
        HTTP.post(f"{server.url}/v1.0/{PROJECT}/clusters/{CLUSTER}"),
        HTTP.get(f"{server.url}/v1.0/{PROJECT}/clusters/{CLUSTER}/"),
    ):
        assert error_of(response)[:2] == (404, "APIG.0101")


# --- the views over time ------------------------------------------------------------------------------


def test_success_task_disappears(server: EmulatorServer, task: CloudEmulator) -> None:
    client = sdk(server)
    assert actions(client).status == "RUNNING"
    error = sdk_error(actions, client, "SNAPSHOTTING_FAILED")
    assert (error.status_code, error.error_code) == (400, "DWS.0001")
    task.advance(1.0)
    for view in ("SNAPSHOTTING", "SNAPSHOTTING_FAILED"):
        status, code, message = error_of(hw_get(server, ACTIONS_PATH, cluster_id=CLUSTER, action_name=view))
        assert (status, code, message) == (400, "DWS.0001", f"No ongoing task {view} on this cluster.")
    cluster = hw_get(server, DETAIL_PATH, cluster_id=CLUSTER).json()["cluster"]
    assert (cluster["status"], cluster["task_status"], cluster["action_progress"]) == ("AVAILABLE", None, {})
    assert cluster["failed_reasons"] is None


def test_failed_task_moves_to_the_failure_view(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        dws_task(
            CLUSTER, phases=[(0, "RUNNING", 40)], end="failed", error_code="DWS.6301", error_msg="OBS is not writable"
        )
    )
    client = sdk(server)
    assert actions(client).status == "RUNNING"
    cloud_emulator.advance(1.0)
    assert sdk_error(actions, client).error_code == "DWS.0001"
    record = actions(client, "SNAPSHOTTING_FAILED")
    assert (record.status, record.action_name) == ("FAILED", "SNAPSHOTTING_FAILED")
    sub = record.items[0].sub_items[0]
    info = inner_detail(sub.to_dict())
    assert (sub.status, info["errorMsg"], info["errorCode"], info["progress"]) == (
        "FAILED",
        "OBS is not writable",
        "DWS.6301",
        "40.00%",
    )
    assert sub.end_time is None  # like the documented failed record
    cluster = details(client).cluster
    assert cluster.task_status is None  # SNAPSHOTTING_FAILED is not a documented task_status
    assert (cluster.failed_reasons.error_code, cluster.failed_reasons.error_msg) == ("DWS.6301", "OBS is not writable")


def test_growing_failure_shows_resize_failure(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(
        dws_task(CLUSTER, "GROWING", [(0, "RUNNING", 70)], end="failed", failure_record=False, number_of_node=3)
    )
    client = sdk(server)
    running = details(client).cluster
    assert (running.task_status, running.resize_info.resize_status, running.resize_info.target_node_num) == (
        "GROWING",
        "GROWING",
        6,
    )
    subs = [(s.sub_item_name, s.status) for s in actions(client, "GROWING").items[0].sub_items]
    assert subs == [("Create nodes", "SUCCESS"), ("Add nodes to the cluster", "RUNNING")]
    cloud_emulator.advance(1.0)
    failed = details(client).cluster
    assert (failed.task_status, failed.resize_info.resize_status, failed.number_of_node) == (
        "RESIZE_FAILURE",
        "RESIZE_FAILURE",
        3,
    )
    assert failed.failed_reasons.error_code
    # failure_record=False: only the cluster detail tells.
    assert sdk_error(actions, client, "RESIZE_FAILURE").error_code == "DWS.0001"


def test_growing_success_adds_nodes(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, "GROWING", [(0, "RUNNING", 10)], number_of_node=3))
    cloud_emulator.advance(5)
    cluster = details(sdk(server)).cluster
    assert (cluster.number_of_node, cluster.task_status, cluster.resize_info) == (6, None, None)


@pytest.mark.parametrize(
    ("end", "status", "unhealthy"),
    [("rolled_back", "ROLLBACK_SUCCESS", False), ("rollback_failed", "ROLLBACK_FAIL", True)],
)
def test_rollbacks(
    server: EmulatorServer, cloud_emulator: CloudEmulator, end: str, status: str, unhealthy: bool
) -> None:
    cloud_emulator.add_execution(
        dws_task(CLUSTER, "RESTORING", [(0, "RUNNING", 50), (0.5, "ROLLBACK_RUNNING")], end=end)
    )
    client = sdk(server)
    assert actions(client, "RESTORING").status == "RUNNING"
    cloud_emulator.advance(0.5)
    assert actions(client, "RESTORING").status == "ROLLBACK_RUNNING"
    cloud_emulator.advance(1.0)
    record = actions(client, "RESTORING_FAILED")
    assert (record.status, record.items[0].sub_items[0].status) == (status, status)
    # A successful rollback restored the cluster: only the failure view tells.
    assert (details(client).cluster.failed_reasons is not None) is unhealthy


def test_keep_visible_shows_success(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_task(CLUSTER, phases=[(0, "RUNNING", 80)], keep_visible=True))
    client = sdk(server)
    assert actions(client).status == "RUNNING"
    cloud_emulator.advance(2)
    record = actions(client)
    assert (record.status, record.items[0].sub_items[0].status) == ("SUCCESS", "SUCCESS")
    assert record.items[0].sub_items[0].end_time
    assert inner_detail(record.items[0].sub_items[0].to_dict())["progress"] == "100.00%"
    assert sdk_error(actions, client, "SNAPSHOTTING_FAILED").error_code == "DWS.0001"


def test_idle_cluster_has_no_task(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    cloud_emulator.add_execution(dws_cluster(CLUSTER, cluster_name="warehouse"))
    client = sdk(server)
    for view in ACTION_NAMES:
        assert sdk_error(actions, client, view).error_code == "DWS.0001"
    cluster = details(client).cluster
    assert (cluster.name, cluster.status, cluster.sub_status, cluster.task_status) == (
        "warehouse",
        "AVAILABLE",
        "NORMAL",
        None,
    )


def test_sub_items_progress_over_time(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    execution = cloud_emulator.add_execution(
        dws_task(
            CLUSTER,
            "GROWING",
            [DwsPhase(0, "WAITING"), DwsPhase(1, "RUNNING", 25), DwsPhase(2, "RUNNING", 75)],
        )
    )
    assert execution.started_at is None, "the script starts at the first read"
    client = sdk(server)
    seen = []
    for _ in range(3):
        record = actions(client, "GROWING")
        seen.append(
            [(s.status, inner_detail(s.to_dict())["progress"] if s.detail else None) for s in record.items[0].sub_items]
        )
        cloud_emulator.advance(1)
    assert seen == [
        [("WAITING", None), ("WAITING", None)],
        [("RUNNING", "50.00%"), ("WAITING", None)],
        [("SUCCESS", "100.00%"), ("RUNNING", "50.00%")],
    ]
    assert execution.started_at is not None


def test_example_is_stored_verbatim_and_builds_on_it() -> None:
    example = load_example("dws_list_cluster_actions")
    assert (example["id"], example["action_name"], example["cluster_name"]) == (
        "abb30649-4ab5-448f-a199-f764d2a4271d",
        "SNAPSHOTTING_FAILED",
        "cluster_779",
    )
    info = inner_detail(example["items"][0]["sub_items"][0])
    assert (info["progress"], info["currentStep"], info["backupSize"]) == ("100.00%", "FINISH", 157661926)
    record = dws_task(CLUSTER).timeline[-2][1]["actions"]["SNAPSHOTTING"]
    assert set(record) == set(example)
    assert set(record["items"][0]["sub_items"][0]) == set(example["items"][0]["sub_items"][0])
    assert set(inner_detail(record["items"][0]["sub_items"][0])) == set(info)


def test_builder_validation() -> None:
    with pytest.raises(ValueError, match="UUID"):
        dws_task("c1")
    with pytest.raises(ValueError, match="action_name"):
        dws_task(CLUSTER, "SNAPSHOTTING_FAILED")
    with pytest.raises(ValueError, match="end="):
        dws_task(CLUSTER, phases=[(0, "SUCCESS")])
    with pytest.raises(ValueError, match="must come after"):
        dws_task(CLUSTER, phases=[(0, "RUNNING"), (2, "RUNNING")], end_at=1)
    with pytest.raises(ValueError, match="end must be"):
        dws_task(CLUSTER, end="done")
    never = dws_task(CLUSTER, end=None)
    assert all(payload["actions"] for _, payload in never.timeline)
    assert set(FAILURE_VIEWS.values()) < set(ACTION_NAMES)


def test_control_api_builds_dws_executions(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    body = {"builder": "dws_task", "args": {"cluster_id": CLUSTER, "phases": [[0, "RUNNING", 5]], "end": "failed"}}
    created = HTTP.post(f"{server.url}/_emulator/executions", json=body)
    assert created.status_code == 201, created.text
    raw = {"service": "dws", "key": {"cluster_id": OTHER_CLUSTER}, "timeline": [[0, {"cluster": {"id": "x"}}]]}
    assert HTTP.post(f"{server.url}/_emulator/executions", json=raw).status_code == 201
    assert actions(sdk(server)).status == "RUNNING"
    assert hw_get(server, DETAIL_PATH, cluster_id=OTHER_CLUSTER).json() == {"cluster": {"id": "x"}}
    # The raw timeline serves no action record: the view answers "no ongoing task".
    gone = hw_get(server, ACTIONS_PATH, cluster_id=OTHER_CLUSTER, action_name="RESTORING")
    assert error_of(gone)[:2] == (400, "DWS.0001")


# --- faults and rate limits -----------------------------------------------------------------------------


def test_faults(server: EmulatorServer, task: CloudEmulator) -> None:
    task.inject("throttle", service="dws", action="ListClusterActions")
    task.inject("internal_error", service="dws")
    task.inject("server_error", service="dws")
    task.inject("malformed", service="dws")
    assert error_of(hw_get(server, ACTIONS_PATH, cluster_id=CLUSTER, action_name="SNAPSHOTTING"))[:2] == (
        429,
        "APIG.0308",
    )
    assert error_of(hw_get(server, DETAIL_PATH, cluster_id=CLUSTER))[:2] == (500, "DWS.0005")
    assert hw_get(server, DETAIL_PATH, cluster_id=CLUSTER).status_code == 503
    malformed = hw_get(server, DETAIL_PATH, cluster_id=CLUSTER)
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    task.inject("drop", service="dws")
    with pytest.raises(httpx.RemoteProtocolError):
        hw_get(server, DETAIL_PATH, cluster_id=CLUSTER)
    task.inject("slow", service="dws", delay=0.3)
    started = time.monotonic()
    assert hw_get(server, DETAIL_PATH, cluster_id=CLUSTER).status_code == 200
    assert time.monotonic() - started >= 0.3
    faults = [(r.action, r.fault) for r in task.requests if r.service == "dws"]
    assert faults == [
        ("ListClusterActions", "throttle"),
        ("ListClusterDetails", "internal_error"),
        ("ListClusterDetails", "server_error"),
        ("ListClusterDetails", "malformed"),
        ("ListClusterDetails", "drop"),
        ("ListClusterDetails", "slow"),
    ]


def test_rate_limit(server: EmulatorServer, task: CloudEmulator) -> None:
    judgment = QUOTAS["huaweicloud"]["dws:*"].rate
    assert task.rate_limit("dws", "ListClusterActions") == task.rate_limit("dws", "ListClusterDetails") == judgment
    task.set_rate_limit("dws", "ListClusterDetails", 2)
    answers = [hw_get(server, DETAIL_PATH, cluster_id=CLUSTER) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert error_of(answers[2])[1] == "APIG.0308"
    # Per API: the other one is not affected.
    assert hw_get(server, ACTIONS_PATH, cluster_id=CLUSTER, action_name="SNAPSHOTTING").status_code == 200


# --- scripting what DWS does not document (the client's decision rule is tested against it) ---------------


def test_failure_record_overrides_and_earlier_records(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    other_id = str(uuid.uuid4())
    earlier = dws_record("SNAPSHOTTING_FAILED", submitted=datetime(2025, 5, 19, 9, 5, 10, tzinfo=timezone.utc))
    cloud_emulator.add_execution(
        dws_task(
            CLUSTER,
            phases=[(0, "RUNNING", 40)],
            end="failed",
            failure_overrides={"id": other_id},
            views={"SNAPSHOTTING_FAILED": earlier},
        )
    )
    client = sdk(server)
    running = actions(client)
    # Before the task fails, the failure view serves the earlier task's record, as scripted.
    old = actions(client, "SNAPSHOTTING_FAILED")
    assert (old.id, old.submit_time, old.status) == (earlier["id"], "2025-05-19 09:05:10.0", "FAILED")
    assert old.items[0].sub_items[0].begin_time == "2025-05-19 09:05:10.0"
    assert inner_detail(old.items[0].sub_items[0].to_dict())["actionEndTime"] == "2025-05-19 09:06:10"
    cloud_emulator.advance(1.0)
    # Then the task's own failure record replaces it, with another id than the action view showed.
    record = actions(client, "SNAPSHOTTING_FAILED")
    assert (record.id, record.submit_time) == (other_id, running.submit_time)
    assert record.id != running.id


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (dws_answer(200, {"status": False}), 200, {"status": False}),
        (dws_answer(200, {}), 200, {}),
        (
            dws_answer(409, error_code="DWS.0011", error_msg="busy"),
            409,
            {"error_code": "DWS.0011", "error_msg": "busy"},
        ),
        (dws_answer(400), 400, {"error_code": "", "error_msg": ""}),
        (dws_answer(302, error_code="DWS.0001"), 302, {"error_code": "DWS.0001", "error_msg": ""}),
    ],
)
def test_scripted_answers_in_views_and_cluster_detail(
    server: EmulatorServer, cloud_emulator: CloudEmulator, answer: dict[str, Any], status: int, body: Any
) -> None:
    execution = dws_cluster(CLUSTER, actions={"SNAPSHOTTING": answer})
    execution.timeline[0][1]["cluster_answer"] = answer
    cloud_emulator.add_execution(execution)
    for template, params in ((ACTIONS_PATH, {"action_name": "SNAPSHOTTING"}), (DETAIL_PATH, {})):
        response = hw_get(server, template, cluster_id=CLUSTER, **params)
        assert (response.status_code, response.json()) == (status, body)
        assert uuid.UUID(response.headers["x-request-id"])
    # The other views still answer as DWS would.
    assert error_of(hw_get(server, ACTIONS_PATH, cluster_id=CLUSTER, action_name="GROWING"))[1] == "DWS.0001"


def test_scripting_validation() -> None:
    with pytest.raises(ValueError, match="only with status 200"):
        dws_answer(201, {"status": "SUCCESS"})
    with pytest.raises(ValueError, match="not an action view"):
        dws_task(CLUSTER, views={"NOPE": {}})
    with pytest.raises(ValueError, match="action_name"):
        dws_record("NOPE", submitted=datetime.now(timezone.utc))
    record = dws_record("GROWING", "RUNNING", submitted=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert (record["action_name"], record["status"], record["items"][0]["sub_items"][0]["end_time"]) == (
        "GROWING",
        "RUNNING",
        None,
    )
