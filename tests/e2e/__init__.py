"""The real-stack end-to-end test: a real Airflow 3 stack, the cloud emulator, the provider's operators and sensors.

Collected only when ``CLOUDFLOWS_E2E=1`` (``bash scripts/e2e.sh`` sets it): the stack takes minutes to start and
its processes need a machine of their own, so the normal suite leaves this package out.
"""
