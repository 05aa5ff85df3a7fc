"""Service specs: one small declaration per vendor API, registered by name in :mod:`..registry`."""

from __future__ import annotations

from airflow_provider_cloudflows.registry import Kind, get_service, names

__all__ = ["get_service", "service_names"]


def service_names() -> list[str]:
    """Every registered service."""
    return names(Kind.SERVICE)
