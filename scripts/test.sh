#!/usr/bin/env bash
# Lint, type-check and test, stopping at the first failing step:
#   ruff check . -> ruff format --check . -> mypy (package, config in pyproject) -> pytest -q (tests/)
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k example_dags`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh

VENV_BIN=.venv/bin
step() {
    local started=$SECONDS
    printf '\n==> %s\n' "$*"
    "$@"
    printf '<== ok (%ss): %s\n' "$((SECONDS - started))" "$1"
}

step "$VENV_BIN/ruff" check .
step "$VENV_BIN/ruff" format --check .
step "$VENV_BIN/mypy"

pytest_args=(-q)
# A generous per-test limit turns a hung test into a failure, but only if pytest-timeout happens to be
# installed: it is not a dependency of this project.
if "$VENV_BIN/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pytest_timeout") is None)'; then
    pytest_args+=(--timeout=300)
fi
step "$VENV_BIN/python" -m pytest "${pytest_args[@]}" "$@"
