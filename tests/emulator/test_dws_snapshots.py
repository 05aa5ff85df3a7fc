"""Huawei DWS ListSnapshots in the emulator: read with the official SDK, signed and verified, CREATING then the
scripted outcome on the emulator's clock, and the snapshots that CreateSnapshot writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from huaweicloudsdkdws.v2 import (
    CreateSnapshotRequest,
    CreateSnapshotRequestBody,
    ListSnapshotsRequest,
    Snapshot,
    Snapshots,
)

from cloudflows_emulator import CloudEmulator, EmulatorServer, dws_cluster
from cloudflows_emulator.huawei import LIST_SNAPSHOTS, dws_snapshot, plan_dws_action, plan_dws_snapshot

from .helpers import HTTP
from .test_dws_emulator import CLUSTER, OTHER_CLUSTER, error_of, hw_get, sdk

SNAPSHOTS_PATH = "/v1.0/{project_id}/snapshots"
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def listed(server: EmulatorServer) -> list[dict[str, Any]]:
    """The snapshots as the official SDK reads them (its model's fields, by their JSON names)."""
    answer = sdk(server).list_snapshots(ListSnapshotsRequest())
    assert answer.count == len(answer.snapshots or [])
    return [{Snapshots.attribute_map[k]: v for k, v in item.to_dict().items()} for item in answer.snapshots or []]


def by_id(server: EmulatorServer, snapshot_id: str) -> dict[str, Any]:
    found = [item for item in listed(server) if item["id"] == snapshot_id]
    assert len(found) == 1, found
    return found[0]


def create(server: EmulatorServer, name: str, description: str = "before the nightly load") -> str:
    body = CreateSnapshotRequestBody(snapshot=Snapshot(name=name, cluster_id=CLUSTER, description=description))
    snapshot_id: str = sdk(server).create_snapshot(CreateSnapshotRequest(body=body)).snapshot.id
    return snapshot_id


def test_a_scripted_snapshot_is_creating_then_available_on_the_emulators_clock(
    server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    snapshot_id = plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-1", after=30)
    creating = by_id(server, snapshot_id)
    assert (creating["status"], creating["finished"], creating["cluster_id"]) == ("CREATING", None, CLUSTER)
    cloud_emulator.advance(29)
    assert by_id(server, snapshot_id)["status"] == "CREATING"
    cloud_emulator.advance(1)
    available = by_id(server, snapshot_id)
    assert available["status"] == "AVAILABLE"
    assert (available["name"], available["type"], available["size"]) == ("nightly-1", "MANUAL", 500.0)
    started = datetime.strptime(available["started"], STAMP)
    assert datetime.strptime(available["finished"], STAMP) - started == timedelta(seconds=30)
    assert cloud_emulator.count("dws", LIST_SNAPSHOTS) == 3


def test_a_scripted_snapshot_can_end_unavailable_or_stay_creating(
    server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    failed = plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-2", outcome="UNAVAILABLE", after=5)
    stuck = plan_dws_snapshot(cloud_emulator, cluster_id=OTHER_CLUSTER, name="nightly-3", outcome=None)
    cloud_emulator.advance(3600)
    unavailable = by_id(server, failed)
    assert (unavailable["status"], unavailable["size"]) == ("UNAVAILABLE", 0.0)
    assert datetime.strptime(unavailable["finished"], STAMP) > datetime.strptime(unavailable["started"], STAMP)
    assert (by_id(server, stuck)["status"], by_id(server, stuck)["finished"]) == ("CREATING", None)


def test_every_served_field_is_one_the_sdk_model_names(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-4", after=0)
    raw = hw_get(server, SNAPSHOTS_PATH)
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert set(body) == {"snapshots", "count"} and body["count"] == 1
    assert set(body["snapshots"][0]) <= set(Snapshots.attribute_map.values())
    documented = {"id", "name", "description", "started", "finished", "size", "status", "type", "cluster_id"}
    assert documented <= set(body["snapshots"][0])


def test_the_list_is_newest_first_and_holds_every_snapshot(
    server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    old = datetime(2026, 1, 1, 10, 0, 0)
    cloud_emulator.add_execution(dws_snapshot(CLUSTER, "older-one", created=old))
    cloud_emulator.add_execution(dws_snapshot(CLUSTER, "newer-one", created=old + timedelta(hours=1)))
    plan_dws_snapshot(cloud_emulator, cluster_id=OTHER_CLUSTER, name="newest-one")
    assert [item["name"] for item in listed(server)] == ["newest-one", "newer-one", "older-one"]


def test_a_snapshot_created_through_the_api_is_listed_until_its_task_succeeds(
    server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    cloud_emulator.add_execution(dws_cluster(CLUSTER))
    snapshot_id = create(server, "manual-1")
    creating = by_id(server, snapshot_id)
    assert (creating["status"], creating["name"], creating["description"]) == (
        "CREATING",
        "manual-1",
        "before the nightly load",
    )
    # The default plan ends the SNAPSHOTTING task after 3 s of script.
    cloud_emulator.advance(2.5)
    assert by_id(server, snapshot_id)["status"] == "CREATING"
    cloud_emulator.advance(0.5)
    assert by_id(server, snapshot_id)["status"] == "AVAILABLE"


@pytest.mark.parametrize(
    ("end", "status"), [("failed", "UNAVAILABLE"), ("rolled_back", "UNAVAILABLE"), (None, "CREATING")]
)
def test_a_snapshot_created_through_the_api_ends_as_its_planned_task(
    server: EmulatorServer, cloud_emulator: CloudEmulator, end: str | None, status: str
) -> None:
    cloud_emulator.add_execution(dws_cluster(CLUSTER))
    plan_dws_action(cloud_emulator, "SNAPSHOTTING", [(0, "RUNNING", 10)], end=end, end_at=10.0 if end else None)
    snapshot_id = create(server, "manual-2")
    cloud_emulator.advance(9)
    assert by_id(server, snapshot_id)["status"] == "CREATING"
    cloud_emulator.advance(1)
    assert by_id(server, snapshot_id)["status"] == status


def test_the_list_is_signed_and_verified_like_every_dws_call(
    server: EmulatorServer, cloud_emulator: CloudEmulator
) -> None:
    plan_dws_snapshot(cloud_emulator, cluster_id=CLUSTER, name="nightly-5")
    unsigned = hw_get(server, SNAPSHOTS_PATH, drop=("Authorization",))
    assert error_of(unsigned)[:2] == (401, "APIG.0301")
    assert hw_get(server, SNAPSHOTS_PATH).status_code == 200
    assert cloud_emulator.count("dws", LIST_SNAPSHOTS, error="APIG.0301") == 1


def test_the_control_api_builds_a_snapshot(server: EmulatorServer, cloud_emulator: CloudEmulator) -> None:
    body = {"builder": "dws_snapshot", "args": {"cluster_id": CLUSTER, "name": "from-control", "after": 0}}
    created = HTTP.post(f"{server.url}/_emulator/executions", json=body)
    assert created.status_code == 201, created.text
    assert [(item["name"], item["status"]) for item in listed(server)] == [("from-control", "AVAILABLE")]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"outcome": "FAILED"},
        {"outcome": "CREATING"},
        {"after": -1},
        {"after": True},
        {"name": "abc"},
        {"cluster_id": ""},
        {"snapshot_type": "manual"},
        {"size": -1},
    ],
)
def test_the_builder_refuses_what_dws_cannot_show(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"cluster_id": CLUSTER, "name": "nightly-6", **kwargs}
    with pytest.raises(ValueError, match="dws_snapshot"):
        dws_snapshot(**args)
