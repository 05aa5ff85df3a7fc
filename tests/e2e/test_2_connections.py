"""Connections: stored encrypted through the REST API; the UI's forms and its Test button, per vendor.

``GET /ui/connections/hook_meta`` serves the three connection types with their extra fields;
``POST /api/v2/connections/test`` is true with good credentials and false with a wrong secret, for an unsaved
connection and for the stored ``*_default`` one (the API builds the hook itself).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.specs import VENDORS
from tests.e2e.stack import Stack

# (label, how the tested body differs from the stored connection, Test's expected status)
TEST_BUTTON_CASES = [
    ("unsaved connection, good credentials", "probe", True),
    ("unsaved connection, wrong secret (good *_default exists)", "probe wrong secret", False),
    ("stored *_default, masked password (edit form)", "masked", True),
    ("stored *_default, wrong secret typed in", "wrong secret", False),
]


def test_the_three_default_connections_are_stored_in_the_metadata_db_encrypted(
    stack: Stack, connections: dict[str, dict[str, Any]]
) -> None:
    stored = {c["connection_id"] for c in stack.api.get("/api/v2/connections", limit=100)["connections"]}
    db_rows = stack.db_connection_rows()
    wanted = {body["connection_id"] for body in connections.values()}
    assert wanted <= stored, f"api={sorted(stored)}"
    assert all(db_rows.get(c) == (1, 1) for c in wanted), f"db (is_encrypted, is_extra_encrypted)={db_rows}"


@pytest.mark.parametrize("conn_type", list(VENDORS))
def test_hook_meta_serves_the_connection_form_with_its_extra_fields(stack: Stack, conn_type: str) -> None:
    meta = {item.get("connection_type"): item for item in stack.api.get("/ui/connections/hook_meta")}
    assert conn_type in meta, f"not served; got {sorted(meta, key=str)}"
    fields = set(meta[conn_type].get("extra_fields") or {})
    # Airflow may key the fields plainly or as extra__<type>__<name>.
    names = {f.removeprefix(f"extra__{conn_type}__") for f in fields}
    missing = VENDORS[conn_type]["form_fields"] - names
    assert not missing, f"missing {sorted(missing)}; got {sorted(fields)}"


@pytest.mark.parametrize("conn_type", list(VENDORS))
@pytest.mark.parametrize(("label", "variant", "expected"), TEST_BUTTON_CASES, ids=[c[0] for c in TEST_BUTTON_CASES])
def test_the_test_button_accepts_good_credentials_and_rejects_a_wrong_secret(
    stack: Stack,
    connections: dict[str, dict[str, Any]],
    conn_type: str,
    label: str,
    variant: str,
    expected: bool,
) -> None:
    good = connections[conn_type]
    body = dict(good)
    if variant.startswith("probe"):
        body["connection_id"] = f"e2e_probe_{conn_type}"
    if variant.endswith("wrong secret"):
        body["password"] = stack.canaries.new(f"{conn_type}_wrong")
    if variant == "masked":
        body["password"] = "***"
    reply = stack.api.http.post("/api/v2/connections/test", json=body)
    detail = f"{label}: HTTP {reply.status_code}: {reply.text[:400]}"
    assert reply.status_code == 200, detail
    assert reply.json().get("status") is expected, detail
    leaked = stack.canaries.find(reply.content)
    assert not leaked, f"{detail}; canaries in reply: {leaked}"
