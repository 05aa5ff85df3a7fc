#!/usr/bin/env bash
# Run every example DAG against the built-in cloud emulator (no cloud account needed).
#
#   bash scripts/demo.sh [DAG_ID ...]
#
# Bootstraps .venv if needed, then runs scripts/demo.py: isolated AIRFLOW_HOME in .demo/airflow_home, the
# emulator in-process with the demo scenario, dag.test() of each example DAG, and a summary table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
