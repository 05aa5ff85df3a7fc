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

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.executions import Execution, TimedItem
from cloudflows_emulator.core.handler import ApiError
from cloudflows_emulator.examples import load_example
from cloudflows_emulator.huawei.dws_payloads import (
    ACTION_NAMES,
    ALL_ENTERPRISE_PROJECTS,
    ANSWER,
    CLUSTER_INFO_FIELDS,
    CLUSTER_NOT_FOUND,
    DEFAULT_ERROR_CODE,
    DEFAULT_ERROR_MSG,
    ENDS,
    EXAMPLE,
    FAILURE_VIEWS,
    LIST_CLUSTER_ACTIONS,
    LIST_CLUSTER_DETAILS,
    LIST_CLUSTERS,
    ONGOING_STATUSES,
    SERVICE,
    TASK_ITEMS,
    TRY_LATER,
    DwsPhase,
    TaskScript,
    cluster_detail,
)
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


def dws_task(
    cluster_id: str,
    action_name: str = "SNAPSHOTTING",
    phases: Sequence[DwsPhase | Sequence[Any] | Mapping[str, Any]] | None = None,
    *,
    end: str | None = "success",
    end_at: float | None = None,
    cluster_name: str | None = None,
    sub_items: Sequence[str] | None = None,
    error_code: str = DEFAULT_ERROR_CODE,
    error_msg: str = DEFAULT_ERROR_MSG,
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
    item_name, default_subs, action_type = TASK_ITEMS[action_name]
    names = tuple(sub_items) if sub_items is not None else default_subs
    if not names:
        raise ValueError("dws_task: sub_items must not be empty")
    target = target_number_of_node if target_number_of_node is not None else number_of_node + 3
    task = TaskScript(
        cluster_id=cluster_id,
        action=action_name,
        task_id=str(uuid.uuid4()),
        cluster_name=cluster_name or load_example(EXAMPLE)["cluster_name"],
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
    cluster = cluster_detail(cluster_id, cluster_name or load_example(EXAMPLE)["cluster_name"], now_utc())
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
    error_msg: str = DEFAULT_ERROR_MSG,
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
    item_name, subs, action_type = TASK_ITEMS[base]
    task = TaskScript(
        cluster_id="",
        action=base,
        task_id=task_id or str(uuid.uuid4()),
        cluster_name=cluster_name or load_example(EXAMPLE)["cluster_name"],
        item_name=item_name,
        sub_items=subs[:1],
        action_type=action_type,
        start=submitted,
        error_code=DEFAULT_ERROR_CODE,
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
