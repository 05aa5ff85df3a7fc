"""The testing kit as a user meets it: their own project, conftest and DAG, run by ``pytest`` in a subprocess.

The project sees none of this suite's set-up: no ``AIRFLOW_*`` variable, no Airflow home, no bundle; only
the plugin, opted into from its ``conftest.py``. A developer's own Airflow home is in the environment, and
must stay untouched.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

_DAG = """
import datetime as dt

from airflow.sdk import DAG

from airflow_provider_cloudflows.sensors import TencentEmrFlowSensor

with DAG("wait_for_emr", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dag:
    TencentEmrFlowSensor(
        task_id="wait", instance_id="emr-123", flow_id="42", deferrable=True, poke_interval=0.2, timeout=60
    )
"""

_TESTS = """
import datetime as dt
import os
import pathlib

from airflow.sdk import DAG

from airflow_provider_cloudflows.sensors import TencentEmrFlowSensor
from cloudflows_emulator import EmrPhase, emr_flow
from cloudflows_emulator.testing import dag_test
from dags.wait_for_emr import dag


def test_the_dag_succeeds_once_the_flow_completes(cloud_emulator, cloud_emulator_connections, airflow_db):
    cloud_emulator.add_execution(
        emr_flow("emr-123", flow_id=42, phases=[EmrPhase(at=0, status=1, stage=0), EmrPhase(at=1, status=2)])
    )
    run = dag_test(dag)
    assert run.state == "success"
    assert cloud_emulator.count("emr", "DescribeClusterFlowStatusDetail") >= 2


def test_a_dag_built_in_the_test_fails_with_its_flow(cloud_emulator, cloud_emulator_server, airflow_db):
    cloud_emulator.add_execution(emr_flow("emr-456", flow_id=7, phases=[EmrPhase(at=0, status=-1, stage=0)]))
    with DAG("inline", schedule=None, start_date=dt.datetime(2026, 1, 1)) as inline:
        TencentEmrFlowSensor(task_id="wait", instance_id="emr-456", flow_id="7", deferrable=True, timeout=60)
    run = dag_test(inline, connections=cloud_emulator_server.airflow_connections())
    assert run.state == "failed"
    assert "AIRFLOW_CONN_TENCENTCLOUD_DEFAULT" not in os.environ


def test_airflow_runs_in_a_home_of_its_own():
    from airflow.configuration import conf

    home = pathlib.Path(os.environ["AIRFLOW_HOME"])
    assert home != pathlib.Path(os.environ["DEVELOPER_AIRFLOW_HOME"])
    assert conf.get("database", "sql_alchemy_conn") == f"sqlite:///{home / 'airflow.db'}"
    assert (home / "airflow.db").exists()
"""

_IMPORTS_AIRFLOW_FIRST = """
import airflow.sdk

pytest_plugins = ["cloudflows_emulator.pytest_plugin"]
"""

_ISOLATES_THEN_IMPORTS_AIRFLOW = """
from cloudflows_emulator.testing import isolate_airflow_home

HOME = isolate_airflow_home()

pytest_plugins = ["cloudflows_emulator.pytest_plugin"]

import airflow.sdk
"""

_SEES_THE_CONFTEST_HOME = """
import os

from conftest import HOME


def test_the_home_is_the_one_conftest_isolated():
    from airflow.configuration import conf

    assert os.environ["AIRFLOW_HOME"] == str(HOME) != os.environ["DEVELOPER_AIRFLOW_HOME"]
    assert conf.get("database", "sql_alchemy_conn") == f"sqlite:///{HOME / 'airflow.db'}"
"""

_NEEDS_THE_DB = """
def test_needs_the_db(airflow_db):
    pass
"""


def _project(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in {"pytest.ini": "[pytest]\n", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _user_environment(home: pathlib.Path) -> dict[str, str]:
    """This process's environment without this suite's Airflow settings, ``HOME`` at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW", "PYTEST_"))}
    env["HOME"] = str(home)
    return env


def _run_pytest(project: pathlib.Path, developer_home: pathlib.Path | None) -> subprocess.CompletedProcess[str]:
    """``pytest`` in ``project`` as a user runs it, their own ``AIRFLOW_HOME`` (if any) exported."""
    env = _user_environment(project)
    if developer_home is not None:
        env.update(AIRFLOW_HOME=str(developer_home), DEVELOPER_AIRFLOW_HOME=str(developer_home))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_users_dag_runs_against_the_emulator_with_only_the_plugin_in_conftest(tmp_path: pathlib.Path) -> None:
    developer_home = tmp_path / "developer-airflow-home"
    project = _project(
        tmp_path / "project",
        {
            "conftest.py": 'pytest_plugins = ["cloudflows_emulator.pytest_plugin"]\n',
            "dags/__init__.py": "",
            "dags/wait_for_emr.py": _DAG,
            "test_wait_for_emr.py": _TESTS,
        },
    )
    done = _run_pytest(project, developer_home)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout
    assert not developer_home.exists()


def test_a_conftest_importing_airflow_first_without_a_home_is_told_the_way_out(tmp_path: pathlib.Path) -> None:
    project = _project(tmp_path / "project", {"conftest.py": _IMPORTS_AIRFLOW_FIRST, "test_db.py": _NEEDS_THE_DB})
    done = _run_pytest(project, developer_home=None)
    assert done.returncode == 1, done.stdout[-6000:] + done.stderr[-3000:]
    assert "isolate_airflow_home() at the top of conftest.py" in done.stdout
    assert not (project / "airflow" / "airflow.db").exists()  # the default home, under HOME


def test_a_conftest_isolating_the_home_before_importing_airflow_keeps_that_home(tmp_path: pathlib.Path) -> None:
    project = _project(
        tmp_path / "project",
        {"conftest.py": _ISOLATES_THEN_IMPORTS_AIRFLOW, "test_home.py": _SEES_THE_CONFTEST_HOME},
    )
    done = _run_pytest(project, tmp_path / "developer-airflow-home")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout


def test_isolating_the_home_once_airflow_is_imported_is_refused(tmp_path: pathlib.Path) -> None:
    script = (
        "import airflow\n"
        "from cloudflows_emulator.testing import isolate_airflow_home\n"
        "try:\n    isolate_airflow_home()\nexcept RuntimeError as exc:\n    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=_user_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "refused: Airflow is already imported" in done.stdout
