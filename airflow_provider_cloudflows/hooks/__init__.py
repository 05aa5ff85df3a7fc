"""Hooks: an Airflow connection turned into credentials, a region, an endpoint and a shared-pool client.

Airflow builds a hook as ``Hook(**{conn_name_attr: conn_id})`` (connection tests, ``Connection.get_hook``);
the sensors, the operators and the triggers build theirs the same way (:func:`build_hook`), so a vendor's
connection keyword is written once, on its hook class.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_cloudflows.hooks.base import CloudHook

_HOOKS = {
    "tencentcloud": "airflow_provider_cloudflows.hooks.tencent.TencentCloudHook",
    "alibabacloud": "airflow_provider_cloudflows.hooks.alibaba.AlibabaCloudHook",
    "huaweicloud": "airflow_provider_cloudflows.hooks.huawei.HuaweiCloudHook",
}


def hook_class(vendor: str) -> type[CloudHook]:
    """The hook class of a vendor (imported lazily: a trigger needs only its own vendor's)."""
    try:
        path = _HOOKS[vendor]
    except KeyError:
        raise ValueError(f"unknown vendor {vendor!r}; known: {sorted(_HOOKS)}") from None
    cls: type[CloudHook] = _load(path)
    return cls


def build_hook(vendor: str, conn_id: str, overrides: Mapping[str, Any]) -> CloudHook:
    """The vendor's hook on ``conn_id``, with per-task connection ``overrides`` (region, project id)."""
    cls = hook_class(vendor)
    kwargs: dict[str, Any] = {cls.conn_name_attr: conn_id, **overrides}
    return cls(**kwargs)


def _load(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)
