"""Huawei Cloud DWS state and rules: the :func:`dws_task` / :func:`dws_cluster` builders and what the
``ListClusterActions``, ``ListClusterDetails`` and ``ListClusters`` operations (``dws.py``) serve from them.

An execution is one cluster, keyed ``(cluster_id,)``. Each payload of its timeline holds both things the two
APIs read, ``{"cluster": <ClusterDetail>, "actions": {<view name>: <task record>}}``, so a raw timeline posted
through the control API can script any combination.

What the emulator answers (the documented parts, then its judgments):

- ``GET /v1/{project_id}/clusters/{cluster_id}/actions/{action_name}`` (ListClusterActions): 200 with the
  task record while the task is ongoing, built from the documented example response
  (``examples/dws_list_cluster_actions.json``): ``id``, ``action_name``, ``status``, ``cluster_name``,
  ``submit_time`` and ``items[].sub_items[]`` whose ``detail`` is escaped JSON
  ``{"progressInfo": "<JSON with progress, errorMsg, ...>"}``. An ``action_name`` outside the documented
  eight is 400 ``DWS.0001``.
- *Judgment* (DWS documents only "Only some ongoing tasks can be viewed"): once the task has ended it is gone
  from its view, which then answers 400 ``{"error_code": "DWS.0001", "error_msg": "No ongoing task <action>
  on this cluster."}``; the failure views (``SNAPSHOTTING_FAILED``, ``RESIZE_FAILURE``, ...) answer the same
  unless a task failed, in which case they serve its record (status ``FAILED``, ``ROLLBACK_SUCCESS`` or
  ``ROLLBACK_FAIL``, the failed sub-item's detail carrying ``errorMsg``), as the documented example shows.
  ``dws_task(keep_visible=True)`` scripts the alternative: the ended task stays in its view with its final
  status (e.g. ``SUCCESS``).
- ``GET /v1.0/{project_id}/clusters/{cluster_id}`` (ListClusterDetails): ``{"cluster": {...}}`` with
  ``status`` AVAILABLE, ``task_status`` = the action and ``action_progress`` ``{action: "NN%"}`` while it runs;
  ``task_status`` null, ``action_progress`` ``{}`` and ``failed_reasons`` null once it succeeded; after a
  failure ``failed_reasons`` ``{error_code, error_msg}`` and, for GROWING, ``task_status`` ``RESIZE_FAILURE``
  (the only failure value DWS documents for ``task_status``).
- ``GET /v1.0/{project_id}/clusters`` (ListClusters): ``{"clusters": [...], "count": n}``, one ClusterInfo
  per cluster the emulator knows, read from the same timeline as ``ListClusterDetails`` (so ``status``,
  ``task_status``, ``action_progress``, ``failed_reasons`` agree with it at the same instant), with the
  fields of the SDK's ``ClusterInfo`` model (the detail less ``parameter_group``, ``resize_info``,
  ``private_ip``...). The ``enterprise_project_id`` query keeps that enterprise project's clusters
  (``all_granted_eps``: all). *Judgments*: DWS documents no order, the emulator lists newest ``created``
  first, then by id; a cluster whose detail is scripted noise (:func:`dws_answer` as ``cluster_answer``) is
  listed with its scripted ``cluster`` (the noise stands in for the single read only), and one with no
  ``cluster`` at all is left out.
- An unknown cluster, on either route: 401 ``DWS.0047`` "Cluster does not exist or has been deleted." (the
  status and code Huawei's Terraform provider observes; clients must key on the code). A cluster id that is
  not a UUID: 400 ``DWS.0001``.
- Rate limit (*judgment*, DWS publishes none for these APIs): the quota table's ``dws:*`` row (limits.py).

For the client's decision rule, the emulator can also serve what DWS does *not* document: a failure view
whose record has another id or other times than the action view's (``dws_task(failure_overrides=...)``),
records of earlier tasks (:func:`dws_record`, served through ``views=`` / ``dws_cluster(actions=...)``), and
noise in place of any view or of the cluster detail (:func:`dws_answer`: a 200 with any JSON object, or an
error envelope under any status, e.g. 409 ``DWS.0011``, 404 ``APIG.0101``, a code-less 400, 201/206/302).
:func:`dws_try_later` answers the next few reads of a view with DWS's documented "try again later" error,
counted rather than timed, so a test can say how many of them a wait has to get through.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import Execution, TimedItem
from cloudflows_emulator.core.handler import ApiError
from cloudflows_emulator.examples import load_example
from cloudflows_emulator.huawei.scripted import script_error
from cloudflows_emulator.scripting import as_phases, now_utc

__all__ = [
    "ACTION_NAMES",
    "ALL_ENTERPRISE_PROJECTS",
    "ANSWER",
    "CLUSTER_INFO_FIELDS",
    "CLUSTER_NOT_FOUND",
    "ENDS",
    "FAILURE_VIEWS",
    "LIST_CLUSTERS",
    "LIST_CLUSTER_ACTIONS",
    "LIST_CLUSTER_DETAILS",
    "ONGOING_STATUSES",
    "SERVICE",
    "TRY_LATER",
    "DwsPhase",
    "dws_answer",
    "dws_cluster",
    "dws_record",
    "dws_task",
    "dws_try_later",
    "is_uuid",
    "served_answer",
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

_EXAMPLE = "dws_list_cluster_actions"
# Per action: the task's first-level item, its default sub-items and the progressInfo actionType. The
# SNAPSHOTTING names are the documented example's; the others are the emulator's own wording.
_ITEMS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "SNAPSHOTTING": ("Create a snapshot", ("Perform a backup",), "Backup"),
    "GROWING": ("Scale out the cluster", ("Create nodes", "Add nodes to the cluster"), "Resize"),
    "RESTORING": ("Restore the cluster", ("Perform a restore",), "Restore"),
    "FINE_GRAINED_RESTORING": ("Restore tables", ("Perform a fine-grained restore",), "FineGrainedRestore"),
}
_DEFAULT_ERROR_CODE = "DWS.9999"
_DEFAULT_ERROR_MSG = "host-172-16-47-24 FAILED: backup of the data node failed (emulated failure)"
_CLUSTER_NAMESPACE = uuid.UUID("6f1c1d5e-2a43-4c55-9c0e-5d0f3f1b2a90")
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


def dws_task(
    cluster_id: str,
    action_name: str = "SNAPSHOTTING",
    phases: Sequence[DwsPhase | Sequence[Any] | Mapping[str, Any]] | None = None,
    *,
    end: str | None = "success",
    end_at: float | None = None,
    cluster_name: str | None = None,
    sub_items: Sequence[str] | None = None,
    error_code: str = _DEFAULT_ERROR_CODE,
    error_msg: str = _DEFAULT_ERROR_MSG,
    keep_visible: bool = False,
    failure_record: bool = True,
    failure_overrides: Mapping[str, Any] | None = None,
    views: Mapping[str, Mapping[str, Any]] | None = None,
    number_of_node: int = 3,
    target_number_of_node: int | None = None,
    start_immediately: bool = False,
) -> Execution:
    """A cluster running the task ``action_name`` through ``phases``, then ending as ``end`` at ``end_at``.

    ``phases`` are :class:`DwsPhase` or shorthands ``(at, status[, progress])`` / mappings (default: WAITING,
    then RUNNING at 35 % after 1 s and 70 % after 2 s). ``end`` is ``"success"``, ``"failed"``,
    ``"rolled_back"`` (``ROLLBACK_SUCCESS``: the action was undone), ``"rollback_failed"``
    (``ROLLBACK_FAIL``) or None (the task never ends); ``end_at`` defaults to one second after the last
    phase. On a failure end the failed sub-item's detail carries ``error_msg`` and the cluster detail
    ``failed_reasons`` ``{error_code, error_msg}`` (a rolled-back task leaves the cluster healthy: only the
    failure view tells). ``failure_record=False`` leaves the failure view empty, so only the cluster detail
    shows the failure; ``keep_visible=True`` keeps the ended task in its own view with its final status.
    ``cluster_name`` defaults to the example's ``cluster_779``; ``sub_items`` names the task's sub-items.
    For GROWING the cluster has ``number_of_node`` nodes, ``target_number_of_node`` (default +3) after success,
    and ``resize_info`` while it grows or after it failed.

    ``failure_overrides`` replaces fields of the failure view's record (DWS does not document that its id
    or times match the action view's: e.g. ``{"id": "<other uuid>"}`` or ``{"submit_time": None}``).
    ``views`` serves fixed records (an earlier task's, see :func:`dws_record`) or answers (:func:`dws_answer`)
    in the named views throughout, except where the task itself has a record to show.
    """
    _check_cluster_id(cluster_id, "dws_task")
    _check_views(views, "dws_task")
    if action_name not in FAILURE_VIEWS:
        raise ValueError(f"dws_task: action_name must be one of {sorted(FAILURE_VIEWS)}, got {action_name!r}")
    if end is not None and end not in ENDS:
        raise ValueError(f"dws_task: end must be one of {sorted(ENDS)} or None, got {end!r}")
    phase_list = sorted(
        as_phases(phases or [(0, "WAITING", 0), (1, "RUNNING", 35), (2, "RUNNING", 70)], DwsPhase),
        key=lambda p: p.at,
    )
    for phase in phase_list:
        if phase.status not in ONGOING_STATUSES:
            raise ValueError(
                f"dws_task: phase statuses must be one of {ONGOING_STATUSES} (the end is set with end=), "
                f"got {phase.status!r}"
            )
        if phase.progress is not None and not 0 <= phase.progress <= 100:
            raise ValueError(f"dws_task: progress is a percentage 0..100, got {phase.progress!r}")
    last_at = phase_list[-1].at
    if end is None:
        if end_at is not None:
            raise ValueError("dws_task: end_at needs an end")
    elif end_at is None:
        end_at = last_at + 1.0
    elif end_at <= last_at:
        raise ValueError(f"dws_task: end_at ({end_at}) must come after the last phase ({last_at})")
    item_name, default_subs, action_type = _ITEMS[action_name]
    names = tuple(sub_items) if sub_items is not None else default_subs
    if not names:
        raise ValueError("dws_task: sub_items must not be empty")
    target = target_number_of_node if target_number_of_node is not None else number_of_node + 3
    task = _Task(
        cluster_id=cluster_id,
        action=action_name,
        task_id=str(uuid.uuid4()),
        cluster_name=cluster_name or load_example(_EXAMPLE)["cluster_name"],
        item_name=item_name,
        sub_items=names,
        action_type=action_type,
        start=now_utc(),
        error_code=error_code,
        error_msg=error_msg,
        origin_nodes=number_of_node,
        target_nodes=target,
        failure_overrides=dict(failure_overrides or {}),
    )
    timeline: list[TimedItem] = []
    progress = 0.0
    for phase in phase_list:
        progress = phase.progress if phase.progress is not None else progress
        timeline.append((phase.at, task.ongoing_payload(phase, progress)))
    if end is not None and end_at is not None:
        timeline.append((end_at, task.end_payload(ENDS[end], end_at, progress, keep_visible, failure_record)))
    for _, payload in timeline:
        payload["actions"] = {**{k: dict(v) for k, v in (views or {}).items()}, **payload["actions"]}
    return Execution(service=SERVICE, key=(cluster_id,), timeline=timeline, start_immediately=start_immediately)


def dws_cluster(
    cluster_id: str,
    *,
    cluster_name: str | None = None,
    status: str = "AVAILABLE",
    sub_status: str = "NORMAL",
    task_status: str | None = None,
    action_progress: Mapping[str, str] | None = None,
    failed_reasons: Mapping[str, str] | None = None,
    number_of_node: int = 3,
    actions: Mapping[str, Mapping[str, Any]] | None = None,
) -> Execution:
    """A cluster with no task to show (by default idle and healthy): every action view answers "no task".

    For a client waiting on an action that never shows up, or a cluster in a given ``status`` /
    ``task_status`` / ``failed_reasons``. ``actions`` may serve fixed records in some views (e.g. a stale
    ``SNAPSHOTTING_FAILED`` record).
    """
    _check_cluster_id(cluster_id, "dws_cluster")
    _check_views(actions, "dws_cluster")
    cluster = _cluster_detail(cluster_id, cluster_name or load_example(_EXAMPLE)["cluster_name"], now_utc())
    cluster.update(
        status=status,
        sub_status=sub_status,
        task_status=task_status,
        action_progress=dict(action_progress or {}),
        failed_reasons=dict(failed_reasons) if failed_reasons else None,
        number_of_node=number_of_node,
    )
    payload = {"cluster": cluster, "actions": {name: dict(record) for name, record in (actions or {}).items()}}
    return Execution(service=SERVICE, key=(cluster_id,), timeline=[(0.0, payload)])


def dws_record(
    action_name: str = "SNAPSHOTTING_FAILED",
    status: str = "FAILED",
    *,
    submitted: datetime,
    duration: float = 60.0,
    task_id: str | None = None,
    cluster_name: str | None = None,
    error_msg: str = _DEFAULT_ERROR_MSG,
) -> dict[str, Any]:
    """A task record as a view shows it, of a task submitted at ``submitted`` that ended ``duration`` s later.

    For scripting an earlier task's record (e.g. yesterday's failed snapshot still in ``SNAPSHOTTING_FAILED``)
    through ``dws_task(views=...)`` or ``dws_cluster(actions=...)``. A failed status puts ``error_msg`` in the
    sub-item's detail, as the documented example does.
    """
    if action_name not in ACTION_NAMES:
        raise ValueError(f"dws_record: action_name must be one of {ACTION_NAMES}, got {action_name!r}")
    base = (
        action_name if action_name in FAILURE_VIEWS else next(k for k, v in FAILURE_VIEWS.items() if v == action_name)
    )
    item_name, subs, action_type = _ITEMS[base]
    task = _Task(
        cluster_id="",
        action=base,
        task_id=task_id or str(uuid.uuid4()),
        cluster_name=cluster_name or load_example(_EXAMPLE)["cluster_name"],
        item_name=item_name,
        sub_items=subs[:1],
        action_type=action_type,
        start=submitted,
        error_code=_DEFAULT_ERROR_CODE,
        error_msg=error_msg,
        origin_nodes=3,
        target_nodes=6,
    )
    ended = status not in ONGOING_STATUSES
    error = error_msg if status in ("FAILED", "ROLLBACK_FAIL", "ROLLBACK_SUCCESS") else ""
    sub = task.sub_item(
        0,
        status,
        100.0 if status == "SUCCESS" else 50.0,
        now=duration,
        ended=duration if ended else None,
        error=error,
        finished=ended,
    )
    return task.record(action_name, status, [sub])


def dws_answer(
    status: int = 200, body: Mapping[str, Any] | None = None, *, error_code: str = "", error_msg: str = ""
) -> dict[str, Any]:
    """An answer served in place of a view's record (or, as ``payload["cluster_answer"]``, the cluster detail).

    ``status`` 200 serves ``body`` (any JSON object: ``{}``, ``{"status": False}``, an error envelope, ...)
    as is. Any other status serves the Huawei error envelope ``{"error_code", "error_msg"}`` under that status
    (``error_code`` "" for a code-less answer): 409 ``DWS.0011``, 404 ``APIG.0101``, 201, 206, 302...
    """
    if status == 200:
        return {ANSWER: {"status": 200, "body": dict(body or {})}}
    if body is not None:
        raise ValueError("dws_answer: a body is served only with status 200; other statuses carry the error envelope")
    return {ANSWER: {"status": status, "error_code": error_code, "error_msg": error_msg}}


def dws_try_later(
    emulator: Emulator, count: int = 1, *, action_name: str | None = None, cluster_id: str | None = None
) -> None:
    """Answer the next ``count`` reads of the action views (only ``action_name``'s / ``cluster_id``'s when
    given) with 409 ``DWS.0011`` (:data:`TRY_LATER`)."""
    if action_name is not None and action_name not in ACTION_NAMES:
        raise ValueError(f"dws_try_later: {action_name!r} is not an action view; use one of {ACTION_NAMES}")
    params = {"action_name": action_name, "cluster_id": cluster_id}
    script_error(
        emulator,
        *TRY_LATER,
        action=LIST_CLUSTER_ACTIONS,
        params={name: value for name, value in params.items() if value is not None},
        count=count,
    )


# --- payloads ---------------------------------------------------------------------------------------------


def _check_views(views: Mapping[str, Any] | None, who: str) -> None:
    for name in views or {}:
        if name not in ACTION_NAMES:
            raise ValueError(f"{who}: {name!r} is not an action view; use one of {ACTION_NAMES}")


def served_answer(scripted: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a :func:`dws_answer`, or its error raised as the vendor would answer it."""
    answer = scripted[ANSWER]
    if answer["status"] == 200:
        body: dict[str, Any] = dict(answer["body"])
        return body
    raise ApiError(answer["error_code"], answer["error_msg"], int(answer["status"]))


def _check_cluster_id(cluster_id: str, who: str) -> None:
    # DWS answers a non-UUID cluster id with DWS.0001, so such a scripted cluster could never be read.
    if not is_uuid(cluster_id):
        raise ValueError(f"{who}: DWS cluster ids are UUIDs, got {cluster_id!r}")


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in its canonical form (DWS cluster ids are)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _stamp(moment: datetime) -> str:
    # The documented times look like "2025-05-19 09:06:18.0" (a Java timestamp's toString).
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + ".0"


def _plain(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _cluster_detail(cluster_id: str, name: str, created: datetime) -> dict[str, Any]:
    """A ClusterDetail with the fields the SDK model defines; ids derived from the cluster id, so stable."""

    def derived(what: str) -> str:
        return str(uuid.uuid5(_CLUSTER_NAMESPACE, f"{cluster_id}/{what}"))

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
class _Task:
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
        return self.start + timedelta(seconds=offset)

    def record(self, view: str, status: str, subs: list[dict[str, Any]]) -> dict[str, Any]:
        """The task as a view returns it: the documented example with this task's values."""
        record = load_example(_EXAMPLE)
        example_item = record["items"][0]
        sub_items = [{**example_item["sub_items"][0], **sub} for sub in subs]
        record.update(
            id=self.task_id,
            status=status,
            action_name=view,
            cluster_name=self.cluster_name,
            submit_time=_stamp(self.start),
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
        example = load_example(_EXAMPLE)["items"][0]["sub_items"][0]["detail"]
        info = json.loads(json.loads(example)["progressInfo"])
        info.update(
            actionStartTime=_plain(self.at(0)),
            actionEndTime=_plain(self.at(ended)) if ended is not None else "",
            # The step names are the emulator's: the work step (e.g. BACKUP) until the sub-item finishes.
            failedStep=self.action_type.upper() if error else "N/A",
            errorCode=self.error_code if error else "",
            updateTime=_plain(self.at(now)),
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
            "begin_time": _stamp(self.at(0)),
            # Like the documented failed record, a sub-item that did not succeed has no end time.
            "end_time": _stamp(self.at(ended)) if ended is not None and status == "SUCCESS" else None,
        }

    def split(self, progress: float) -> tuple[int, float]:
        """The sub-item ``progress`` (overall percent) falls in, and that sub-item's own percent."""
        count = len(self.sub_items)
        share = 100.0 / count
        index = min(int(progress // share), count - 1)
        return index, min(100.0, (progress - index * share) / share * 100.0)

    def ongoing_payload(self, phase: DwsPhase, progress: float) -> dict[str, Any]:
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
        cluster = _cluster_detail(self.cluster_id, self.cluster_name, self.start)
        cluster["number_of_node"] = self.origin_nodes
        return cluster

    def resize_info(self, resize_status: str) -> dict[str, Any]:
        return {
            "target_node_num": self.target_nodes,
            "origin_node_num": self.origin_nodes,
            "resize_status": resize_status,
            "start_time": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
