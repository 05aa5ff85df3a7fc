"""The watch state in memory: which finished executions a sweep reports, exactly once, and what is stored."""

from __future__ import annotations

import json

import pytest

from airflow_provider_cloudflows.services.watching import (
    MAX_SEEN,
    SETTLE_SECONDS,
    FinalStatus,
    Finished,
    Sweep,
    WatchState,
    WatchStateError,
)
from airflow_provider_cloudflows.status import ExecutionStatus as S

NOW = 1_800_000_000.0


def done(execution_id: str, at: float, status: S = S.SUCCEEDED) -> Finished:
    return Finished(execution_id, status, status.value.title(), at, {"name": execution_id})


def sweep(*items: Finished, resume_from: float | None = None) -> Sweep:
    return Sweep(tuple(items), resume_from)


def test_a_new_watch_reports_only_what_finishes_after_it_starts_give_or_take_the_settle_window() -> None:
    state = WatchState.starting_at(NOW)
    new, _ = state.take(
        sweep(done("old", NOW - SETTLE_SECONDS - 1), done("settling", NOW - 5), done("new", NOW + 3)), FinalStatus.ANY
    )
    assert [f.id for f in new] == ["settling", "new"]


def test_each_execution_is_reported_once_across_sweeps_that_list_it_again() -> None:
    state = WatchState.starting_at(NOW)
    first, state = state.take(sweep(done("a", NOW + 1)), FinalStatus.ANY)
    second, state = state.take(sweep(done("a", NOW + 1), done("b", NOW + 2)), FinalStatus.ANY)
    third, state = state.take(sweep(done("a", NOW + 1), done("b", NOW + 2)), FinalStatus.ANY)
    assert ([f.id for f in first], [f.id for f in second], third) == (["a"], ["b"], [])


def test_an_id_listed_twice_in_one_sweep_is_reported_once() -> None:
    new, _ = WatchState.starting_at(NOW).take(sweep(done("a", NOW + 1), done("a", NOW + 1)), FinalStatus.ANY)
    assert [f.id for f in new] == ["a"]


def test_reports_come_oldest_end_first() -> None:
    new, _ = WatchState.starting_at(NOW).take(
        sweep(done("c", NOW + 9), done("a", NOW + 1), done("b", NOW + 5)), FinalStatus.ANY
    )
    assert [f.id for f in new] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("statuses", "reported"),
    [
        (FinalStatus.ANY, ["ok", "bad", "stopped", "late"]),
        (FinalStatus.SUCCEEDED, ["ok"]),
        (FinalStatus.FAILED, ["bad", "stopped", "late"]),
    ],
)
def test_the_status_filter_reports_its_kind_and_still_counts_the_others_as_handled(
    statuses: FinalStatus, reported: list[str]
) -> None:
    items = (
        done("ok", NOW + 1),
        done("bad", NOW + 2, S.FAILED),
        done("stopped", NOW + 3, S.CANCELLED),
        done("late", NOW + 4, S.TIMED_OUT),
    )
    new, state = WatchState.starting_at(NOW).take(sweep(*items), statuses)
    assert [f.id for f in new] == reported
    again, _ = state.take(sweep(*items), FinalStatus.ANY)
    assert again == []


def test_the_horizon_follows_the_newest_end_and_forgets_ids_older_than_the_settle_window() -> None:
    state = WatchState.starting_at(NOW)
    _, state = state.take(sweep(done("a", NOW + 1)), FinalStatus.ANY)
    _, state = state.take(sweep(done("b", NOW + SETTLE_SECONDS + 2)), FinalStatus.ANY)
    assert state.horizon == NOW + SETTLE_SECONDS + 2
    assert set(state.seen) == {"b"}
    # "a" ended before the new horizon's settle window: listed again, it is not reported again.
    again, _ = state.take(sweep(done("a", NOW + 1)), FinalStatus.ANY)
    assert again == []


def test_the_resume_point_of_the_last_sweep_is_kept() -> None:
    _, state = WatchState.starting_at(NOW).take(sweep(resume_from=NOW - 3600), FinalStatus.ANY)
    assert state.resume_from == NOW - 3600
    _, state = state.take(sweep(), FinalStatus.ANY)
    assert state.resume_from is None


def test_the_seen_ids_are_capped_keeping_the_newest_ends() -> None:
    items = [done(f"e{i}", NOW + i / 100) for i in range(MAX_SEEN + 10)]
    new, state = WatchState.starting_at(NOW).take(sweep(*items), FinalStatus.ANY)
    assert len(new) == MAX_SEEN + 10
    assert len(state.seen) == MAX_SEEN
    assert min(state.seen.values()) == NOW + 10 / 100


def test_the_state_round_trips_through_json() -> None:
    _, state = WatchState.starting_at(NOW).take(sweep(done("a", NOW + 1), resume_from=NOW - 60), FinalStatus.ANY)
    assert WatchState.from_json(json.loads(json.dumps(state.to_json()))) == state


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "text",
        {"horizon": NOW, "seen": {}},
        {"version": 2, "horizon": NOW, "seen": {}},
        {"version": 1, "horizon": "soon", "seen": {}},
        {"version": 1, "horizon": True, "seen": {}},
        {"version": 1, "horizon": NOW, "seen": ["a"]},
        {"version": 1, "horizon": NOW, "seen": {"a": "yesterday"}},
        {"version": 1, "horizon": NOW, "seen": {}, "resume_from": "x"},
    ],
)
def test_a_stored_value_this_provider_did_not_write_is_a_typed_error(stored: object) -> None:
    with pytest.raises(WatchStateError):
        WatchState.from_json(stored)


@pytest.mark.parametrize("value", ["succeeded", "failed", "any"])
def test_the_status_filter_is_named_by_its_value(value: str) -> None:
    assert FinalStatus.parse(value).value == value


def test_an_unknown_status_filter_names_the_parameter_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"statuses must be one of 'succeeded', 'failed', 'any', got 'SUCCESS'"):
        FinalStatus.parse("SUCCESS")


def test_the_payload_carries_the_id_the_statuses_the_end_and_the_details() -> None:
    payload = done("a", NOW + 1, S.FAILED).payload("some_watch")
    assert payload == {
        "watch": "some_watch",
        "id": "a",
        "status": "FAILED",
        "vendor_status": "Failed",
        "finished_at": NOW + 1,
        "name": "a",
    }
    json.dumps(payload)
