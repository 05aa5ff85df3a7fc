"""The Tencent Batch jobs watch fed canned DescribeJobs answers in memory: the filters a sweep sends, the pages
it reads, and which JobView items prove a job finished."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cloudflows.errors import AuthError, CloudApiError
from airflow_provider_cloudflows.registry import get_watch
from airflow_provider_cloudflows.services.tencent_batch_watch import (
    FINAL_STATES,
    MAX_SWEEP_PAGES,
    PAGE,
    TencentBatchJobs,
)
from airflow_provider_cloudflows.services.utc_times import epoch_seconds
from airflow_provider_cloudflows.services.watching import Sweep
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.transport.tencent import VENDOR
from tests.unit.services.canned import Answer, Replay, ok, replay

SPEC = TencentBatchJobs()
PARAMS = SPEC.normalize({"job_name": "nightly", "tags": {"team": "etl"}})
END = "2026-12-06T10:05:00Z"


def job(job_id: str, state: Any = "SUCCEED", **fields: Any) -> dict[str, Any]:
    view = {
        "JobId": job_id,
        "JobName": "nightly",
        "JobState": state,
        "CreateTime": "2026-12-06T10:00:00Z",
        "EndTime": END,
        "Tags": [{"Key": "team", "Value": "etl"}, {"Key": "owner", "Value": "ana"}],
        "Priority": 1,
    }
    return {**view, **fields}


def page(*jobs: dict[str, Any], total: Any = None) -> Answer:
    return ok({"JobSet": list(jobs), "TotalCount": len(jobs) if total is None else total})


def sweep(answers: list[Answer], params: dict[str, Any] = PARAMS) -> Replay[Sweep]:
    return replay(SPEC.sweep(params, 0.0, None), answers)


def ids(result: Sweep) -> list[str]:
    return sorted(item.id for item in result.finished)


def test_the_watch_is_registered_under_its_name() -> None:
    assert isinstance(get_watch("tencent_batch_jobs"), TencentBatchJobs)


def test_a_sweep_asks_for_the_final_states_the_name_and_each_tag_as_documented() -> None:
    run = sweep([page()])
    call = run.calls[0]
    assert (call.service, call.action, call.version) == ("batch", "DescribeJobs", "2017-03-12")
    assert call.params == {
        "Filters": [
            {"Name": "job-state", "Values": ["SUCCEED", "FAILED", "FAILED_INTERRUPTED"]},
            {"Name": "job-name", "Values": ["nightly"]},
            {"Name": "tag:team", "Values": ["etl"]},
        ],
        "Offset": 0,
        "Limit": 100,
    }
    assert FINAL_STATES == ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")


@pytest.mark.parametrize(
    ("state", "status"), [("SUCCEED", S.SUCCEEDED), ("FAILED", S.FAILED), ("FAILED_INTERRUPTED", S.FAILED)]
)
def test_each_final_state_is_a_finished_job_with_its_details(state: str, status: S) -> None:
    item = sweep([page(job("job-aaaaaaaa", state))]).result.finished[0]
    assert (item.id, item.status, item.vendor_status) == ("job-aaaaaaaa", status, state)
    assert item.finished_at == epoch_seconds(END)
    assert item.details == {
        "job_id": "job-aaaaaaaa",
        "job_name": "nightly",
        "create_time": "2026-12-06T10:00:00Z",
        "end_time": END,
        "tags": {"team": "etl", "owner": "ana"},
    }


def test_pages_are_read_by_offset_until_the_total_count() -> None:
    first = [job(f"job-a{n:07d}") for n in range(PAGE)]
    run = sweep([page(*first, total=PAGE + 1), page(job("job-bbbbbbbb"), total=PAGE + 1)])
    assert [call.params["Offset"] for call in run.calls] == [0, PAGE]
    assert len(run.result.finished) == PAGE + 1


def test_a_full_last_page_at_the_total_count_stops_without_another_call() -> None:
    run = sweep([page(*[job(f"job-a{n:07d}") for n in range(PAGE)], total=PAGE)])
    assert len(run.calls) == 1


def test_a_short_page_stops_even_when_the_total_count_says_more() -> None:
    run = sweep([page(job("job-aaaaaaaa"), total=500)])
    assert len(run.calls) == 1
    assert ids(run.result) == ["job-aaaaaaaa"]


@pytest.mark.parametrize("total", [None, "200", 200.0, True])
def test_a_missing_or_ill_typed_total_count_pages_until_a_short_page(total: Any) -> None:
    full = [job(f"job-a{n:07d}") for n in range(PAGE)]
    body: dict[str, Any] = {"JobSet": full}
    if total is not None:
        body["TotalCount"] = total
    run = sweep([ok(body), ok({"JobSet": []})])
    assert len(run.calls) == 2


def test_a_listing_that_never_ends_fails_with_a_typed_error() -> None:
    full = page(*[job(f"job-a{n:07d}") for n in range(PAGE)], total=10**9)
    with pytest.raises(CloudApiError) as raised:
        sweep([full] * MAX_SWEEP_PAGES)
    assert raised.value.code == "TooManyPages"


@pytest.mark.parametrize(
    ("case", "view"),
    [
        ("a running job", job("job-x", "RUNNING")),
        ("a state in another case", job("job-x", "succeed")),
        ("a state with a newline", job("job-x", "SUCCEED\n")),
        ("a numeric state", job("job-x", 1)),
        ("no EndTime", job("job-x", EndTime=None)),
        ("an EndTime without a zone", job("job-x", EndTime="2026-12-06 10:05:00")),
        ("a numeric EndTime", job("job-x", EndTime=1765015500)),
        ("a JobId that is not a string", job(12345678)),  # type: ignore[arg-type]
        ("another job name", job("job-x", JobName="nightly-2")),
        ("no tags", job("job-x", Tags=None)),
        ("another tag value", job("job-x", Tags=[{"Key": "team", "Value": "bi"}])),
        ("an ill-typed tag", job("job-x", Tags=[{"Key": "team", "Value": ["etl"]}])),
    ],
)
def test_an_item_that_proves_nothing_is_left_out_without_an_exception(case: str, view: dict[str, Any]) -> None:
    result = sweep([page(view, job("job-good0000"))]).result
    assert ids(result) == ["job-good0000"], case


def test_a_job_listed_twice_proves_nothing() -> None:
    full = [job(f"job-a{n:07d}") for n in range(PAGE)]
    run = sweep([page(*full, total=PAGE + 1), page(job("job-a0000000", "FAILED"), total=PAGE + 1)])
    assert "job-a0000000" not in ids(run.result)
    assert len(run.result.finished) == PAGE - 1


@pytest.mark.parametrize("job_set", [None, "x", {"JobId": "job-x"}, [None, 3]])
def test_an_ill_typed_job_set_lists_nothing(job_set: Any) -> None:
    assert sweep([ok({"JobSet": job_set, "TotalCount": 1})]).result == Sweep()


def test_resume_from_is_always_none() -> None:
    assert sweep([page(job("job-aaaaaaaa"))]).result.resume_from is None


def test_a_name_only_watch_sends_no_tag_filter_and_a_tags_only_watch_no_name_filter() -> None:
    by_name = sweep([page()], SPEC.normalize({"job_name": "nightly"})).calls[0].params["Filters"]
    assert [f["Name"] for f in by_name] == ["job-state", "job-name"]
    by_tags = SPEC.normalize({"tags": {"team": "etl", "env": "prod"}})
    filters = sweep([page()], by_tags).calls[0].params["Filters"]
    assert [f["Name"] for f in filters] == ["job-state", "tag:env", "tag:team"]
    view = job(
        "job-aaaaaaaa", JobName="anything", Tags=[{"Key": "team", "Value": "etl"}, {"Key": "env", "Value": "prod"}]
    )
    assert ids(sweep([page(view)], by_tags).result) == ["job-aaaaaaaa"]


def test_a_vendor_error_propagates_typed() -> None:
    with pytest.raises(AuthError):
        sweep([AuthError("no", vendor=VENDOR, code="AuthFailure.SignatureFailure")])


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "job_name or tags"),
        ({"job_name": None, "tags": {}}, "job_name or tags"),
        ({"job_name": ""}, "job_name or tags"),
        ({"job_name": ["a"]}, "job_name"),
        ({"tags": ["team"]}, "tags"),
        ({"tags": {"team": 3}}, "tags"),
        ({"tags": {"": "x"}}, "tags"),
        ({"job_name": "a", "tag": {"team": "etl"}}, "tag"),
    ],
)
def test_bad_params_raise_a_value_error_naming_the_parameter(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        TencentBatchJobs().normalize(params)


def test_params_normalize_to_both_filters() -> None:
    assert TencentBatchJobs().normalize({"job_name": " nightly "}) == {"job_name": "nightly", "tags": {}}
