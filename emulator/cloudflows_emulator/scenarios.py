"""Preloaded sets of executions, for the demo and ``python -m cloudflows_emulator --scenario``."""

from __future__ import annotations

from collections.abc import Callable

from cloudflows_emulator.alibaba.cloudflow_models import cloudflow_execution, plan_cloudflow_execution
from cloudflows_emulator.cloud import CloudEmulator
from cloudflows_emulator.huawei.dws_actions import plan_dws_action
from cloudflows_emulator.huawei.dws_models import dws_cluster, dws_task
from cloudflows_emulator.tencent.actions import plan_cynosdb_flow, plan_emr_flow
from cloudflows_emulator.tencent.batch import batch_task
from cloudflows_emulator.tencent.batch_job_models import plan_batch_job
from cloudflows_emulator.tencent.cynosdb import PROCESSING, SUCCEEDED, cynosdb_flow
from cloudflows_emulator.tencent.emr import EmrPhase, emr_flow

__all__ = ["SCENARIOS", "load_demo"]


def load_demo(emulator: CloudEmulator) -> None:
    """The executions the example DAGs wait on; each succeeds a few seconds after it is first polled.

    - EMR instance ``emr-demo01``, flow id ``1001``: through the scale-out stages, completed after ~6 s.
    - CynosDB flow ``2001``: processing, succeeded after ~4 s.
    - Batch job ``job-demo0001`` task ``A``: running, SUCCEED after ~5 s.
    - CloudFlow flow ``nightly_etl`` execution ``demo_run``: Running, Succeeded after ~5 s with
      Output ``{"rows": 42}``.
    - DWS cluster ``9f76c502-fc9c-4a52-8656-65d0da6e3d57``: a SNAPSHOTTING task running, gone after ~5 s with
      the cluster idle and healthy (success, as the DWS sensor establishes it from evidence).

    And for the operators (what the next start call creates):

    - Batch ``SubmitJob`` of a job named ``demo-etl``: task ``extract`` runs 0-4 s, ``load`` waits, runs from
      4 s and the job succeeds at ~6 s.
    - EMR ``ScaleOutCluster`` / ``TerminateClusterNodes`` on ``emr-demo01``: flows completed after ~4 s.
    - CynosDB actions on ``cynosdbmysql-demo01``: flows processing, succeeded after ~3 s.
    - CloudFlow ``StartExecution`` of flow ``demo_flow``: Running, Succeeded after ~3 s with Output
      ``{"rows": 42, "table": "sales_daily"}``.
    - DWS cluster ``3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f`` (idle, 3 nodes): a snapshot, a resize and a restore
      each run ~3 s and succeed; the restore answers a ``job_id`` whose job succeeds with it.
    """
    emulator.add_executions(
        [
            emr_flow(
                "emr-demo01",
                flow_id="1001",
                phases=[EmrPhase(0, 1, 0), EmrPhase(2, 1, 3), EmrPhase(4, 1, 6), EmrPhase(6, 2)],
            ),
            cynosdb_flow(2001, [(0, PROCESSING), (4, SUCCEEDED)]),
            batch_task("job-demo0001", "A", [(0, "RUNNING"), (5, "SUCCEED")]),
            cloudflow_execution("nightly_etl", "demo_run", [(0, "Running"), (5, "Succeeded")], output={"rows": 42}),
        ]
    )
    emulator.add_execution(
        dws_task(
            "9f76c502-fc9c-4a52-8656-65d0da6e3d57",
            "SNAPSHOTTING",
            [(0, "RUNNING", 10), (2, "RUNNING", 45), (4, "RUNNING", 85)],
            end_at=5,
        )
    )

    plan_batch_job(
        emulator,
        {
            "extract": [(0, "SUBMITTED"), (1, "RUNNING"), (4, "SUCCEED")],
            "load": [(0, "SUBMITTED"), (4, "RUNNING"), (6, "SUCCEED")],
        },
        job_name="demo-etl",
    )
    plan_emr_flow(emulator, "emr-demo01", [EmrPhase(0, 0), EmrPhase(1, 1, 0), EmrPhase(2, 1, 4), EmrPhase(4, 2)])
    plan_cynosdb_flow(emulator, [(0, PROCESSING), (3, SUCCEEDED)], cluster_id="cynosdbmysql-demo01")
    plan_cloudflow_execution(
        emulator, [(0, "Running"), (3, "Succeeded")], flow_name="demo_flow", output={"rows": 42, "table": "sales_daily"}
    )
    emulator.add_execution(dws_cluster(DEMO_DWS_CLUSTER))
    for action in ("SNAPSHOTTING", "GROWING", "RESTORING"):
        plan_dws_action(emulator, action, [(0, "RUNNING", 20), (1, "RUNNING", 55), (2, "RUNNING", 90)], end_at=3)


DEMO_DWS_CLUSTER = "3d7c1a2e-5b6f-4c8d-9e0f-1a2b3c4d5e6f"


SCENARIOS: dict[str, Callable[[CloudEmulator], None]] = {"demo": load_demo}
"""Scenario name -> loader, as offered by the command line."""
