"""Triggers: one generic async poll loop for every service, and the typed events it yields.

The trigger class is loaded on first use, not with the package: ``waiting`` (which the trigger imports)
builds the events of ``triggers.events``, and loading the package must not load the trigger first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

__all__ = ["CloudExecutionTrigger"]


def __getattr__(name: str) -> Any:
    if name == "CloudExecutionTrigger":
        return importlib.import_module("airflow_provider_cloudflows.triggers.execution").CloudExecutionTrigger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
