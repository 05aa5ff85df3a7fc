"""Schedule DAGs on cloud executions that finished: asset watchers, no sensor, no polling DAG.

What it shows:

* An ``Asset`` watched by ``CloudFlowExecutionsTrigger``: every execution of the CloudFlow flow ``nightly_etl``
  that succeeds becomes one asset event, and ``example_cloudflow_finished`` runs once for it, reading the
  execution's name and Output from the event's payload.
* An ``Asset`` watched by ``BatchJobsTrigger`` with ``statuses="failed"``: every Tencent Batch job named
  ``nightly-report`` that fails runs ``example_batch_job_failed``, an alerting DAG.
* The watchers poll in the triggerer, through the connections' shared clients: their requests count against
  the same per-account quotas as the waits. Each execution is reported once (across triggerer restarts from
  Airflow 3.3, whose asset state store keeps the watch's place).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_cloudflows.triggers.watchers import BatchJobsTrigger, CloudFlowExecutionsTrigger

# 30-60 s suits a real cloud; every watcher of the same list shares one poll.
POLL_INTERVAL = 30.0

cloudflow_succeeded = Asset(
    "cloudflow://nightly_etl/succeeded",
    watchers=[
        AssetWatcher(
            name="nightly_etl_succeeded",
            trigger=CloudFlowExecutionsTrigger(
                flow_name="nightly_etl", statuses="succeeded", poll_interval=POLL_INTERVAL
            ),
        )
    ],
)

batch_failed = Asset(
    "tencent-batch://nightly-report/failed",
    watchers=[
        AssetWatcher(
            name="nightly_report_failed",
            trigger=BatchJobsTrigger(job_name="nightly-report", statuses="failed", poll_interval=POLL_INTERVAL),
        )
    ],
)


def payloads(context: Any, asset: Asset) -> list[dict[str, Any]]:
    """The watcher payloads of the asset events that triggered this run."""
    return [event.extra["payload"] for event in context["triggering_asset_events"][asset]]


with DAG(
    dag_id="example_cloudflow_finished",
    description="Run once per CloudFlow execution of nightly_etl that succeeded (asset watcher)",
    schedule=[cloudflow_succeeded],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "alibaba", "asset-watcher"],
):

    @task
    def load_output(**context: Any) -> list[str]:
        """Each finished execution's name and Output (parsed JSON), as the watcher reported them."""
        names = []
        for payload in payloads(context, cloudflow_succeeded):
            print(f"execution {payload['name']} {payload['status']} at {payload['finished_at']}: {payload['output']}")
            names.append(payload["id"])
        return names

    load_output()


with DAG(
    dag_id="example_batch_job_failed",
    description="Alert once per failed Tencent Batch job named nightly-report (asset watcher)",
    schedule=[batch_failed],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "cloudflows", "tencent", "asset-watcher"],
):

    @task
    def alert(**context: Any) -> list[str]:
        """One alert line per failed job; a real DAG would page or post to a channel here."""
        failed = []
        for payload in payloads(context, batch_failed):
            print(f"ALERT: Batch job {payload['job_name']} ({payload['id']}) ended {payload['vendor_status']}")
            failed.append(payload["id"])
        return failed

    alert()
