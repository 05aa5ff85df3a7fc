"""Tencent identity services of the emulator (STS / IAM credentials, instance metadata): to be written."""

from __future__ import annotations

from airflow_provider_cloudflows.emulator.handler import ServiceSpec, VendorHandler

__all__ = ["IDENTITY_SERVICES", "identity_handlers"]

IDENTITY_SERVICES: tuple[ServiceSpec, ...] = ()
"""Services served by the vendor's API handler (signed like its other APIs)."""


def identity_handlers() -> list[VendorHandler]:
    """Fresh handlers of what the vendor's API handler does not claim (the metadata service)."""
    return []
