"""Huawei Cloud DWS cluster tasks: ``GET /v1/{project_id}/clusters/{cluster_id}/actions/{action_name}``.

The API shows only *ongoing* tasks, so the end of a task is decided from evidence, never guessed (the full
decision table, and why, is docs/design/dws-task-end.md):

1. The action view (e.g. ``SNAPSHOTTING``) answers 200 with a task record of that action: an ongoing status
   (WAITING, RUNNING, ROLLBACK_RUNNING) means the task is *seen* (its id, its submit time and the moment are
   remembered); a final status decides only if the record is attributable to this wait's task.
2. The action is gone only on the evidenced "no such ongoing task" answer, 400 ``DWS.0001``. Any other error
   propagates as the transport typed it; any other 200 (no documented status, another action's record, an
   error envelope) proves nothing and the wait goes on.
3. Once gone, a failure record in the paired failure view (e.g. ``SNAPSHOTTING_FAILED``) fails the wait if it
   is attributable to this task: its id equals the id seen, or it was submitted at or after the task seen
   (the two views' ids are not documented to match), or its timestamps are certainly after the wait started.
   A record certainly older than the task is ignored; one that cannot be told apart is a *doubt*.
4. Then the cluster's detail (``GET /v1.0/{project_id}/clusters/{cluster_id}``) decides: the action still in
   ``task_status`` / ``action_progress`` → running; a failure on the cluster → failed once the task was seen;
   an idle, healthy cluster → succeeded **only if the task was seen and no doubt remains**; otherwise the
   outcome cannot be confirmed, which is never a success (a grace of a few checks, then a failure saying so).
An unknown cluster (DWS.0047 / DWS.0015 / DWS.3027) fails at once.

Many waits in one project read the cluster list (``GET /v1.0/{project_id}/clusters``) instead, once their
task was seen: a cluster listed exactly once with the action still in ``task_status`` / ``action_progress``
is running (rule 4's first case). Anything else is read with the wait's own check, which decides the end.

The rules stay in one module because they decide together over one memory of the task; reading a record's
times and details is apart, in :mod:`.huawei_dws_records`.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from airflow_provider_cloudflows.errors import InvalidRequestError, NotFoundError
from airflow_provider_cloudflows.services.base import (
    BatchCheck,
    Check,
    CheckContext,
    Listing,
    ServiceSpec,
    Snapshot,
    mapping,
    require_text,
)
from airflow_provider_cloudflows.services.huawei_dws_records import (
    parse_time,
    percent,
    progress_of,
    record_times,
    stamp,
    sub_items,
    time_bounds,
)
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import StateTable, show
from airflow_provider_cloudflows.transport.huawei import VENDOR, HuaweiCall
from airflow_provider_cloudflows.transport.messages import ApiResponse

ACTION_PATH = "/v1/{project_id}/clusters/{cluster_id}/actions/{action_name}"
CLUSTER_PATH = "/v1.0/{project_id}/clusters/{cluster_id}"
CLUSTERS_PATH = "/v1.0/{project_id}/clusters"
# The cluster list answers every cluster of the project in one call.
MAX_LISTED_WAITS = 1000
FAILURE_VIEWS = {
    "GROWING": "RESIZE_FAILURE",
    "RESTORING": "RESTORING_FAILED",
    "SNAPSHOTTING": "SNAPSHOTTING_FAILED",
    "FINE_GRAINED_RESTORING": "FINE_GRAINED_RESTORING_FAILED",
}
ACTION_NAMES = tuple(FAILURE_VIEWS) + tuple(FAILURE_VIEWS.values())
# (HTTP status, error_code) answers that mean "no such ongoing task in this view". DWS documents none; 400
# DWS.0001 ("Incorrect parameter") is the inferred one (docs/design/dws-task-end.md §1). Nothing else is read as
# "gone": not a 404 (not a documented status here), not an APIG.* gateway code, not a code-less 400, not a
# 409/412, not a 200 error envelope, not a 201/206/302 body.
ACTION_GONE = frozenset({(400, "DWS.0001")})
HEALTHY_CLUSTER = frozenset({"AVAILABLE", "ACTIVE"})
# Documented cluster statuses in which no action can complete (SDK ClusterDetail, OTC doc).
BROKEN_CLUSTER = frozenset(
    {"FAILED", "CREATE_FAILED", "CREATION FAILED", "UNAVAILABLE", "FROZEN", "POLICE_FROZEN"}
    | {"DELETING", "DELETED", "DELETE_FAILED"}
)
# Checks to tolerate an action that has not (yet) appeared: submission is asynchronous.
NOT_SEEN_GRACE = 3
ONGOING_TASK_STATES = frozenset({"WAITING", "RUNNING", "ROLLBACK_RUNNING"})
FAILED_TASK_STATES = frozenset({"FAILED", "ROLLBACK_FAIL", "ROLLBACK_SUCCESS"})


class HuaweiDwsClusterTask(ServiceSpec):
    """An ongoing DWS cluster task (scale-out, restore, snapshot, fine-grained restore).

    Memory (``CheckContext.memory``): ``started`` (epoch of the wait's first check), ``seen_at`` (epoch the
    task was first seen ongoing), ``task_id`` / ``task_submit_time`` (the record seen in the action view), and
    ``unseen_checks`` (the grace counter, not worth a hand-back: after a restart the grace only restarts).
    """

    name = "huawei_dws_cluster_task"
    vendor = VENDOR
    title = "Huawei DWS cluster task"
    identifiers = ("cluster_id", "action_name")
    # The memory that changes what the wait may conclude: the trigger hands a change of it back to the sensor,
    # so that it survives a triggerer restart (see waiting.Wait.memory_changed).
    durable_memory: ClassVar[tuple[str, ...]] = ("started", "seen_at", "task_id", "task_submit_time")
    batch_size = MAX_LISTED_WAITS
    batch_lists_group = True
    table = StateTable(
        "status",
        {
            "WAITING": S.PENDING,
            "RUNNING": S.RUNNING,
            "ROLLBACK_RUNNING": S.RUNNING,
            "SUCCESS": S.SUCCEEDED,
            "FAILED": S.FAILED,
            "ROLLBACK_FAIL": S.FAILED,
            "ROLLBACK_SUCCESS": S.FAILED,
        },
        {"ROLLBACK_SUCCESS": "the action was rolled back (undone), so the wait fails"},
    )

    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """The sensor waits on an ongoing action; the failure views are read by the rule, not waited on."""
        cluster_id = require_text(ids, "cluster_id", path_segment=True)
        action = require_text(ids, "action_name", path_segment=True)
        if action not in FAILURE_VIEWS:
            raise ValueError(f"action_name must be one of {sorted(FAILURE_VIEWS)} (an ongoing action), got {action!r}")
        return {"cluster_id": cluster_id, "action_name": action}

    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """Action view, then (once it is gone) the failure view and the cluster detail."""
        cluster_id, action = ids["cluster_id"], ids["action_name"]
        memory = ctx.memory
        # The wait's start, against which a record's times are judged; set once, before any request can fail.
        memory.setdefault("started", time.time())
        view = yield from self._view(cluster_id, action)
        if view is not None:
            record, noise = self._record(view, action)
            if record is None:
                return self._noise(view, f"{action} view", noise)
            status = record["status"]
            if status in ONGOING_TASK_STATES:
                self._see(memory, record)
                return self._task_snapshot(view, evidence=f"{action} view")
            # A final status in the action view (DWS documents ongoing tasks only): it decides only if it is
            # this wait's task; an old record left in the view would otherwise end a new wait either way.
            whose, why = self._whose(record, memory, same_view=True)
            if whose == "ours":
                return self._task_snapshot(view, evidence=f"{action} view", attribution=why)
            doubt = f"{action} shows a {status} record {self._describe(record)} that {why}"
            if whose == "other":
                doubt = ""
        else:
            doubt = ""
        failure = FAILURE_VIEWS[action]
        failed = yield from self._view(cluster_id, failure)
        if failed is not None:
            # Garbage in the failure view (record None) proves nothing either way; the cluster detail still may.
            record, _ = self._record(failed, failure)
            if record is not None and record["status"] in FAILED_TASK_STATES:
                whose, why = self._whose(record, memory, same_view=False)
                if whose == "ours":
                    return self._task_snapshot(failed, evidence=f"{failure} view", attribution=why)
                if whose != "other":
                    doubt = f"{failure} holds a {record['status']} record {self._describe(record)} that {why}"
                    error = self._task_snapshot(failed, evidence="").reason
                    if error:
                        doubt += f" (its error: {error})"
        detail = yield HuaweiCall("GET", CLUSTER_PATH, {"cluster_id": cluster_id})
        return self._cluster_snapshot(detail, ids, failure, memory, doubt)

    def batch_ready(self, memory: Mapping[str, Any]) -> bool:
        """Only a task already seen (by its action view) may be followed on the list."""
        return memory.get("seen_at") is not None

    def batch_item(self, ids: Mapping[str, Any]) -> str:
        """The cluster and action, as one wait asks them."""
        return f"{ids['cluster_id']}/{ids['action_name']}"

    def read_many(self, group: str, items: Sequence[str]) -> BatchCheck:
        """The project's cluster list: a running snapshot per cluster listed exactly once and action still in
        its ``task_status`` / ``action_progress`` (every cluster of the project, asked or not)."""
        response = yield HuaweiCall("GET", CLUSTERS_PATH, {})
        listing = Listing(None, "id")
        if response.http_status == 200:
            listing.add(response.body.get("clusters"))
        snapshots: dict[str, Snapshot] = {}
        for cluster_id, cluster in listing.once().items():
            task_status = cluster.get("task_status")
            progress_map = mapping(cluster.get("action_progress"))
            running = [str(a) for a in progress_map] + ([task_status] if isinstance(task_status, str) else [])
            for action in running:
                if action not in FAILURE_VIEWS:
                    continue  # not an ongoing action a wait can ask for
                snapshots[f"{cluster_id}/{action}"] = Snapshot(
                    vendor_status="RUNNING",
                    status=S.RUNNING,
                    request_id=response.request_id,
                    progress=percent(progress_map.get(action)),
                    details={
                        "action_name": action,
                        "evidence": f"the cluster list's task_status/action_progress still shows {action}",
                    },
                )
        return snapshots

    def _view(self, cluster_id: str, action: str) -> Generator[Any, ApiResponse, ApiResponse | None]:
        """The view's answer, or None for the one evidenced "no such ongoing task" answer."""
        try:
            response = yield HuaweiCall("GET", ACTION_PATH, {"cluster_id": cluster_id, "action_name": action})
        except (NotFoundError, InvalidRequestError) as exc:
            # Decided on the typed class, the HTTP status and the code together: DWS.0047 & co. (cluster
            # unknown), APIG.* (gateway), code-less or 409/412 answers and error envelopes all propagate.
            if (exc.http_status, exc.code) in ACTION_GONE:
                return None
            raise
        return response

    def _record(self, response: ApiResponse, view: str) -> tuple[dict[str, Any] | None, str]:
        """The task record of ``view`` in a 200 answer, or None and why the answer is not one."""
        body = response.body
        if response.http_status != 200:
            return None, f"HTTP {response.http_status} is not the documented answer (200)"
        if "error_code" in body or "errCode" in body:
            return None, f"an error envelope ({show(body.get('error_code') or body.get('errCode'))}) in a 200"
        status = self.table.exact_key(body.get("status"))
        if status is None:
            return None, f"no documented task status (status={show(body.get('status'))})"
        named = body.get("action_name")
        if named is not None and named != view:
            return None, f"a record of another view (action_name={show(named)})"
        task_id = body.get("id")
        if task_id is not None and not isinstance(task_id, str):
            return None, f"a task id that is not a string ({show(task_id)})"
        return dict(body), ""

    def _see(self, memory: dict[str, Any], record: Mapping[str, Any]) -> None:
        """Remember the ongoing task: first moment seen, and the record's id and submit time."""
        memory.setdefault("seen_at", time.time())
        if record.get("id") is not None:
            memory["task_id"] = record.get("id")
        if isinstance(record.get("submit_time"), str):
            memory["task_submit_time"] = record.get("submit_time")

    def _whose(self, record: Mapping[str, Any], memory: Mapping[str, Any], *, same_view: bool) -> tuple[str, str]:
        """``ours``, ``other`` or ``unknown`` (and why) for a final record, from what is evidenced.

        Ids when they match; across views (whose ids are not documented to match) the submit time against the
        seen task's (same field, same zone); then the record's times against the moment the task was seen
        running, or the wait's start if it never was, whatever the zone.
        """
        record_id = record.get("id")
        if memory.get("task_id") is not None and record_id == memory.get("task_id"):
            return "ours", f"id {record_id} is the task seen running"
        if memory.get("task_id") is not None and same_view and record_id is not None:
            return "other", f"id {record_id} is not the task seen running ({memory.get('task_id')})"
        ours = parse_time(memory.get("task_submit_time"))
        theirs = parse_time(record.get("submit_time"))
        if ours is not None and theirs is not None and ours[1] == theirs[1]:
            if theirs[0] >= ours[0]:
                return "ours", f"submitted {record.get('submit_time')}, not before the task seen running"
            return "other", f"submitted {record.get('submit_time')}, before the task seen running"
        seen_at = memory.get("seen_at")
        reference = float(seen_at if seen_at is not None else memory["started"])
        moment = datetime.fromtimestamp(reference, tz=timezone.utc)
        what = "the task was seen running" if seen_at is not None else "this wait started"
        times = record_times(record)
        if not times:
            return "unknown", f"has no time to compare with when {what}, and no matching id"
        if max(time_bounds(t)[0] for t in times) >= moment:
            return "ours", f"was active after {what} ({stamp(reference)})"
        if max(time_bounds(t)[1] for t in times) < moment:
            # Seen running at that moment: a task over before it is another one. Never seen: it may be
            # this task, ended before the wait looked, or an earlier one.
            if seen_at is not None:
                return "other", f"ended before {what}"
            return "before", f"ended before {what} ({stamp(reference)}): this task's or an earlier one's"
        return "unknown", (
            f"cannot be placed before or after the moment {what} ({stamp(reference)}): its times carry no "
            "zone, and its id does not match"
        )

    @staticmethod
    def _describe(record: Mapping[str, Any]) -> str:
        return f"(id {show(record.get('id'))}, submitted {show(record.get('submit_time'))})"

    def _noise(self, response: ApiResponse, where: str, why: str) -> Snapshot:
        """An answer that proves nothing: UNKNOWN, the wait goes on (warned once per distinct value)."""
        return Snapshot(
            # Never the raw status: a "SUCCESS" in another action's record must not reach the verdict.
            vendor_status=f"no task record ({why})",
            status=S.UNKNOWN,
            request_id=response.request_id,
            details={"evidence": f"{where} answered {why}; not evidence of an end, waiting on"},
        )

    def _task_snapshot(self, response: ApiResponse, *, evidence: str, attribution: str | None = None) -> Snapshot:
        body = response.body
        status = body.get("status")
        rows = sub_items(body)
        errors = [f"{r['item_name']} / {r['sub_item_name']}: {r['error']}" for r in rows if r["error"]]
        failed_rows = [r for r in rows if str(r["status"]) in FAILED_TASK_STATES]
        reason = "; ".join(errors) or (
            "; ".join(f"{r['item_name']} / {r['sub_item_name']} {r['status']}" for r in failed_rows) or None
        )
        return Snapshot(
            vendor_status=status,
            status=self.table.status_of(status),
            request_id=response.request_id,
            progress=progress_of(rows),
            reason=reason if self.table.status_of(status).is_final else None,
            details={
                "id": body.get("id"),
                "action_name": body.get("action_name"),
                "cluster_name": body.get("cluster_name"),
                "submit_time": body.get("submit_time"),
                "evidence": evidence,
                # Why a final record was taken for this wait's task (ids, submit times or timestamps).
                **({"attribution": attribution} if attribution else {}),
                "items": rows,
            },
            markers={"sub_items": {f"{r['item_name']}/{r['sub_item_name']}": r["status"] for r in rows}},
        )

    def _cluster_snapshot(
        self, response: ApiResponse, ids: Mapping[str, Any], failure: str, memory: dict[str, Any], doubt: str
    ) -> Snapshot:
        action = ids["action_name"]
        body = response.body
        cluster = body.get("cluster") if response.http_status == 200 else None
        if not isinstance(cluster, Mapping) or not isinstance(cluster.get("status"), str):
            return self._noise(response, "the cluster detail", "no cluster with a status")
        if cluster.get("id") is not None and cluster.get("id") != ids["cluster_id"]:
            return self._noise(response, "the cluster detail", f"another cluster (id={show(cluster.get('id'))})")
        raw_task = cluster.get("task_status")
        task_status: str = raw_task if isinstance(raw_task, str) else ""
        raw_progress = cluster.get("action_progress")
        progress_map: Mapping[str, Any] = raw_progress if isinstance(raw_progress, Mapping) else {}
        raw_reasons = cluster.get("failed_reasons")
        failed_reasons: Mapping[str, Any] = raw_reasons if isinstance(raw_reasons, Mapping) else {}
        cluster_status = cluster["status"]
        seen = memory.get("seen_at") is not None
        facts = {
            "cluster_status": cluster_status,
            "task_status": task_status or None,
            "action_progress": dict(progress_map),
            "failed_reasons": dict(failed_reasons),
        }

        def snap(status: str, evidence: str, reason: str | None = None, progress: float | None = None) -> Snapshot:
            return Snapshot(
                vendor_status=status,
                status=self.table.status_of(status),
                request_id=response.request_id,
                progress=progress,
                reason=reason,
                details={"action_name": action, "evidence": evidence, **facts},
            )

        if task_status == action or action in progress_map:
            memory.setdefault("seen_at", time.time())
            progress = percent(progress_map.get(action))
            return snap("RUNNING", f"cluster task_status/action_progress still shows {action}", progress=progress)
        if cluster_status in BROKEN_CLUSTER:
            return snap("FAILED", f"cluster status {cluster_status}", f"cluster is {cluster_status}")
        problem = None
        if task_status == failure or task_status.endswith(("_FAILED", "_FAILURE")) or failed_reasons.get("error_code"):
            problem = f"task_status={task_status or 'none'}"
            if failed_reasons.get("error_code"):
                problem += f", {failed_reasons.get('error_code')}: {failed_reasons.get('error_msg')}"
        if problem and seen:
            return snap("FAILED", "cluster detail shows a failure", f"cluster {problem}")
        if problem:
            # Not attributable: DWS may keep an earlier task's failure on the cluster.
            doubt = "; ".join(filter(None, [doubt, f"the cluster shows {problem}"]))
        elif cluster_status not in HEALTHY_CLUSTER:
            return snap("WAITING", f"cluster status {cluster_status} is not a settled one; waiting on")
        elif task_status or progress_map:
            busy = task_status or ", ".join(sorted(map(str, progress_map)))
            return snap("WAITING", f"cluster busy with {busy}; waiting for it to settle")
        if seen and not doubt:
            return snap(
                "SUCCESS", f"{action} was seen running, is gone, {failure} has no record of it and the cluster is idle"
            )
        if seen:
            return snap(
                "FAILED",
                "outcome could not be confirmed",
                f"{action} was seen running and is gone, but its outcome could not be confirmed: {doubt}",
            )
        memory["unseen_checks"] = int(memory.get("unseen_checks", 0)) + 1
        if memory["unseen_checks"] > NOT_SEEN_GRACE:
            reason = (
                f"{action} was never observed on the cluster in {memory['unseen_checks']} checks; its outcome "
                "could not be confirmed"
            )
            reason += f": {doubt}" if doubt else " (start the sensor before the action can finish)"
            return snap("FAILED", f"{action} never observed", reason)
        return snap("WAITING", f"{action} not visible yet (check {memory['unseen_checks']} of {NOT_SEEN_GRACE})")

    def warnings(self, snapshot: Snapshot) -> list[str]:
        """An answer that proved nothing is worth one warning line (the wait goes on)."""
        if snapshot.status is S.UNKNOWN:
            return [str(snapshot.details.get("evidence"))]
        return []

    def changes(self, previous: Snapshot | None, current: Snapshot) -> list[str]:
        """Task status, then every sub-item whose status moved, with its progress and error."""
        lines = super().changes(previous, current)
        before: Mapping[str, Any] = previous.markers.get("sub_items", {}) if previous else {}
        for row in current.details.get("items", []):
            key = f"{row['item_name']}/{row['sub_item_name']}"
            if before.get(key) != row["status"]:
                text = f"{key} is {row['status']}"
                if row.get("progress"):
                    text += f" ({row['progress']})"
                if row.get("error"):
                    text += f": {row['error']}"
                lines.append(text)
        return lines
