"""Two asset-scheduled DAGs run by finished cloud executions, for the asset-watcher phase of ``tests/e2e``.

Not a pytest module (no ``test_`` prefix): the real-stack end-to-end test parses it with a real dag-processor.
One DAG runs when a CloudFlow execution of one flow succeeds; the other (alerting) when a tagged Tencent Batch
job fails. Each run's task returns the ids its triggering asset events name, so the driver can check that the
run read the payloads the watchers wrote. Names and filters live in ``asset_watchers.json`` next to this file.
Both DAGs are paused at creation: their watchers run only while the driver has them unpaused.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_cloudflows.triggers.watchers import BatchJobsTrigger, CloudFlowExecutionsTrigger

SPEC = json.loads(Path(__file__).with_name("asset_watchers.json").read_text())
FLOW: dict[str, Any] = SPEC["cloudflow"]
BATCH: dict[str, Any] = SPEC["batch"]

flow_succeeded = Asset(
    FLOW["asset"],
    watchers=[
        AssetWatcher(
            name=FLOW["watcher"],
            trigger=CloudFlowExecutionsTrigger(
                flow_name=FLOW["flow_name"],
                statuses=FLOW["statuses"],
                alibabacloud_conn_id="alibabacloud_default",
                poll_interval=SPEC["poll_interval"],
            ),
        )
    ],
)
batch_failed = Asset(
    BATCH["asset"],
    watchers=[
        AssetWatcher(
            name=BATCH["watcher"],
            trigger=BatchJobsTrigger(
                tags=BATCH["tags"],
                statuses=BATCH["statuses"],
                tencentcloud_conn_id="tencentcloud_default",
                poll_interval=SPEC["poll_interval"],
            ),
        )
    ],
)


@task
def reported_ids(**context: Any) -> list[str]:
    """The execution ids named by the payloads of the run's triggering asset events."""
    events = context["triggering_asset_events"]
    return sorted(str(event.extra["payload"]["id"]) for asset_events in events.values() for event in asset_events)


for dag_id, asset, description in (
    (FLOW["dag_id"], flow_succeeded, "E2E: run by every succeeded CloudFlow execution of one flow"),
    (BATCH["dag_id"], batch_failed, "E2E: alerting, run by every failed Batch job carrying a tag"),
):
    with DAG(
        dag_id=dag_id,
        description=description,
        schedule=[asset],
        start_date=datetime(2024, 1, 1),
        catchup=False,
        tags=["e2e", "cloudflows"],
    ):
        reported_ids()
