"""Triggers: one generic async poll loop for every service."""

from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

__all__ = ["CloudExecutionTrigger"]
