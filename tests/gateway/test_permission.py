"""Scopes are a Permission enum with their wire values unchanged (issue 14, item 3)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from gateway.auth.permission import AGENCY_PERMISSIONS, OPERATOR_PERMISSIONS, Permission
from gateway.registry.service import AGENCY_SCOPES, DEFAULT_SCOPES

WIRE = {"registry:read", "registry:admin", "subjects:write", "consents:write", "referrals:write", "referrals:read",
        "audit:read"}


def test_the_wire_values_are_the_scopes_tokens_always_carried() -> None:
    assert {str(p) for p in Permission} == {p.value for p in Permission} == WIRE
    assert AGENCY_SCOPES == ["registry:read", "subjects:write", "consents:write", "referrals:write", "referrals:read",
                             "audit:read"]
    assert DEFAULT_SCOPES == {"gateway_operator": ["registry:read", "registry:admin", "audit:read"]}
    assert all(type(scope) is str for scope in [*AGENCY_SCOPES, *DEFAULT_SCOPES["gateway_operator"]])
    assert set(AGENCY_PERMISSIONS) | set(OPERATOR_PERMISSIONS) == set(Permission)
    assert " ".join(sorted([Permission.REFERRALS_READ, Permission.AUDIT_READ])) == "audit:read referrals:read"


def test_the_openapi_document_lists_every_scope_once(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    flow = document["components"]["securitySchemes"]["agencyToken"]["flows"]["clientCredentials"]
    assert set(flow["scopes"]) == WIRE and all(flow["scopes"].values())


def test_no_scope_is_written_as_a_bare_string_in_the_gateway() -> None:
    root = Path(__file__).resolve().parents[2] / "gateway"
    names = "|".join(re.escape(v) for v in sorted(WIRE))
    bare = re.compile(rf"""["']({names})["']""")
    found = {path.relative_to(root).as_posix() for path in root.rglob("*.py")
             if "migrations" not in path.parts and bare.search(path.read_text(encoding="utf-8"))}
    assert found == {"auth/permission.py"}, sorted(found)
