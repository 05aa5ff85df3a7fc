#!/usr/bin/env bash
# Create (or refresh) the project virtualenv in .venv with the package installed editable plus its test extras.
#
#   bash scripts/bootstrap.sh          # idempotent: well under a second when .venv is already up to date
#
# Uses uv when it is on PATH or can be installed with pip (user site, else inside .venv); if uv cannot be had
# at all, falls back to `python -m venv` + pip. Needs only python3 (>= 3.10; 3.11 preferred) and access to
# PyPI. PYTHON=/path/to/python picks the interpreter; BOOTSTRAP_FORCE=1 reinstalls even if .venv looks current.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
STAMP="$VENV/.cloudflows-bootstrap"
# uv must never fetch an interpreter of its own: CI only reaches package registries.
export UV_PYTHON_DOWNLOADS=never
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '[bootstrap] %s\n' "$*" >&2; }

# Serialize concurrent bootstraps (say demo.sh and test.sh started together) of the same checkout.
if command -v flock >/dev/null 2>&1; then
    # Outside the checkout so that no untracked file appears in it.
    exec 9>"${TMPDIR:-/tmp}/cloudflows-bootstrap-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).lock"
    flock 9
fi

pick_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        echo "$PYTHON"
        return
    fi
    local candidate
    for candidate in python3.11 python3.12 python3.13 python3.10 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' >/dev/null 2>&1; then
            command -v "$candidate"
            return
        fi
    done
    log "no python >= 3.10 found (tried python3.11, python3.12, python3.13, python3.10, python3)"
    exit 1
}

# What the install depends on: if none of it changed since the last successful run, there is nothing to do.
fingerprint() {
    {
        cat "$ROOT/pyproject.toml"
        "$VPY" -c 'import sys; print(sys.version)' 2>/dev/null || echo "no-python"
    } | "$BASE_PY" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

# Cheap sanity check of an installed venv: the modules resolve (importing airflow itself takes seconds).
venv_ok() {
    "$VPY" - <<'PY' 2>/dev/null
import importlib.metadata as md
import importlib.util as iu
import sys

missing = [n for n in ("airflow_provider_cloudflows", "airflow", "pytest", "ruff", "mypy") if iu.find_spec(n) is None]
if missing:
    sys.exit(f"missing: {missing}")
print("airflow", md.version("apache-airflow"))
PY
}

BASE_PY="$(pick_python)"

if [[ -z "${BOOTSTRAP_FORCE:-}" && -x "$VPY" && -f "$STAMP" && "$(cat "$STAMP")" == "$(fingerprint)" ]] &&
    summary="$(venv_ok)"; then
    log ".venv is up to date ($summary)"
    exit 0
fi

# --- find or install uv --------------------------------------------------------------------------------------
UV=()
find_uv() {
    if command -v uv >/dev/null 2>&1 && uv --version >/dev/null 2>&1; then
        UV=(uv)
    elif "$BASE_PY" -m uv --version >/dev/null 2>&1; then
        UV=("$BASE_PY" -m uv)
    elif [[ -x "$HOME/.local/bin/uv" ]] && "$HOME/.local/bin/uv" --version >/dev/null 2>&1; then
        UV=("$HOME/.local/bin/uv")
    elif [[ -x "$VPY" ]] && "$VPY" -m uv --version >/dev/null 2>&1; then
        UV=("$VPY" -m uv)
    fi
}
find_uv
if [[ ${#UV[@]} -eq 0 ]]; then
    log "uv not found; installing it with pip (user site)"
    "$BASE_PY" -m pip install --user --quiet uv >/dev/null 2>&1 || true
    find_uv
fi
if [[ ${#UV[@]} -eq 0 ]]; then
    # E.g. an "externally managed" system python refuses --user installs: put uv in the project venv instead.
    log "no user-site uv; creating .venv with $BASE_PY -m venv and installing uv into it"
    [[ -x "$VPY" ]] || "$BASE_PY" -m venv "$VENV" || true
    if [[ -x "$VPY" ]]; then
        "$VPY" -m pip --version >/dev/null 2>&1 || "$VPY" -m ensurepip --upgrade >/dev/null 2>&1 || true
        "$VPY" -m pip install --quiet uv >/dev/null 2>&1 || true
    fi
    find_uv
fi

# --- create the venv and install -------------------------------------------------------------------------------
started=$SECONDS
if [[ ${#UV[@]} -gt 0 ]]; then
    log "using $("${UV[@]}" --version)"
    if [[ ! -x "$VPY" ]]; then
        log "creating .venv with $BASE_PY"
        "${UV[@]}" venv --quiet --python "$BASE_PY" "$VENV"
    fi
    log "installing -e .[test] (uv)"
    "${UV[@]}" pip install --quiet --python "$VPY" -e ".[test]"
else
    log "uv could not be had; falling back to venv + pip"
    if [[ ! -x "$VPY" ]]; then
        log "creating .venv with $BASE_PY -m venv"
        "$BASE_PY" -m venv "$VENV"
    fi
    if ! "$VPY" -m pip --version >/dev/null 2>&1; then
        # A venv made by uv has no pip.
        "$VPY" -m ensurepip --upgrade >/dev/null
    fi
    log "installing -e .[test] (pip; this takes a few minutes)"
    "$VPY" -m pip install --quiet --upgrade pip
    "$VPY" -m pip install --quiet -e ".[test]"
fi

summary="$(venv_ok)" || {
    log "the install finished but .venv is incomplete"
    exit 1
}
fingerprint >"$STAMP"
log "done in $((SECONDS - started))s ($summary)"
