"""The stack's Airflow configuration: one ``airflow.cfg`` in a fresh AIRFLOW_HOME, shared by every component.

LocalExecutor on a SQLite metadata DB is not a production set-up, but it is acceptable here: every component,
worker and the triggerer still talk to one metadata DB and the API server exactly as in production, and there is
no server to install. Parallelism is kept small (SQLite has one writer, the machine may have two cores), and the
scheduler, dag-processor and triggerer intervals are shortened so the test runs in a few minutes.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from pathlib import Path

from tests.e2e.specs import E2E_DAGS, EXAMPLE_DAGS

BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
# [triggerer] triggerer_health_check_threshold, seconds: Airflow's default. With 10 s, a triggerer slowed by
# the busy machine (pytest runs beside this test) lost its triggers to another mid-phase.
TRIGGERER_HEALTH_THRESHOLD = 30


def write_config(home: Path, api_port: int) -> None:
    """The stack's airflow.cfg (shared by every component through AIRFLOW_HOME)."""
    bundles = [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path), "refresh_interval": 5},
        }
        for name, path in (("cloudflows_examples", EXAMPLE_DAGS), ("cloudflows_e2e", E2E_DAGS))
    ]
    fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    config = f"""\
# Written by tests/e2e. SQLite + LocalExecutor: acceptable for this end-to-end test only.
[core]
dags_folder = {home / "dags"}
executor = LocalExecutor
# Small: SQLite has a single writer and the test machine may have only two cores.
parallelism = 4
max_active_tasks_per_dag = 32
load_examples = False
dags_are_paused_at_creation = True
fernet_key = {fernet_key}
auth_manager = airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
simple_auth_manager_all_admins = True
test_connection = Enabled
execution_api_server_url = http://127.0.0.1:{api_port}/execution/
default_task_retries = 0

[database]
sql_alchemy_conn = sqlite:///{home / "airflow.db"}

[logging]
base_log_folder = {home / "logs"}
logging_level = INFO

[api]
host = 127.0.0.1
port = {api_port}
base_url = http://127.0.0.1:{api_port}
workers = 1
secret_key = {secrets.token_hex(16)}
expose_config = False

[api_auth]
jwt_secret = {secrets.token_hex(32)}

[dag_processor]
dag_bundle_config_list = {json.dumps(bundles)}
refresh_interval = 5
bundle_refresh_check_interval = 2
min_file_process_interval = 60
parsing_processes = 1
print_stats_interval = 600

[scheduler]
scheduler_heartbeat_sec = 2
scheduler_idle_sleep_time = 0.5
trigger_timeout_check_interval = 3
orphaned_tasks_check_interval = 30
task_queued_timeout = 300

[triggerer]
# Airflow's default. The start-from-trigger phase defers 103 tasks at once: at 100, three waited for a slot
# and two of those started only after their own 20 s timeouts had passed.
capacity = 1000
job_heartbeat_sec = 2
# A dead triggerer's triggers are taken over once its heartbeat is this old.
triggerer_health_check_threshold = {TRIGGERER_HEALTH_THRESHOLD}
"""
    (home / "airflow.cfg").write_text(config)
    (home / "dags").mkdir(exist_ok=True)


def stack_environment(home: Path) -> dict[str, str]:
    """This process's environment without any Airflow setting, connection, variable or pytest marker, plus
    AIRFLOW_HOME (PYTHONPATH passes through: the components import the provider and the DAGs as this process does)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
        and key not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
        and not key.startswith("PYTEST_")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env
