"""Run every example DAG against the local cloud emulator and print what happened.

    .venv/bin/python scripts/demo.py [DAG_ID ...]      (or: bash scripts/demo.sh, which bootstraps first)

Steps: an isolated AIRFLOW_HOME (.demo/airflow_home) with a SQLite DB (``airflow db migrate``), the emulator
in-process on a free loopback port with the ``demo`` scenario, the ``AIRFLOW_CONN_*`` variables pointing
the default connections at it, then ``dag.test()`` for each example DAG: the sensors really defer and
``dag.test()`` runs their trigger in-process. Prints one row per task (state, duration, the sensor's XCom)
and how many requests the emulator served per API. Exits 1 if any task did not succeed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = ROOT / "example_dags"
AIRFLOW_HOME = ROOT / ".demo" / "airflow_home"
# The example DAGs' sensor timeouts are sized for real clouds (hours); against the emulator everything ends
# within seconds, so a sensor still waiting after this long means something is broken: fail, don't hang.
DEMO_SENSOR_TIMEOUT = 120.0
DEMO_ORDER = [
    "example_tencent_emr",
    "example_tencent_cynosdb",
    "example_tencent_batch",
    "example_alibaba_cloudflow",
    "example_huawei_dws",
    "example_tencent_batch_operator",
    "example_tencent_emr_operator",
    "example_tencent_cynosdb_operator",
    "example_alibaba_cloudflow_operator",
    "example_huawei_dws_operator",
]


def configure_airflow_env() -> None:
    """Airflow reads its configuration at import: this must run before anything imports ``airflow``."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
    # Airflow's own chatter down to warnings, but keep the provider's INFO lines (status transitions logged
    # by the sensor in the worker and by the trigger while deferred): they are the interesting part.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.setdefault(
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS",
        "airflow_provider_cloudflows=INFO airflow.task.operators.airflow_provider_cloudflows=INFO",
    )
    # A deprecation notice from Airflow's in-process API client, irrelevant here.
    warnings.filterwarnings("ignore", message=".*starlette.testclient")


def migrate_db() -> None:
    """``airflow db migrate`` in a subprocess (``dag.test()`` needs the metadata DB); quiet unless it fails."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"airflow db migrate failed (exit {result.returncode})")
    print(f"metadata DB migrated in {time.monotonic() - started:.1f}s ({AIRFLOW_HOME / 'airflow.db'})")


def sensor_summary(state: Any) -> str:
    """The sensor's XCom in one cell: normalized status, vendor field and value, plus what matters most."""
    if not isinstance(state, dict):
        return f"XCom: {state!r}"
    from airflow_provider_cloudflows.services import get_service

    field = get_service(state["service"]).table.vendor_field if state.get("service") else "vendor_status"
    text = f"{state.get('status')} ({field}={state.get('vendor_status')!r})"
    if "Output" in state:
        text += f" Output={state['Output']!r}"
    if state.get("progress") is not None:
        text += f" progress={state['progress']:.0%}"
    return text


def remember_failure(failures: dict[tuple[str, str], str], dag_id: str) -> Any:
    """An ``on_failure_callback`` storing the task's exception text under ``(dag_id, task_id)``."""

    def callback(context: Any) -> None:
        exc = context.get("exception")
        failures[dag_id, context["ti"].task_id] = f"{type(exc).__name__}: {exc}" if exc else "failed"

    return callback


def short(value: Any, width: int = 60) -> str:
    """``repr`` cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def xcom_return_value(dag_id: str, run_id: str, task_id: str) -> Any:
    """A task's return value (XCom ``return_value``) from the metadata DB, or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key="return_value")
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Left-aligned columns."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    """Run the example DAGs; 0 if every run succeeded, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dag_ids", nargs="*", help="run only these example DAGs (default: all)")
    args = parser.parse_args(argv)

    configure_airflow_env()
    migrate_db()

    # Imported only now: Airflow must see the environment set above.
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    from airflow_provider_cloudflows.sensors import CloudExecutionSensor
    from cloudflows_emulator import EmulatorServer, load_demo

    bag = DagBag(str(DAGS_FOLDER))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"import error in {path}:\n{error}", file=sys.stderr)
        return 1
    dag_ids = sorted(bag.dags, key=lambda d: (DEMO_ORDER.index(d) if d in DEMO_ORDER else len(DEMO_ORDER), d))
    unknown = set(args.dag_ids) - set(dag_ids)
    if unknown:
        print(f"unknown DAG ids {sorted(unknown)}; the example DAGs are {dag_ids}", file=sys.stderr)
        return 2
    if args.dag_ids:
        dag_ids = [d for d in dag_ids if d in args.dag_ids]

    rows: list[list[str]] = []
    failed: list[str] = []
    failures: dict[tuple[str, str], str] = {}
    with EmulatorServer(host="127.0.0.1", port=0) as server:
        emulator = server.emulator
        load_demo(emulator)
        connections = server.airflow_connections()
        os.environ.update(connections)
        print(f"emulator on {server.url}; demo scenario: {len(emulator.executions)} executions")
        print(f"connections via env: {', '.join(sorted(connections))}")

        for dag_id in dag_ids:
            dag = bag.dags[dag_id]
            sensors = [t for t in dag.tasks if isinstance(t, CloudExecutionSensor)]
            for sensor in sensors:
                sensor.timeout = min(sensor.timeout, DEMO_SENSOR_TIMEOUT)
                # Keep the reason a sensor failed with (vendor status, FailedReason, RequestId) for the table.
                sensor.on_failure_callback = [*sensor.on_failure_callback, remember_failure(failures, dag_id)]
            print(f"\n=== {dag_id}: dag.test() ===", flush=True)
            started = time.monotonic()
            try:
                dag_run = dag.test()
            except Exception as exc:  # report and go on with the other DAGs
                print(f"dag.test() raised {type(exc).__name__}: {exc}", file=sys.stderr)
                failed.append(dag_id)
                rows.append([dag_id, "-", f"ERROR {type(exc).__name__}", "-", "-", str(exc)[:80]])
                continue
            elapsed = time.monotonic() - started
            print(f"=== {dag_id}: run {dag_run.state} in {elapsed:.1f}s ===", flush=True)
            if str(dag_run.state) != "success":
                failed.append(dag_id)
            task_instances = sorted(dag_run.get_task_instances(), key=lambda ti: (ti.start_date is None, ti.start_date))
            for ti in task_instances:
                task = dag.get_task(ti.task_id)
                state = str(ti.state)
                if state != "success" and dag_id not in failed:
                    failed.append(dag_id)
                duration = f"{ti.duration:.1f}s" if ti.duration is not None else "-"
                value = xcom_return_value(dag_id, dag_run.run_id, ti.task_id)
                deferred = "-"
                if isinstance(task, CloudExecutionSensor):
                    deferred = "no"
                    if ti.trigger_id is not None:
                        with create_session() as session:
                            trigger = session.get(Trigger, ti.trigger_id)
                            deferred = f"yes ({trigger.classpath.rsplit('.', 1)[-1]})" if trigger else "yes"
                    result = sensor_summary(value) if value is not None else "no XCom"
                else:
                    result = f"returned {short(value)}" if state == "success" else "-"
                if (dag_id, ti.task_id) in failures:
                    result = "FAILED: see the reason below the table"
                rows.append([dag_id, ti.task_id, state, duration, deferred, result])

        print("\n" + "=" * 100)
        print("Example DAGs against the cloud emulator\n")
        print_table(["DAG", "task", "state", "duration", "deferred", "result (sensor: XCom status)"], rows)
        for (dag_id, task_id), reason in failures.items():
            print(f"\n{dag_id}.{task_id} failed with\n    {reason}")

        print("\nRequests served by the emulator\n")
        actions = sorted({(r.vendor, r.service, r.action) for r in emulator.requests}, key=str)
        stat_rows = []
        for vendor, service, action in actions:
            total = emulator.count(service, action)
            errors = emulator.count(service, action, ok=False)
            codes = Counter(
                r.error for r in emulator.requests if r.error and (r.service, r.action) == (service, action)
            )
            detail = f" ({', '.join(f'{n}x {code}' for code, n in sorted(codes.items()))})" if codes else ""
            stat_rows.append([vendor, service or "-", action or "-", str(total), f"{errors}{detail}"])
        print_table(["vendor", "service", "action", "requests", "error answers"], stat_rows)
        print(f"total: {len(emulator.requests)} requests")
        if any(r.service == "dws" and r.error for r in emulator.requests):
            print(
                "(DWS answers an action view with DWS.0001 once the task has ended: the DWS sensor takes that,\n"
                " an empty failure view and an idle cluster as the evidence of success)"
            )

    print(f"\n{len(dag_ids) - len(failed)} of {len(dag_ids)} DAG runs succeeded")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
