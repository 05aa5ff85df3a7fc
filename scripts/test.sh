#!/usr/bin/env bash
# Lint, type-check and test at every Airflow version CI supports:
#   bootstrap the latest venv -> ruff check . -> ruff format --check . -> mypy (package, config in pyproject)
#   -> pytest -q at the LATEST Airflow (.venv) -> bootstrap the lowest venv -> pytest -q at the LOWEST Airflow
#   (.venv-airflow-<version>) -> scripts/e2e.sh, if present.
# Every step that can still run runs: a failing check does not hide the others' results. A step is skipped
# only when what it needs is missing (its venv did not bootstrap) or it is switched off. The end is a summary
# of every step (ok / FAILED / skipped and why, with its seconds); the exit status is non-zero if any failed.
# The versions are the locks in constraints/ (scripts/lock.sh): the newest and the oldest file there.
# Extra arguments go to both pytest runs, e.g. `bash scripts/test.sh -k example_dags`.
# SKIP_LOWEST=1 runs only the latest (a quick local loop; CI never sets it).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

locked_versions() { find constraints -name 'airflow-*.txt' | sed 's/.*airflow-\(.*\)\.txt/\1/' | sort -V; }
LATEST="$(locked_versions | tail -n 1)"
LOWEST="$(locked_versions | head -n 1)"

SUMMARY=()
FAILURES=0

# step NAME COMMAND [ARGS...]: run the command, report and record its outcome; the status is the command's.
step() {
    local name=$1
    shift
    local started=$SECONDS status=ok
    printf '\n==> %s\n' "$name"
    "$@" || status=FAILED
    local took=$((SECONDS - started))
    printf '<== %s (%ss): %s\n' "$status" "$took" "$name"
    SUMMARY+=("$(printf '%-7s %6ss  %s' "$status" "$took" "$name")")
    if [[ $status != ok ]]; then
        FAILURES=$((FAILURES + 1))
        return 1
    fi
}

# skip NAME WHY: record a step that did not run, and why.
skip() {
    printf '\n==> %s: skipped (%s)\n' "$1" "$2"
    SUMMARY+=("$(printf '%-7s %7s  %s (%s)' skipped - "$1" "$2")")
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

LATEST_VENV_OK=
if step "bootstrap .venv (Airflow $LATEST)" env AIRFLOW_LOCK="$LATEST" VENV=.venv bash scripts/bootstrap.sh; then
    LATEST_VENV_OK=1
    step "ruff check" .venv/bin/ruff check .
    step "ruff format --check" .venv/bin/ruff format --check .
    step "mypy" .venv/bin/mypy
    step "pytest at Airflow $LATEST" run_pytest .venv "$@"
else
    for name in "ruff check" "ruff format --check" "mypy" "pytest at Airflow $LATEST"; do
        skip "$name" ".venv did not bootstrap"
    done
fi

if [[ "$LOWEST" == "$LATEST" ]]; then
    skip "pytest at the lowest Airflow" "one Airflow version is locked ($LATEST)"
elif [[ -n "${SKIP_LOWEST:-}" ]]; then
    skip "pytest at Airflow $LOWEST" "SKIP_LOWEST is set"
else
    LOWEST_VENV=".venv-airflow-$LOWEST"
    if step "bootstrap $LOWEST_VENV (Airflow $LOWEST)" env AIRFLOW_LOCK="$LOWEST" VENV="$LOWEST_VENV" bash scripts/bootstrap.sh; then
        # The property tests exercise the provider's own readers, which do not depend on Airflow: their 2,000
        # examples per service run at the latest version; the lowest runs them too, with fewer examples. Tests
        # whose outcome does not depend on the Airflow version (marker latest_only: the emulator, the signers,
        # the benchmarks' smoke runs) run at the latest only.
        CLOUDFLOWS_FUZZ_EXAMPLES="${CLOUDFLOWS_FUZZ_EXAMPLES_LOWEST:-300}" \
            step "pytest at Airflow $LOWEST" run_pytest "$LOWEST_VENV" -m "not latest_only" "$@"
    else
        skip "pytest at Airflow $LOWEST" "$LOWEST_VENV did not bootstrap"
    fi
fi

# End-to-end checks (a real scheduler/triggerer against the emulator), added by scripts/e2e.sh when it exists.
if [[ ! -f scripts/e2e.sh ]]; then
    skip "scripts/e2e.sh" "no scripts/e2e.sh"
elif [[ -z "$LATEST_VENV_OK" ]]; then
    skip "scripts/e2e.sh" ".venv did not bootstrap"
else
    step "scripts/e2e.sh" bash scripts/e2e.sh
fi

printf '\n==> summary\n'
printf '%s\n' "${SUMMARY[@]}"
if ((FAILURES > 0)); then
    printf '%d step(s) FAILED\n' "$FAILURES"
    exit 1
fi
printf 'all steps ok\n'
