#!/usr/bin/env bash
# Real-deployment end-to-end test: a real Airflow stack (api-server, scheduler, dag-processor, triggerer;
# LocalExecutor on SQLite) plus the cloud emulator, each as its own process, in a temporary AIRFLOW_HOME.
#
#   bash scripts/e2e.sh [--keep] [--outage SECONDS] [PYTEST ARGS...]   # E2E_KEEP=1 keeps the temporary directory
#
# Bootstraps .venv if needed, then runs the pytest package tests/e2e (collected only with CLOUDFLOWS_E2E=1):
# one test per check, the phases' timings and "e2e: N checks passed, M failed or errored" after pytest's summary;
# the exit code is non-zero on any failure. Takes about five minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pytest_args=()
while (($#)); do
    case "$1" in
        --keep) export E2E_KEEP=1 ;;
        --outage) export E2E_OUTAGE="$2"; shift ;;
        *) pytest_args+=("$1") ;;
    esac
    shift
done
bash scripts/bootstrap.sh
export CLOUDFLOWS_E2E=1
exec .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider -p no:xdist -rfEp "${pytest_args[@]}"
