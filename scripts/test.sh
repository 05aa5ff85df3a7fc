#!/usr/bin/env bash
# Lint, type-check and test at every Airflow version CI supports:
#   bootstrap both venvs -> ruff check . -> ruff format --check . -> mypy (package, config in pyproject)
#   -> pytest -q at the LATEST Airflow (.venv) and, at the same time, at the LOWEST Airflow
#   (.venv-airflow-<version>) -> scripts/e2e.sh, if present.
# The two pytest runs overlap: most tests wait on scripted timelines, so one run's waits leave the CPU to the
# other (the suite passes next to busy-loop CPU hogs). PYTEST_TOGETHER=0 runs them one after the other.
# E2E_ALONGSIDE=1 runs the real-stack test beside them instead, pytest at the lowest priority (nice 19, idle
# I/O class): about 5 minutes faster, but a starved pytest worker then misses short scripted windows (a DWS
# action seen running, a 1.5 s timeout) and the stack's runs hit Airflow's stale-executor-event race more
# often, so CI keeps them apart.
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

# record NAME STATUS SECONDS: report a finished step and add it to the summary; the status is the step's.
record() {
    printf '<== %s (%ss): %s\n' "$2" "$3" "$1"
    SUMMARY+=("$(printf '%-7s %6ss  %s' "$2" "$3" "$1")")
    if [[ $2 != ok ]]; then
        FAILURES=$((FAILURES + 1))
        return 1
    fi
}

# step NAME COMMAND [ARGS...]: run the command, report and record its outcome; the status is the command's.
step() {
    local name=$1
    shift
    local started=$SECONDS status=ok
    printf '\n==> %s\n' "$name"
    "$@" || status=FAILED
    record "$name" "$status" "$((SECONDS - started))"
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
    # Most tests wait on scripted execution timelines (the CPU is idle ~60% of a serial run), so several workers
    # on 2 cores cut the wall time ~3x. Each worker has its own AIRFLOW_HOME and emulator (tests/conftest.py).
    # PYTEST_WORKERS=0 runs serially.
    if "$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("xdist") is None)'; then
        pytest_args+=(-n "${PYTEST_WORKERS:-$DEFAULT_WORKERS}")
    fi
    printf 'pytest with apache-airflow %s (%s)\n' \
        "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))')" "$venv"
    "${PYTEST_PRIORITY[@]}" "$venv/bin/python" -m pytest "${pytest_args[@]}" "$@"
}

PYTEST_PRIORITY=()
E2E_PID=
E2E_LOG=
start_e2e_alongside() {
    E2E_LOG="$(mktemp)"
    e2e_started=$SECONDS
    printf '\n==> scripts/e2e.sh (beside pytest; its output follows the pytest runs)\n'
    (bash scripts/e2e.sh >"$E2E_LOG" 2>&1; echo $? >"$E2E_LOG.status") &
    E2E_PID=$!
    PYTEST_PRIORITY=(nice -n 19)
    if ionice -c 3 true >/dev/null 2>&1; then
        PYTEST_PRIORITY=(ionice -c 3 nice -n 19)
    fi
}

finish_e2e_alongside() {
    wait "$E2E_PID"
    local took=$((SECONDS - e2e_started)) status=FAILED
    printf '\n==> scripts/e2e.sh (ran beside pytest)\n'
    cat "$E2E_LOG"
    [[ "$(cat "$E2E_LOG.status" 2>/dev/null)" == 0 ]] && status=ok
    rm -f "$E2E_LOG" "$E2E_LOG.status"
    record "scripts/e2e.sh" "$status" "$took"
}

LATEST_VENV_OK=
if step "bootstrap .venv (Airflow $LATEST)" env AIRFLOW_LOCK="$LATEST" VENV=.venv bash scripts/bootstrap.sh; then
    LATEST_VENV_OK=1
fi

# The lowest Airflow's run, if it can run: why not otherwise.
LOWEST_VENV=".venv-airflow-$LOWEST"
LOWEST_RUN=
if [[ "$LOWEST" == "$LATEST" ]]; then
    LOWEST_SKIP="one Airflow version is locked ($LATEST)"
elif [[ -n "${SKIP_LOWEST:-}" ]]; then
    LOWEST_SKIP="SKIP_LOWEST is set"
elif step "bootstrap $LOWEST_VENV (Airflow $LOWEST)" env AIRFLOW_LOCK="$LOWEST" VENV="$LOWEST_VENV" bash scripts/bootstrap.sh; then
    LOWEST_RUN=1
else
    LOWEST_SKIP="$LOWEST_VENV did not bootstrap"
fi

if [[ -n "$LATEST_VENV_OK" ]]; then
    step "ruff check" .venv/bin/ruff check .
    step "ruff format --check" .venv/bin/ruff format --check .
    step "mypy" .venv/bin/mypy
else
    for name in "ruff check" "ruff format --check" "mypy"; do
        skip "$name" ".venv did not bootstrap"
    done
fi

# Tests whose outcome does not depend on the Airflow version (marker latest_only, tests/conftest.py: the
# emulator, the signers, the service specs' readers with their 2,000-example property tests, the benchmarks'
# smoke runs) run at the latest only; the property tests of the writes run at the lowest too, with fewer
# examples.
E2E_RUN=
if [[ ! -f scripts/e2e.sh ]]; then
    skip "scripts/e2e.sh" "no scripts/e2e.sh"
elif [[ -z "$LATEST_VENV_OK" ]]; then
    skip "scripts/e2e.sh" ".venv did not bootstrap"
elif [[ "${E2E_ALONGSIDE:-0}" == 1 ]]; then
    start_e2e_alongside
else
    E2E_RUN=after
fi

run_lowest() {
    CLOUDFLOWS_FUZZ_EXAMPLES="${CLOUDFLOWS_FUZZ_EXAMPLES_LOWEST:-300}" \
        run_pytest "$LOWEST_VENV" -m "not latest_only" "$@"
}

if [[ -n "$LATEST_VENV_OK" && -n "$LOWEST_RUN" && "${PYTEST_TOGETHER:-1}" != 0 ]]; then
    # Both at once; the lowest's output follows the latest's. The latest has twice the tests, and they mostly
    # sleep on scripted timelines, so it gets more workers: with 3 each, it ran its last 225 s alone on a
    # half-idle machine.
    LOWEST_LOG="$(mktemp)"
    lowest_started=$SECONDS
    (DEFAULT_WORKERS=3 && run_lowest "$@" >"$LOWEST_LOG" 2>&1; echo $? >"$LOWEST_LOG.status") &
    DEFAULT_WORKERS=5
    lowest_pid=$!
    step "pytest at Airflow $LATEST" run_pytest .venv "$@"
    wait "$lowest_pid"
    lowest_took=$((SECONDS - lowest_started))
    printf '\n==> pytest at Airflow %s (ran beside the latest)\n' "$LOWEST"
    cat "$LOWEST_LOG"
    lowest_status=FAILED
    [[ "$(cat "$LOWEST_LOG.status")" == 0 ]] && lowest_status=ok
    rm -f "$LOWEST_LOG" "$LOWEST_LOG.status"
    record "pytest at Airflow $LOWEST" "$lowest_status" "$lowest_took"
else
    DEFAULT_WORKERS=4
    if [[ -n "$LATEST_VENV_OK" ]]; then
        step "pytest at Airflow $LATEST" run_pytest .venv "$@"
    else
        skip "pytest at Airflow $LATEST" ".venv did not bootstrap"
    fi
    if [[ -n "$LOWEST_RUN" ]]; then
        step "pytest at Airflow $LOWEST" run_lowest "$@"
    else
        skip "pytest at Airflow $LOWEST" "$LOWEST_SKIP"
    fi
fi

# End-to-end checks (a real scheduler/triggerer against the emulator), added by scripts/e2e.sh when it exists.
if [[ -n "$E2E_PID" ]]; then
    finish_e2e_alongside
elif [[ "$E2E_RUN" == after ]]; then
    step "scripts/e2e.sh" bash scripts/e2e.sh
fi

printf '\n==> summary\n'
printf '%s\n' "${SUMMARY[@]}"
if ((FAILURES > 0)); then
    printf '%d step(s) FAILED\n' "$FAILURES"
    exit 1
fi
printf 'all steps ok\n'
