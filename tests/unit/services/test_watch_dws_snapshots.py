"""The DWS snapshot watch as a table: which ListSnapshots answers prove a snapshot ended (and how), which prove
nothing about an item (it is left out), which are not the documented list (a typed error), fed in memory."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_cloudflows.errors import (
    AuthError,
    CloudApiError,
    MalformedResponseError,
    NotFoundError,
    ServerError,
    ThrottledError,
)
from airflow_provider_cloudflows.registry import Kind, get_watch, names
from airflow_provider_cloudflows.services.huawei_dws_snapshots_watch import SNAPSHOTS_PATH, HuaweiDwsSnapshots
from airflow_provider_cloudflows.services.watching import FinalStatus, Finished, Sweep, WatchState
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.transport.huawei import VENDOR, HuaweiCall
from tests.unit.services.canned import Answer, ok, replay

SPEC = HuaweiDwsSnapshots()
CLUSTER = "4f87d3c4-9e33-482f-b962-e23b30d1a18c"
OTHER = "0b3e5c1a-6d7f-4a8b-9c0d-1e2f3a4b5c6d"
FINISHED = "2026-01-01T10:02:17Z"
FINISHED_AT = datetime(2026, 1, 1, 10, 2, 17, tzinfo=timezone.utc).timestamp()
SINCE = FINISHED_AT - 3600


def snapshot(**fields: Any) -> dict[str, Any]:
    """One item as the documented example shows it (AVAILABLE), with ``fields`` replaced (None: removed)."""
    item: dict[str, Any] = {
        "id": "2a4d0f86-67cd-408a-8b66-017454fb7793",
        "name": "nightly-1",
        "description": "",
        "started": "2026-01-01T10:00:00Z",
        "finished": FINISHED,
        "size": 500,
        "status": "AVAILABLE",
        "type": "MANUAL",
        "cluster_id": CLUSTER,
    }
    item.update(fields)
    return {k: v for k, v in item.items() if v is not None}


def listing(*items: Any) -> Answer:
    return ok({"snapshots": list(items), "count": len(items)})


def sweep(answer: Answer, params: dict[str, Any] | None = None, since: float = SINCE) -> Sweep:
    run = replay(SPEC.sweep(SPEC.normalize(params or {}), since, None), [answer])
    assert run.calls == [HuaweiCall("GET", SNAPSHOTS_PATH, {})]
    return run.result


def only(answer: Answer, params: dict[str, Any] | None = None) -> Finished:
    result = sweep(answer, params)
    assert len(result.finished) == 1, result
    return result.finished[0]


# --- what ends a snapshot --------------------------------------------------------------------------------


def test_an_available_snapshot_succeeded_with_its_details() -> None:
    found = only(listing(snapshot()))
    assert (found.id, found.status, found.vendor_status, found.finished_at) == (
        "2a4d0f86-67cd-408a-8b66-017454fb7793",
        S.SUCCEEDED,
        "AVAILABLE",
        FINISHED_AT,
    )
    assert found.details == {
        "snapshot_id": "2a4d0f86-67cd-408a-8b66-017454fb7793",
        "name": "nightly-1",
        "cluster_id": CLUSTER,
        "started": "2026-01-01T10:00:00Z",
        "finished": FINISHED,
        "size": 500.0,
        "type": "MANUAL",
    }
    assert json.loads(json.dumps(found.payload(SPEC.name)))["status"] == "SUCCEEDED"


def test_an_unavailable_snapshot_failed() -> None:
    found = only(listing(snapshot(status="UNAVAILABLE", size=0)))
    assert (found.status, found.vendor_status) == (S.FAILED, "UNAVAILABLE")


@pytest.mark.parametrize("status", ["CREATING", "FROZEN", "POLICE_FROZEN"])
def test_a_snapshot_being_created_or_frozen_has_not_ended(status: str) -> None:
    assert sweep(listing(snapshot(status=status))).finished == ()


LEFT_OUT = {
    "no id": snapshot(id=None),
    "an integer id": snapshot(id=7),
    "a list id": snapshot(id=["2a4d0f86"]),
    "no status": snapshot(status=None),
    "a lower-case status": snapshot(status="available"),
    "a status with a trailing space": snapshot(status="AVAILABLE "),
    "a boolean status": snapshot(status=True),
    "an undocumented status": snapshot(status="SUCCESS"),
    "no finished time": snapshot(finished=None),
    "a null finished time": {**snapshot(), "finished": None},
    "an empty finished time": snapshot(finished=""),
    "a numeric finished time": snapshot(finished=1767261737),
    "a finished time without its zone": snapshot(finished="2026-01-01T10:02:17"),
    "a finished time with a space": snapshot(finished="2026-01-01 10:02:17Z"),
    "a finished time with an offset": snapshot(finished="2026-01-01T10:02:17+08:00"),
    "a finished time that does not exist": snapshot(finished="2026-02-30T10:02:17Z"),
}


@pytest.mark.parametrize("item", list(LEFT_OUT.values()), ids=list(LEFT_OUT))
def test_an_item_missing_a_proving_field_or_of_another_type_is_left_out(item: dict[str, Any]) -> None:
    assert sweep(listing(item)).finished == ()


def test_an_id_listed_twice_proves_nothing_and_the_others_still_count() -> None:
    twice = snapshot(id="dup")
    result = sweep(listing(twice, {**twice, "status": "UNAVAILABLE"}, snapshot(id="other"), "noise", None, 3))
    assert [f.id for f in result.finished] == ["other"]


def test_ill_typed_detail_fields_read_as_absent_without_leaving_the_snapshot_out() -> None:
    found = only(listing(snapshot(size=True, name=["x"], type=1, started={"at": 1}, cluster_id=None)))
    assert {k: found.details[k] for k in ("size", "name", "type", "started", "cluster_id")} == dict.fromkeys(
        ("size", "name", "type", "started", "cluster_id")
    )


def test_a_snapshot_that_ended_before_the_sweeps_start_is_left_out() -> None:
    assert sweep(listing(snapshot()), since=FINISHED_AT + 1).finished == ()
    assert len(sweep(listing(snapshot()), since=FINISHED_AT).finished) == 1


def test_a_sweep_never_asks_to_resume_from_a_start_time() -> None:
    assert sweep(listing(snapshot(id="a"), snapshot(id="b", status="CREATING", finished=None))).resume_from is None


# --- filters ---------------------------------------------------------------------------------------------


def test_the_cluster_filter_keeps_only_that_clusters_snapshots() -> None:
    items = [snapshot(id="mine"), snapshot(id="theirs", cluster_id=OTHER), snapshot(id="unnamed", cluster_id=None)]
    assert [f.id for f in sweep(listing(*items), {"cluster_id": CLUSTER}).finished] == ["mine"]
    assert {f.id for f in sweep(listing(*items)).finished} == {"mine", "theirs", "unnamed"}


def test_a_cluster_id_of_another_type_does_not_match_the_filter() -> None:
    assert sweep(listing(snapshot(cluster_id=[CLUSTER])), {"cluster_id": CLUSTER}).finished == ()


def test_the_name_prefix_keeps_only_names_starting_with_it() -> None:
    items = [snapshot(id="a", name="nightly-7"), snapshot(id="b", name="manual-1"), snapshot(id="c", name=None)]
    assert [f.id for f in sweep(listing(*items), {"name_prefix": "nightly-"}).finished] == ["a"]


# --- answers that are not the list, and errors ------------------------------------------------------------

NOT_A_LIST = {
    "no snapshots field": ok({"count": 0}),
    "snapshots null": ok({"snapshots": None, "count": 0}),
    "snapshots an object": ok({"snapshots": {"id": "x"}, "count": 1}),
    "snapshots a string": ok({"snapshots": "[]", "count": 0}),
    "a 201": ok({"snapshots": [snapshot()], "count": 1}, http_status=201),
}


@pytest.mark.parametrize("answer", list(NOT_A_LIST.values()), ids=list(NOT_A_LIST))
def test_an_answer_without_the_documented_list_is_a_typed_error(answer: Answer) -> None:
    with pytest.raises(MalformedResponseError, match="ListSnapshots") as info:
        sweep(answer)
    assert info.value.request_id == "req-canned"


def test_an_empty_list_proves_nothing_ended() -> None:
    assert sweep(listing()) == Sweep()


ERRORS = {
    "auth": AuthError("signature", vendor=VENDOR, code="APIG.0301", http_status=401),
    "throttled": ThrottledError("slow down", vendor=VENDOR, code="APIG.0308", http_status=429),
    "server": ServerError("oops", vendor=VENDOR, code="DWS.0005", http_status=500),
    "not found": NotFoundError("no such API", vendor=VENDOR, code="APIG.0101", http_status=404),
}


@pytest.mark.parametrize("error", list(ERRORS.values()), ids=list(ERRORS))
def test_a_typed_error_of_the_call_propagates_as_it_was_typed(error: CloudApiError) -> None:
    with pytest.raises(type(error)) as info:
        sweep(error)
    assert info.value is error


# --- parameters --------------------------------------------------------------------------------------------


def test_parameters_are_optional_and_canonical() -> None:
    assert SPEC.normalize({}) == {"cluster_id": None, "name_prefix": None}
    assert SPEC.normalize({"cluster_id": f" {CLUSTER} ", "name_prefix": "nightly-"}) == {
        "cluster_id": CLUSTER,
        "name_prefix": "nightly-",
    }
    assert SPEC.normalize({"cluster_id": "", "name_prefix": None}) == {"cluster_id": None, "name_prefix": None}


BAD_PARAMS = {
    "a float cluster id": ({"cluster_id": 1.5}, "cluster_id"),
    "a list cluster id": ({"cluster_id": [CLUSTER]}, "cluster_id"),
    "a cluster id with a line break": ({"cluster_id": "a\nb"}, "cluster_id"),
    "an empty prefix": ({"name_prefix": ""}, "name_prefix"),
    "a numeric prefix": ({"name_prefix": 7}, "name_prefix"),
    "a prefix with a tab": ({"name_prefix": "a\tb"}, "name_prefix"),
    "an unknown parameter": ({"cluster": CLUSTER}, "cluster"),
    "a status filter here": ({"statuses": "failed"}, "statuses"),
}


@pytest.mark.parametrize(("params", "named"), list(BAD_PARAMS.values()), ids=list(BAD_PARAMS))
def test_a_bad_parameter_is_a_value_error_naming_it(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SPEC.normalize(params)


def test_the_watch_is_registered_by_name() -> None:
    assert "huawei_dws_snapshots" in names(Kind.WATCH)
    watch = get_watch("huawei_dws_snapshots")
    assert isinstance(watch, HuaweiDwsSnapshots)
    assert (watch.vendor, watch.name) == ("huaweicloud", "huawei_dws_snapshots")
    assert watch.subject(SPEC.normalize({"cluster_id": CLUSTER})) == f"Huawei DWS snapshots cluster_id={CLUSTER}"


# --- with the exactly-once state -----------------------------------------------------------------------------


def test_each_ended_snapshot_is_taken_once_across_sweeps_and_filtered_by_final_status() -> None:
    state = WatchState.starting_at(SINCE)
    first = listing(snapshot(id="a"), snapshot(id="b", status="CREATING", finished=None))
    taken, state = state.take(sweep(first, since=state.since()), FinalStatus.ANY)
    assert [f.id for f in taken] == ["a"]
    second = listing(snapshot(id="a"), snapshot(id="b", status="UNAVAILABLE", finished="2026-01-01T10:05:00Z"))
    taken, state = state.take(sweep(second, since=state.since()), FinalStatus.SUCCEEDED)
    assert taken == []  # b failed: handled, not reported to a successes-only watch
    taken, _ = state.take(sweep(second, since=state.since()), FinalStatus.ANY)
    assert taken == []


# --- what is logged ---------------------------------------------------------------------------------------------

LOGGER = "airflow_provider_cloudflows.services.huawei_dws_snapshots_watch"


def test_items_that_prove_nothing_are_named_in_one_warning_per_sweep(caplog: pytest.LogCaptureFixture) -> None:
    items = [snapshot(id=f"s{i}", status="DELETING") for i in range(8)] + [snapshot(id="late", finished="soon")]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert sweep(listing(*items, "noise")).finished == ()
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert "1 not an object" in line and "snapshot 's0' has no documented status ('DELETING')" in line
    assert line.endswith("; ...")  # bounded: ten reasons, five shown


def test_a_count_other_than_the_items_listed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert len(sweep(ok({"snapshots": [snapshot()], "count": 3})).finished) == 1
    assert ["count is 3 but 1 are listed" in r.getMessage() for r in caplog.records] == [True]


def test_a_clean_answer_with_snapshots_still_being_created_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        sweep(
            listing(
                snapshot(id="a"), snapshot(id="b", status="CREATING", finished=None), snapshot(id="c", status="FROZEN")
            )
        )
    assert caplog.records == []
