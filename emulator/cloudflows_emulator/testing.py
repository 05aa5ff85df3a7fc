"""Testing your own DAGs against the emulator: an isolated Airflow home, a migrated DB, ``dag.test()``.

The DAG under test is written to the metadata DB from the object the test holds, not found through a DAG
bundle: a test's DAG may live anywhere (a project's DAG folder, a test module, a function), while the
isolated home's only bundle is its own empty ``dags`` folder. This is also the one difference between the
supported Airflow versions that a test meets: ``dag.test()`` at 3.1 never writes the DAG it runs (it fails
with "the dag is not serialized"), at 3.3 only when the DAG's file is in a configured bundle. Writing it
first takes the same calls at 3.1.0 and 3.3.x; drop the write once every supported ``dag.test()`` writes
the DAG it is given, wherever its file is (none does yet).

Airflow reads its home and its DB URL when it is first imported, so :func:`isolate_airflow_home` must run
before that: the pytest plugin (``cloudflows_emulator.pytest_plugin``) calls it from ``pytest_configure``,
which runs after the project's ``conftest.py`` is loaded and before any test module is imported. A
``conftest.py`` that imports Airflow itself calls it first. Nothing here imports Airflow at module level.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG

__all__ = [
    "dag_test",
    "isolate_airflow_home",
    "isolated_airflow_home",
    "migrate_airflow_db",
    "reuse_in_process_execution_api",
    "sync_dag_to_db",
]

_MIGRATE_TIMEOUT = 600.0

_home: Path | None = None


def isolate_airflow_home(home: str | os.PathLike[str] | None = None) -> Path:
    """Point this process's Airflow at ``home`` (None: a temporary directory removed at exit); return it.

    Sets ``AIRFLOW_HOME``, ``AIRFLOW_CONFIG`` and a SQLite ``sql_alchemy_conn`` inside it, whatever the
    environment said, so that a test run never reads the developer's own configuration or writes to their
    DB, and turns the example DAGs off. Must run before Airflow is first imported (raises ``RuntimeError``
    otherwise); a second call returns the home of the first.
    """
    global _home
    if _home is not None:
        return _home
    if "airflow" in sys.modules:
        raise RuntimeError(
            "Airflow is already imported, with the home it found then; call isolate_airflow_home() before the "
            "first import of Airflow (at the top of conftest.py)"
        )
    if home is None:
        path = Path(tempfile.mkdtemp(prefix="cloudflows-airflow-home-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    else:
        path = Path(home).resolve()
        path.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(path)
    os.environ["AIRFLOW_CONFIG"] = str(path / "airflow.cfg")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{path / 'airflow.db'}"
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    _home = path
    return path


def isolated_airflow_home() -> Path | None:
    """The home :func:`isolate_airflow_home` set in this process, or None."""
    return _home


def migrate_airflow_db() -> None:
    """Create or upgrade the metadata DB of the current Airflow home (``airflow db migrate``, in a subprocess)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=_MIGRATE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({done.returncode}):\n{done.stderr[-4000:]}")


def sync_dag_to_db(dag: DAG) -> None:
    """Write ``dag`` (the object, wherever its file is) to the metadata DB as the DAG processor would.

    It is recorded under the first configured bundle, which ``dag.test()`` at 3.3 walks again without finding
    it there; rows of DAGs a sync does not see are left as they are.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = next(iter(manager.get_all_dag_bundles()))
    with create_session() as session:
        update_dag_parsing_results_in_db(
            bundle.name, None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


def dag_test(dag: DAG, *, connections: Mapping[str, str] | None = None, **test_kwargs: Any) -> DagRun:
    """Run ``dag.test(**test_kwargs)`` and return its DAG run, at every supported Airflow version.

    The metadata DB must be migrated (the plugin's ``airflow_db`` fixture). ``connections`` are
    ``AIRFLOW_CONN_*`` variables set for this run only, e.g. ``server.airflow_connections()`` of an
    :class:`~cloudflows_emulator.EmulatorServer`; the plugin's ``cloud_emulator_connections`` fixture sets the
    emulator's for a whole test instead. Deferrable tasks defer for real: ``dag.test()`` runs their trigger
    in the same process.
    """
    sync_dag_to_db(dag)
    reuse_in_process_execution_api()
    with mock.patch.dict(os.environ, dict(connections or {})):
        run: DagRun = dag.test(**test_kwargs)
    return run


def reuse_in_process_execution_api() -> None:
    """Make ``dag.test()`` build Airflow's in-process Execution API once per process, as Airflow 3.3 does.

    Before 3.3 every task ``dag.test()`` runs builds a new in-process API app, whose versioned routers take
    seconds of CPU to generate (Cadwyn), and starts a new event-loop thread for it. Airflow 3.3 caches the one
    app (``functools.lru_cache`` on ``in_process_api_server``), which this applies to older versions; where it
    is cached already, nothing changes. Drop it once the lowest supported Airflow caches it.
    """
    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)
