"""The connection Test button as Airflow runs it: ``POST /api/v2/connections/test`` on the real API app.

Airflow builds the hook itself (``Hook(**{conn_name_attr: transient_id})``), so these tests fail if a hook
ignores its ``conn_name_attr`` keyword and quietly tests the ``*_default`` connection instead.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from typing import Any

import pytest
from packaging.version import Version

from cloudflows_emulator import CloudEmulator
from cloudflows_emulator.server import EmulatorServer
from tests.helpers import use_connections

VENDORS = ["tencentcloud", "alibabacloud", "huaweicloud"]
AIRFLOW_3_2_PLUS = Version(importlib.metadata.version("apache-airflow")) >= Version("3.2")


@pytest.fixture(scope="module")
def api_client(airflow_db: None) -> Iterator[Any]:
    """The real FastAPI app of ``airflow api-server``, in process (all users admin, Test button enabled)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        with TestClient(create_app()) as client:
            yield client


def _body(server: EmulatorServer, conn_type: str, *, secret: str | None = None) -> dict[str, Any]:
    conn = json.loads(server.airflow_connections()[f"AIRFLOW_CONN_{conn_type.upper()}_DEFAULT"])
    return {
        "connection_id": f"my_{conn_type}",
        "conn_type": conn_type,
        "login": conn["login"],
        "password": secret if secret is not None else conn["password"],
        "extra": json.dumps(conn["extra"]),
    }


@pytest.mark.parametrize("conn_type", VENDORS)
def test_button_accepts_good_credentials(
    monkeypatch: pytest.MonkeyPatch,
    api_client: Any,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    conn_type: str,
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    response = api_client.post("/api/v2/connections/test", json=_body(cloud_emulator_server, conn_type))
    assert response.status_code == 200, response.text
    assert response.json()["status"] is True, response.json()
    assert cloud_emulator.count() == 1


@pytest.mark.parametrize("conn_type", VENDORS)
def test_button_rejects_wrong_secret_even_with_good_default(
    monkeypatch: pytest.MonkeyPatch,
    api_client: Any,
    cloud_emulator_server: EmulatorServer,
    cloud_emulator: CloudEmulator,
    conn_type: str,
) -> None:
    # Good *_default connections exist: a hook that ignored the id it was given would test those and pass.
    use_connections(monkeypatch, cloud_emulator_server)
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    body = _body(cloud_emulator_server, conn_type, secret="wrong-secret-0123456789")
    response = api_client.post("/api/v2/connections/test", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] is False, result
    assert "rejected the credentials" in result["message"]
    assert "wrong-secret-0123456789" not in result["message"]
    assert cloud_emulator.count() == 1  # one request: never retried


@pytest.mark.parametrize("conn_type", VENDORS)
def test_hook_built_like_airflow_builds_it(conn_type: str) -> None:
    from airflow_provider_cloudflows.hooks import hook_class

    cls = hook_class(conn_type)
    hook = cls(**{cls.conn_name_attr: "some_conn"})
    assert hook.conn_id == "some_conn"
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(conn_idd="typo")


@pytest.mark.parametrize("conn_type", VENDORS)
def test_form_served_with_region_suggestions(api_client: Any, conn_type: str) -> None:
    response = api_client.get("/ui/connections/hook_meta")
    assert response.status_code == 200, response.text
    (meta,) = [m for m in response.json() if m["connection_type"] == conn_type]
    region = meta["extra_fields"]["region"]
    assert region["schema"]["type"] == ["string", "null"], region
    assert meta["standard_fields"]["password"]["title"], meta["standard_fields"]
    if AIRFLOW_3_2_PLUS:
        # What the React form turns into "Start typing to see options" plus a list; a placeholder is ignored.
        assert region["schema"]["examples"], region
    # Airflow 3.1 builds the form from the hooks' WTForms fields (compat.legacy_connection_form), which
    # cannot carry suggestions: there the region is a plain text field.
