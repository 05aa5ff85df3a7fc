"""Tencent Batch jobs that finished: ``DescribeJobs`` (2017-03-12) with ``Filters``, read as a watch.

DescribeJobs filters by name, state, zone and tags, not by time, and documents no order of its answer. So a
sweep asks for the jobs matching the watch's filters in a final state (``job-state``: every final state of
the job table) and pages ``Offset`` / ``Limit`` through all of them, until ``TotalCount`` is reached or a page
comes back short; the end times decide what is new (:class:`~.watching.WatchState`), and ``resume_from`` is
always None. A watch needs a name or a tag filter, so that none lists a whole account by accident. Items are
read as the waits' batch read reads them (:class:`~.base.Listing`, one item per JobId, the job table matched
exactly), and an item proves a job finished only if it matches the filters asked (the ``job-name`` filter
is taken as an exact match: Tencent documents no other).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from typing import Any

from airflow_provider_cloudflows.errors import CloudApiError
from airflow_provider_cloudflows.services.base import Listing, integer, objects, require_text, text
from airflow_provider_cloudflows.services.tencent_batch import VERSION
from airflow_provider_cloudflows.services.tencent_batch_job import MAX_JOB_IDS, TencentBatchJob
from airflow_provider_cloudflows.services.utc_times import epoch_seconds
from airflow_provider_cloudflows.services.watching import Finished, Sweep, WatchSpec
from airflow_provider_cloudflows.transport.messages import ApiResponse
from airflow_provider_cloudflows.transport.tencent import VENDOR, TencentCall

__all__ = ["FINAL_STATES", "MAX_SWEEP_PAGES", "PAGE", "TencentBatchJobs", "job_tags"]

log = logging.getLogger(__name__)

# DescribeJobs answers at most 100 jobs a page.
PAGE = MAX_JOB_IDS
# A sweep reads at most this many pages; more matching jobs fail it with a typed error (narrow the filters).
MAX_SWEEP_PAGES = 100
FINAL_STATES = tuple(state for state, status in TencentBatchJob.table.states.items() if status.is_final)
PARAMS = ("job_name", "tags")
TAG_PREFIX = "tag:"


def job_tags(value: Any) -> dict[str, str]:
    """A ``JobView``'s ``Tags`` as a dict: items with a string ``Key`` and ``Value``; others are left out."""
    return {
        item["Key"]: item["Value"]
        for item in objects(value)
        if isinstance(item.get("Key"), str) and isinstance(item.get("Value"), str)
    }


def _tags(params: Mapping[str, Any]) -> dict[str, str]:
    tags = params.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValueError(f"tags must be a dict of tag keys to values, got {type(tags).__name__}")
    normalized = {}
    for key, value in tags.items():
        for part, what in ((key, "key"), (value, "value")):
            if not isinstance(part, str) or not part.strip() or not part.isprintable():
                raise ValueError(f"tags: every tag {what} must be a non-empty printable string, got {part!r}")
        normalized[key] = value
    return dict(sorted(normalized.items()))


class TencentBatchJobs(WatchSpec):
    """Tencent Batch jobs of one name and/or carrying given tags that ended."""

    name = "tencent_batch_jobs"
    vendor = VENDOR
    title = "Tencent Batch jobs"
    table = TencentBatchJob.table

    def normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``job_name`` and ``tags`` (a dict of tag key to value); at least one of them."""
        unknown = sorted(str(key) for key in params if key not in PARAMS)
        if unknown:
            raise ValueError(f"unknown parameters {unknown}: a Batch jobs watch takes {', '.join(PARAMS)}")
        job_name = require_text(params, "job_name", optional=True)
        tags = _tags(params)
        if job_name is None and not tags:
            raise ValueError("a Batch jobs watch needs job_name or tags (or both): it must not list a whole account")
        return {"job_name": job_name, "tags": tags}

    def sweep(
        self, params: Mapping[str, Any], since: float, resume_from: float | None
    ) -> Generator[Any, ApiResponse, Sweep]:
        """DescribeJobs of the matching jobs in a final state, every page (no time filter exists)."""
        job_name: str | None = params.get("job_name")
        tags: Mapping[str, str] = params.get("tags") or {}
        filters: list[dict[str, Any]] = [{"Name": "job-state", "Values": list(FINAL_STATES)}]
        if job_name is not None:
            filters.append({"Name": "job-name", "Values": [job_name]})
        filters += [{"Name": f"{TAG_PREFIX}{key}", "Values": [value]} for key, value in tags.items()]
        listing = Listing(None, "JobId")
        offset = 0
        for _ in range(MAX_SWEEP_PAGES):
            page = yield TencentCall(
                "batch", "DescribeJobs", VERSION, {"Filters": filters, "Offset": offset, "Limit": PAGE}
            )
            jobs = page.body.get("JobSet")
            listing.add(jobs)
            offset += PAGE
            total = integer(page.body.get("TotalCount"))
            if (total is not None and offset >= total) or len(objects(jobs)) < PAGE:
                break
        else:
            raise CloudApiError(
                f"DescribeJobs still had jobs after {MAX_SWEEP_PAGES} pages of {PAGE}: the watch cannot read every "
                "job that may have ended (narrow it with job_name or tags)",
                vendor=VENDOR,
                code="TooManyPages",
            )
        finished = []
        for job_id, view in listing.once().items():
            item = self._finished(job_id, view, job_name, tags)
            if item is not None:
                finished.append(item)
        return Sweep(finished=tuple(finished), resume_from=None)

    def _finished(
        self, job_id: str, view: Mapping[str, Any], job_name: str | None, tags: Mapping[str, str]
    ) -> Finished | None:
        """The job the item proves finished, or None (an item not matching the filters proves nothing)."""
        state = view.get("JobState")
        status = self.table.status_of(state)
        if not status.is_final:
            return None
        listed_tags = job_tags(view.get("Tags"))
        if (job_name is not None and view.get("JobName") != job_name) or any(
            listed_tags.get(key) != value for key, value in tags.items()
        ):
            # Tencent documents the filters, not how job-name matches: a job it lists under another name
            # (or without the tags asked) is not the one watched.
            log.info("DescribeJobs listed job %s, which does not match the watch's filters: left out", job_id)
            return None
        ended = epoch_seconds(view.get("EndTime"))
        if ended is None:
            log.warning("DescribeJobs listed job %s as %s without a readable EndTime: left out", job_id, state)
            return None
        details = {
            "job_id": job_id,
            "job_name": text(view.get("JobName"), 200),
            "create_time": text(view.get("CreateTime"), 100),
            "end_time": text(view.get("EndTime"), 100),
            "tags": listed_tags,
        }
        return Finished(id=job_id, status=status, vendor_status=str(state), finished_at=ended, details=details)
