#!/usr/bin/env bash
# Lint, type-check and test at every Airflow version CI supports, stopping at the first failing step:
#   ruff check . -> ruff format --check . -> mypy (package, config in pyproject; at the latest Airflow)
#   -> pytest -q at the LATEST Airflow (.venv) -> pytest -q at the LOWEST Airflow (.venv-airflow-<version>)
#   -> scripts/e2e.sh, if present.
# The versions are the locks in constraints/ (scripts/lock.sh): the newest and the oldest file there.
# Extra arguments go to both pytest runs, e.g. `bash scripts/test.sh -k example_dags`.
# SKIP_LOWEST=1 runs only the latest (a quick local loop; CI never sets it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

locked_versions() { find constraints -name 'airflow-*.txt' | sed 's/.*airflow-\(.*\)\.txt/\1/' | sort -V; }
LATEST="$(locked_versions | tail -n 1)"
LOWEST="$(locked_versions | head -n 1)"

step() {
    local started=$SECONDS
    printf '\n==> %s\n' "$*"
    "$@"
    printf '<== ok (%ss): %s\n' "$((SECONDS - started))" "$1"
}

run_pytest() {
    local venv=$1
    shift
    # The slowest tests are listed at the end of each run: the CI budget (15 minutes) is watched, not guessed.
    local pytest_args=(-q --durations=12)
    # A generous per-test limit turns a hung test into a failure, if pytest-timeout is installed (test extra).
    if "$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pytest_timeout") is None)'; then
        pytest_args+=(--timeout=300)
    fi
    # Most tests wait on scripted execution timelines (the CPU is idle ~60% of a serial run), so 4 workers on 2
    # cores cut the wall time ~3x. Each worker has its own AIRFLOW_HOME and emulator (tests/conftest.py).
    # PYTEST_WORKERS=0 runs serially.
    if "$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("xdist") is None)'; then
        pytest_args+=(-n "${PYTEST_WORKERS:-4}")
    fi
    printf 'pytest with apache-airflow %s (%s)\n' \
        "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))')" "$venv"
    "$venv/bin/python" -m pytest "${pytest_args[@]}" "$@"
}

step env AIRFLOW_LOCK="$LATEST" VENV=.venv bash scripts/bootstrap.sh
step .venv/bin/ruff check .
step .venv/bin/ruff format --check .
step .venv/bin/mypy

step run_pytest .venv "$@"

if [[ -z "${SKIP_LOWEST:-}" && "$LOWEST" != "$LATEST" ]]; then
    LOWEST_VENV=".venv-airflow-$LOWEST"
    step env AIRFLOW_LOCK="$LOWEST" VENV="$LOWEST_VENV" bash scripts/bootstrap.sh
    # The property tests exercise the provider's own readers, which do not depend on Airflow: their 2,000
    # examples per service run at the latest version; the lowest runs them too, with fewer examples. Tests
    # whose outcome does not depend on the Airflow version (marker latest_only: the emulator, the signers, the
    # benchmarks' smoke runs) run at the latest only.
    CLOUDFLOWS_FUZZ_EXAMPLES="${CLOUDFLOWS_FUZZ_EXAMPLES_LOWEST:-300}" \
        step run_pytest "$LOWEST_VENV" -m "not latest_only" "$@"
fi

# End-to-end checks (a real scheduler/triggerer against the emulator), added by scripts/e2e.sh when it exists.
if [[ -f scripts/e2e.sh ]]; then
    step bash scripts/e2e.sh
fi
