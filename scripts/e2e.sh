#!/usr/bin/env bash
# Real-deployment end-to-end test: a real Airflow stack (api-server, scheduler, dag-processor, triggerer;
# LocalExecutor on SQLite) plus the cloud emulator, each as its own process, in a temporary AIRFLOW_HOME.
#
#   bash scripts/e2e.sh [--keep] [--outage SECONDS]     # E2E_KEEP=1 keeps the temporary directory
#
# Bootstraps .venv if needed, then runs scripts/e2e_real_stack.py, which prints one PASS/FAIL line per check,
# the timings and "N passed, M failed"; the exit code is non-zero on any failure. Takes about five minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/e2e_real_stack.py "$@"
