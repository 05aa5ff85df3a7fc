"""What a finished wait's XCom must hold: the normalized status, the identifiers, any extra fields.

One function lists every mismatch at once, so a failed assertion shows the whole difference.
"""

from __future__ import annotations

from typing import Any


def xcom_problems(state: Any, ids: dict[str, Any], extra: dict[str, Any]) -> list[str]:
    """What is wrong with a sensor's XCom (empty: nothing)."""
    if not isinstance(state, dict):
        return [f"not a dict: {state!r}"[:200]]
    problems = []
    # The package's normalized statuses are upper case (ExecutionStatus.SUCCEEDED == "SUCCEEDED").
    if state.get("status") != "SUCCEEDED":
        problems.append(f"status={state.get('status')!r}")
    identifiers = state.get("identifiers") or {}
    for name, value in ids.items():
        if str(identifiers.get(name)) != str(value):
            problems.append(f"identifiers.{name}={identifiers.get(name)!r} (want {value!r})")
    for name, value in extra.items():
        if state.get(name) != value:
            problems.append(f"{name}={state.get(name)!r} (want {value!r})")
    return problems
