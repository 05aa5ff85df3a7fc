"""``submit_batch_job``: a job registered without a request is the job ``SubmitJob`` would have made, so
``DescribeJobs`` (its filters, its paging) and ``DescribeJob`` read it alike, and it follows its plan."""

from __future__ import annotations

from typing import Any

import pytest

from cloudflows_emulator import EmulatorServer
from cloudflows_emulator.tencent import plan_batch_job, submit_batch_job

from .helpers import tc3_post, tc3_response


@pytest.fixture(autouse=True)
def _unspaced(server: EmulatorServer) -> None:
    for action in ("SubmitJob", "DescribeJob", "DescribeJobs"):
        server.emulator.set_rate_limit("batch", action, None)


def _jobs(server: EmulatorServer, *filters: tuple[str, list[str]], offset: int = 0) -> dict[str, Any]:
    params = {"Filters": [{"Name": n, "Values": v} for n, v in filters], "Offset": offset, "Limit": 100}
    return tc3_response(tc3_post(server, "batch", "DescribeJobs", params))


def test_a_registered_job_is_listed_and_described_like_a_submitted_one(server: EmulatorServer) -> None:
    made = submit_batch_job(server.emulator, "nightly", tags={"team": "etl"}, zone="ap-guangzhou-4")
    submit = {"Placement": {"Zone": "ap-guangzhou-4"}, "Job": {"JobName": "nightly", "Tasks": [{"TaskName": "A"}]}}
    submit["Job"]["Tags"] = [{"Key": "team", "Value": "etl"}]  # type: ignore[index]
    sent = tc3_response(tc3_post(server, "batch", "SubmitJob", submit))["JobId"]
    views = {view["JobId"]: view for view in _jobs(server, ("tag:team", ["etl"]))["JobSet"]}
    assert set(views) == {made, sent}
    strip = ("JobId", "CreateTime")
    assert {k: v for k, v in views[made].items() if k not in strip} == {
        k: v for k, v in views[sent].items() if k not in strip
    }
    detail = tc3_response(tc3_post(server, "batch", "DescribeJob", {"JobId": made}))
    assert (detail["JobName"], detail["Zone"], detail["Tags"]) == (
        "nightly",
        "ap-guangzhou-4",
        [{"Key": "team", "Value": "etl"}],
    )


def test_a_registered_job_follows_its_plan_and_is_found_by_the_final_state_filter(server: EmulatorServer) -> None:
    plan_batch_job(server.emulator, {"A": [(0, "RUNNING"), (60, "FAILED")]}, job_name="failing")
    failing = submit_batch_job(server.emulator, "failing")
    done = submit_batch_job(server.emulator, "plain")  # the default script: SUCCEED after 2 s
    final = ("job-state", ["SUCCEED", "FAILED", "FAILED_INTERRUPTED"])
    server.emulator.advance(5)
    assert [view["JobId"] for view in _jobs(server, final)["JobSet"]] == [done]
    server.emulator.advance(60)
    views = {view["JobId"]: view for view in _jobs(server, final)["JobSet"]}
    assert {job_id: view["JobState"] for job_id, view in views.items()} == {failing: "FAILED", done: "SUCCEED"}
    assert all(view["EndTime"] for view in views.values())
    assert [view["JobId"] for view in _jobs(server, final, ("job-name", ["failing"]))["JobSet"]] == [failing]


def test_many_registered_jobs_page_by_offset(server: EmulatorServer) -> None:
    made = {submit_batch_job(server.emulator, "bulk") for _ in range(130)}
    first, second = _jobs(server, ("job-name", ["bulk"])), _jobs(server, ("job-name", ["bulk"]), offset=100)
    assert (first["TotalCount"], len(first["JobSet"]), len(second["JobSet"])) == (130, 100, 30)
    assert {view["JobId"] for view in first["JobSet"] + second["JobSet"]} == made


def test_a_job_needs_a_task() -> None:
    with pytest.raises(ValueError, match="at least one task"):
        submit_batch_job(None, "empty", ())  # type: ignore[arg-type]
