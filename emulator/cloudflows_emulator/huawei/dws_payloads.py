"""What DWS's answers look like: the API's names and codes, a cluster's ``ClusterDetail`` and a task's
record in its views, built from the documented example (``examples/dws_list_cluster_actions.json``).

The builders of ``dws_models`` script timelines of these payloads; the operations of ``dws`` serve them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cloudflows_emulator.examples import load_example

__all__ = [
    "ACTION_NAMES",
    "ALL_ENTERPRISE_PROJECTS",
    "ANSWER",
    "CLUSTER_INFO_FIELDS",
    "CLUSTER_NAMESPACE",
    "CLUSTER_NOT_FOUND",
    "DEFAULT_ERROR_CODE",
    "DEFAULT_ERROR_MSG",
    "ENDS",
    "EXAMPLE",
    "FAILURE_VIEWS",
    "LIST_CLUSTERS",
    "LIST_CLUSTER_ACTIONS",
    "LIST_CLUSTER_DETAILS",
    "ONGOING_STATUSES",
    "SERVICE",
    "TASK_ITEMS",
    "TRY_LATER",
    "DwsPhase",
    "TaskScript",
    "cluster_detail",
    "plain_time",
    "stamp",
]


SERVICE = "dws"
LIST_CLUSTER_ACTIONS = "ListClusterActions"
LIST_CLUSTER_DETAILS = "ListClusterDetails"
LIST_CLUSTERS = "ListClusters"
ALL_ENTERPRISE_PROJECTS = "all_granted_eps"
"""``enterprise_project_id`` value of the cluster list that keeps every enterprise project's clusters."""

FAILURE_VIEWS = {
    "GROWING": "RESIZE_FAILURE",
    "RESTORING": "RESTORING_FAILED",
    "SNAPSHOTTING": "SNAPSHOTTING_FAILED",
    "FINE_GRAINED_RESTORING": "FINE_GRAINED_RESTORING_FAILED",
}
"""Ongoing action -> the view that keeps the record of its failure."""
ACTION_NAMES = (*FAILURE_VIEWS, *FAILURE_VIEWS.values())
"""The documented range of ``action_name``."""
ONGOING_STATUSES = ("WAITING", "RUNNING", "ROLLBACK_RUNNING")
ENDS = {
    "success": "SUCCESS",
    "failed": "FAILED",
    "rolled_back": "ROLLBACK_SUCCESS",
    "rollback_failed": "ROLLBACK_FAIL",
}
"""``dws_task(end=...)`` -> the task's final ``status``."""
ANSWER = "__answer__"
"""Key of a scripted answer (:func:`dws_answer`) standing in for a view's record or the cluster detail."""
CLUSTER_NOT_FOUND = ("DWS.0047", "Cluster does not exist or has been deleted.")
"""Code and message of the answer to an unknown cluster (HTTP 401, as Huawei's Terraform provider sees it)."""
TRY_LATER = (
    "DWS.0011",
    "This operation cannot be performed because another operation is being performed on the instance or the "
    "instance is faulty. Please try again later.",
    409,
)
"""Code, message and status of DWS's documented "try again later" answer (API error codes, dws_02_0030)."""

EXAMPLE = "dws_list_cluster_actions"
# Per action: the task's first-level item, its default sub-items and the progressInfo actionType. The
# SNAPSHOTTING names are the documented example's; the others are the emulator's own wording.
TASK_ITEMS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "SNAPSHOTTING": ("Create a snapshot", ("Perform a backup",), "Backup"),
    "GROWING": ("Scale out the cluster", ("Create nodes", "Add nodes to the cluster"), "Resize"),
    "RESTORING": ("Restore the cluster", ("Perform a restore",), "Restore"),
    "FINE_GRAINED_RESTORING": ("Restore tables", ("Perform a fine-grained restore",), "FineGrainedRestore"),
}
DEFAULT_ERROR_CODE = "DWS.9999"
DEFAULT_ERROR_MSG = "host-172-16-47-24 FAILED: backup of the data node failed (emulated failure)"
CLUSTER_NAMESPACE = uuid.UUID("6f1c1d5e-2a43-4c55-9c0e-5d0f3f1b2a90")
# The fields of the SDK's ClusterInfo model (huaweicloudsdkdws.v2.ClusterInfo), in its order: what one item of
# the cluster list carries.
CLUSTER_INFO_FIELDS = (
    "id",
    "name",
    "status",
    "version",
    "updated",
    "created",
    "port",
    "endpoints",
    "nodes",
    "tags",
    "user_name",
    "number_of_node",
    "recent_event",
    "availability_zone",
    "enterprise_project_id",
    "node_type",
    "vpc_id",
    "subnet_id",
    "public_ip",
    "public_endpoints",
    "action_progress",
    "sub_status",
    "task_status",
    "security_group_id",
    "failed_reasons",
)


@dataclass(frozen=True)
class DwsPhase:
    """From ``at`` seconds on, the ongoing task reports ``status`` at ``progress`` percent (0-100).

    ``status`` is WAITING, RUNNING or ROLLBACK_RUNNING; ``progress`` None keeps the previous phase's (0 at
    first). The sub-items split the progress evenly: those before it are SUCCESS, the one it falls in has the
    task's status and its own percentage in ``detail``, those after it are WAITING with no detail yet.
    """

    at: float
    status: str = "RUNNING"
    progress: float | None = None


def stamp(moment: datetime) -> str:
    """A time as the documented records show it, ``2025-05-19 09:06:18.0`` (a Java timestamp's toString)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + ".0"


def plain_time(moment: datetime) -> str:
    """A time as ``2025-05-19 09:06:18`` (UTC)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def cluster_detail(cluster_id: str, name: str, created: datetime) -> dict[str, Any]:
    """A ClusterDetail with the fields the SDK model defines; ids derived from the cluster id, so stable."""

    def derived(what: str) -> str:
        return str(uuid.uuid5(CLUSTER_NAMESPACE, f"{cluster_id}/{what}"))

    host = f"{name}.dws.myhuaweicloud.com"
    return {
        "id": cluster_id,
        "name": name,
        "status": "AVAILABLE",
        "version": "8.2.1",
        "updated": (created - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created": (created - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "port": 8000,
        "endpoints": [{"connect_info": f"{host}:8000", "jdbc_url": f"jdbc:postgresql://{host}:8000/gaussdb"}],
        "nodes": [],
        "tags": [],
        "user_name": "dbadmin",
        "number_of_node": 3,
        "recent_event": 0,
        "availability_zone": "cn-north-4a",
        "enterprise_project_id": "0",
        "vpc_id": derived("vpc"),
        "subnet_id": derived("subnet"),
        "public_ip": None,
        "public_endpoints": [],
        "action_progress": {},
        "sub_status": "NORMAL",
        "task_status": None,
        "parameter_group": {
            "id": derived("parameter-group"),
            "name": "Default-Parameter-Group-dws",
            "status": "In-Sync",
        },
        "node_type": "dws.m3.xlarge",
        "node_type_id": derived("node-type"),
        "security_group_id": derived("security-group"),
        "order_id": None,
        "private_ip": ["192.168.0.11", "192.168.0.12", "192.168.0.13"],
        "maintain_window": {"day": "Thu", "start_time": "22:00", "end_time": "02:00"},
        "resize_info": None,
        "failed_reasons": None,
        "elb": None,
    }


@dataclass(frozen=True)
class TaskScript:
    """Everything about one scripted task that does not change from phase to phase."""

    cluster_id: str
    action: str
    task_id: str
    cluster_name: str
    item_name: str
    sub_items: tuple[str, ...]
    action_type: str
    start: datetime
    error_code: str
    error_msg: str
    origin_nodes: int
    target_nodes: int
    failure_overrides: Mapping[str, Any] = field(default_factory=dict)

    def at(self, offset: float) -> datetime:
        """The moment ``offset`` seconds after the task started."""
        return self.start + timedelta(seconds=offset)

    def record(self, view: str, status: str, subs: list[dict[str, Any]]) -> dict[str, Any]:
        """The task as a view returns it: the documented example with this task's values."""
        record = load_example(EXAMPLE)
        example_item = record["items"][0]
        sub_items = [{**example_item["sub_items"][0], **sub} for sub in subs]
        record.update(
            id=self.task_id,
            status=status,
            action_name=view,
            cluster_name=self.cluster_name,
            submit_time=stamp(self.start),
            items=[{**example_item, "item_name": self.item_name, "sub_items": sub_items}],
        )
        return record

    def sub_item(
        self,
        index: int,
        status: str,
        local: float | None,
        *,
        now: float,
        ended: float | None = None,
        error: str = "",
        finished: bool = False,
    ) -> dict[str, Any]:
        """One sub-item; ``local`` is its own progress in percent (None: not started, no detail yet).

        ``finished`` sub-items report ``currentStep`` FINISH (as the documented failed record does); one with
        an ``error`` names the work step as ``failedStep`` and carries the error in ``errorMsg``.
        """
        if local is None:
            return {
                "status": status,
                "detail": "",
                "sub_item_name": self.sub_items[index],
                "begin_time": None,
                "end_time": None,
            }
        # The example's progressInfo, with its fields brought up to date; serialized compactly like DWS.
        example = load_example(EXAMPLE)["items"][0]["sub_items"][0]["detail"]
        info = json.loads(json.loads(example)["progressInfo"])
        info.update(
            actionStartTime=plain_time(self.at(0)),
            actionEndTime=plain_time(self.at(ended)) if ended is not None else "",
            # The step names are the emulator's: the work step (e.g. BACKUP) until the sub-item finishes.
            failedStep=self.action_type.upper() if error else "N/A",
            errorCode=self.error_code if error else "",
            updateTime=plain_time(self.at(now)),
            errorMsg=error,
            backupSize=int(info["backupSize"] * local / 100),
            currentStep="FINISH" if finished else self.action_type.upper(),
            actionType=self.action_type,
            progress=f"{local:.2f}%",
            key=self.start.strftime("%Y%m%d_%H%M%S"),
        )
        detail = json.dumps({"progressInfo": json.dumps(info, separators=(",", ":"))}, separators=(",", ":"))
        return {
            "status": status,
            "detail": detail,
            "sub_item_name": self.sub_items[index],
            "begin_time": stamp(self.at(0)),
            # Like the documented failed record, a sub-item that did not succeed has no end time.
            "end_time": stamp(self.at(ended)) if ended is not None and status == "SUCCESS" else None,
        }

    def split(self, progress: float) -> tuple[int, float]:
        """The sub-item ``progress`` (overall percent) falls in, and that sub-item's own percent."""
        count = len(self.sub_items)
        share = 100.0 / count
        index = min(int(progress // share), count - 1)
        return index, min(100.0, (progress - index * share) / share * 100.0)

    def ongoing_payload(self, phase: DwsPhase, progress: float) -> dict[str, Any]:
        """The timeline payload while the task runs at ``progress`` percent in ``phase``."""
        current, local = self.split(progress)
        subs = []
        for index in range(len(self.sub_items)):
            if phase.status == "WAITING" or index > current:
                subs.append(self.sub_item(index, "WAITING", None, now=phase.at))
            elif index < current:
                subs.append(self.sub_item(index, "SUCCESS", 100.0, now=phase.at, ended=phase.at, finished=True))
            else:
                subs.append(self.sub_item(index, phase.status, local, now=phase.at))
        cluster = self.cluster()
        cluster.update(task_status=self.action, action_progress={self.action: f"{round(progress)}%"})
        if self.action == "GROWING":
            cluster["resize_info"] = self.resize_info("GROWING")
        return {"cluster": cluster, "actions": {self.action: self.record(self.action, phase.status, subs)}}

    def end_payload(
        self, status: str, end_at: float, progress: float, keep_visible: bool, failure_record: bool
    ) -> dict[str, Any]:
        """The timeline payload once the task ended with ``status`` at offset ``end_at``."""
        succeeded = status == "SUCCESS"
        current, local = self.split(100.0 if succeeded else progress)
        subs = []
        for index in range(len(self.sub_items)):
            if succeeded or index < current:
                subs.append(self.sub_item(index, "SUCCESS", 100.0, now=end_at, ended=end_at, finished=True))
            elif index == current:
                subs.append(
                    self.sub_item(index, status, local, now=end_at, ended=end_at, error=self.error_msg, finished=True)
                )
            else:
                subs.append(self.sub_item(index, "WAITING", None, now=end_at))
        actions: dict[str, Any] = {}
        if keep_visible:
            actions[self.action] = self.record(self.action, status, subs)
        if not succeeded and failure_record:
            failure = FAILURE_VIEWS[self.action]
            actions[failure] = {**self.record(failure, status, subs), **self.failure_overrides}
        cluster = self.cluster()
        growing = self.action == "GROWING"
        if succeeded and growing:
            cluster["number_of_node"] = self.target_nodes
        if status in ("FAILED", "ROLLBACK_FAIL"):
            # A rolled-back task (ROLLBACK_SUCCESS) restored the cluster: nothing on it tells of the failure.
            cluster["failed_reasons"] = {"error_code": self.error_code, "error_msg": self.error_msg}
            if growing:
                cluster["task_status"] = FAILURE_VIEWS["GROWING"]
                cluster["resize_info"] = self.resize_info("RESIZE_FAILURE")
        return {"cluster": cluster, "actions": actions}

    def cluster(self) -> dict[str, Any]:
        """The cluster's detail before the task changed anything."""
        cluster = cluster_detail(self.cluster_id, self.cluster_name, self.start)
        cluster["number_of_node"] = self.origin_nodes
        return cluster

    def resize_info(self, resize_status: str) -> dict[str, Any]:
        """The detail's ``resize_info`` of a GROWING task in ``resize_status``."""
        return {
            "target_node_num": self.target_nodes,
            "origin_node_num": self.origin_nodes,
            "resize_status": resize_status,
            "start_time": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
