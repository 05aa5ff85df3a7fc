"""Hooks: an Airflow connection turned into credentials, a region, an endpoint and a shared-pool client."""

from __future__ import annotations

import importlib
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


def _load(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)
