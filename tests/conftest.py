"""Test-wide settings: an isolated AIRFLOW_HOME (set before Airflow is imported) and shared helpers."""

from __future__ import annotations

import base64
import importlib.metadata
import json
import logging
import os
import pathlib
from collections.abc import Iterator
from typing import Any

from cloudflows_emulator.testing import isolate_airflow_home, reuse_in_process_execution_api

ROOT = pathlib.Path(__file__).resolve().parent.parent
# One home (and SQLite DB) per Airflow version: the suite runs at the latest and at the lowest supported
# Airflow (scripts/test.sh), and a DB migrated by a newer Airflow cannot be used by an older one.
# Under pytest-xdist each worker gets its own home too: SQLite does not take concurrent migrations and writers.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_HOME = ROOT / ".airflow_home" / f"tests-airflow-{importlib.metadata.version('apache-airflow')}" / _WORKER
# The users' testing kit sets the home, its config and its SQLite DB, before anything imports Airflow.
isolate_airflow_home(_HOME)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "example_dags"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# Unit test mode draws a new fernet key in every process, but the DB of a home outlives the process: rows one
# run encrypted (the asset watchers' triggers, which every DAG sync decrypts) must be readable by the next.
_FERNET_KEY = base64.urlsafe_b64encode(b"cloudflows-test-suite-fernet-key").decode()
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", _FERNET_KEY)
# dag.test() only runs DAGs found in a bundle: the examples, and the DAGs the tests build in tests/dags.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path), "refresh_interval": 0},
        }
        for name, path in (
            ("cloudflows_examples", ROOT / "example_dags"),
            ("cloudflows_tests", ROOT / "tests" / "dags"),
        )
    ]
)


import pytest  # noqa: E402

from tests.ast_guard import import_provider_modules, serialize_ast_parse  # noqa: E402

# The emulator's fixtures are opt-in: the emulator distribution registers no pytest11 plugin.
pytest_plugins = ["cloudflows_emulator.pytest_plugin"]

# Before any test starts a thread (the fuzz servers of test_properties start theirs before the emulator
# fixture is first used): see serialize_ast_parse and import_provider_modules.
serialize_ast_parse()
import_provider_modules()
# dag.test() at Airflow < 3.3 builds its in-process Execution API again for every task: once per worker instead.
reuse_in_process_execution_api()


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Each test starts with the documented rates: one that drew throttled answers (and so lowered its
    process's adapted rate) must not slow whichever test runs next in the same process (pytest-xdist worker)."""
    from airflow_provider_cloudflows.transport.throttle import LIMITER

    LIMITER.reset()


@pytest.fixture(autouse=True)
def _fresh_identities() -> None:
    """Each test starts with no cached temporary keys and no shared clients: an emulator reset forgets the
    keys it issued, and a connection of the same name may now name another identity."""
    from airflow_provider_cloudflows.credentials import forget_shared_identities
    from airflow_provider_cloudflows.hooks import base

    forget_shared_identities()
    base._SHARED_CLIENTS.clear()


@pytest.fixture
def connected_emulator(monkeypatch: pytest.MonkeyPatch, cloud_emulator_server: Any, cloud_emulator: Any) -> None:
    """This worker's emulator, reset, and the three default connections pointing at it (fast retries).

    Modules whose every test talks to the emulator through the default connections use it with
    ``pytestmark = pytest.mark.usefixtures("connected_emulator")``."""
    from tests.helpers import use_connections

    use_connections(monkeypatch, cloud_emulator_server)


@pytest.fixture
def emulator_connections(airflow_db: None, connected_emulator: None) -> None:
    """A migrated metadata DB, and the three default connections pointing at this worker's emulator, reset."""


@pytest.fixture
def quiet_provider_logs() -> Iterator[None]:
    """The provider's warnings raised to ERROR for one test: tests that serve thousands of retried or refused
    answers check the outcome, and their warnings would only fill the output."""
    logger = logging.getLogger("airflow_provider_cloudflows")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


# Tests whose outcome does not depend on the Airflow version: one run of them, at the latest, is enough. The
# emulator and the signers import no Airflow; the service specs' readers (in memory and over HTTP) and the
# transport's units decide from vendor answers alone (the hooks that build their clients are tested at every
# version by tests/integration/hooks, sensors, triggers and operators); the benchmarks' smoke runs check that a
# script still runs (what they drive is tested at every version by the tests of its own behaviour); the
# wheels' contents, the docs' quotes, the import graph and the AST guard do not involve Airflow.
_LATEST_ONLY_DIRS = ("emulator", "signing", "unit/services", "unit/transport", "integration/services")
_LATEST_ONLY_MODULES = (
    "test_quota_model.py",
    "test_wheels.py",
    "test_docs_examples.py",
    "test_ast_guard.py",
    "test_provider_structure.py",
)
_LATEST_ONLY_TESTS = (
    "test_scale_triggerer_runs_at_small_n",
    "test_bench_triggers_runs_quick",
    "test_bench_quota_runs_at_small_n",
    # The kit's import-order guards; its DAG run itself is proven at every version.
    "test_a_conftest_importing_airflow_first_without_a_home_is_told_the_way_out",
    "test_a_conftest_isolating_the_home_before_importing_airflow_keeps_that_home",
    "test_isolating_the_home_once_airflow_is_imported_is_refused",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = pathlib.Path(__file__).resolve().parent
    for item in items:
        parts = item.path.resolve().relative_to(tests).parts
        if (
            any("/".join(parts[: len(d.split("/"))]) == d for d in _LATEST_ONLY_DIRS)
            or item.path.name in _LATEST_ONLY_MODULES
            or item.name in _LATEST_ONLY_TESTS
        ):
            item.add_marker(pytest.mark.latest_only)
