"""Start and cancel specs: one small declaration per vendor write call, registered by name in
:mod:`..registry`."""

from __future__ import annotations

from airflow_provider_cloudflows.registry import get_cancel, get_start

__all__ = ["get_cancel", "get_start"]
