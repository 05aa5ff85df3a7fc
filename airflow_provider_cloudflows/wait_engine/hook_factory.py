"""A wait's hook, built in one place and as Airflow builds hooks.

Airflow builds a hook as ``Hook(**{conn_name_attr: conn_id})`` (connection tests, ``Connection.get_hook``);
the sensors, the operators and both triggers build theirs the same way, so a vendor's connection keyword is
written once, on its hook class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_cloudflows.hooks import hook_class

if TYPE_CHECKING:
    from airflow_provider_cloudflows.hooks.base import CloudHook


def build_hook(vendor: str, conn_id: str, overrides: Mapping[str, Any]) -> CloudHook:
    """The vendor's hook on ``conn_id``, with per-task connection ``overrides`` (region, project id)."""
    cls = hook_class(vendor)
    kwargs: dict[str, Any] = {cls.conn_name_attr: conn_id, **overrides}
    return cls(**kwargs)
