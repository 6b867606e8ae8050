"""Exception fixtures: agencies that published exception policies, and grant helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.context import GatewayContext
from gateway.registry.models import Agency, AgencyKind
from tests.conftest import Registry, TokenFor, register
from tests.support.staff import People

Auth = Callable[..., dict[str, str]]
#: The staff of each agency in these tests: a caseworker asks, a supervisor approves (four eyes).
ROLES = {"staff-1": ("caseworker",), "staff-2": ("supervisor",), "staff-3": ("supervisor",),
         "staff-9": ("supervisor",)}


@pytest.fixture
def auth(token_for: TokenFor, people: People) -> Auth:
    """Acting for a named signed-in staff member (``person=``), or for the agency's default one;
    ``system=True``: the agency's client on its own (machine work)."""

    def headers(agency_id: str, scope: str | None = None, person: str | None = None,
                system: bool = False) -> dict[str, str]:
        if system:
            return {"Authorization": f"Bearer {token_for(agency_id, scope)}"}
        if person is None:
            return people.default_headers(agency_id, scope)
        return people.headers(agency_id, person, *ROLES.get(person, ("caseworker",)), scope=scope)

    return headers

POLICY = [
    {"basis": "L3", "scenarios": ["unconscious_emergency"]},
    {"basis": "L4", "scenarios": ["suicide_risk_primary_doctor"]},
    {"basis": "L6", "scenarios": ["family_tracing"]},
    {"basis": "L8", "scenarios": ["court_order_therapy_record"]},
]


def publish(ctx: GatewayContext, agency_id: str, policy: list[dict[str, Any]]) -> None:
    with ctx.sessions() as session, session.begin():
        agency = session.get(Agency, agency_id)
        assert agency is not None
        agency.exception_policy = policy


@pytest.fixture
def published(ctx: GatewayContext, registry: Registry) -> Registry:
    """The NGO published L3, L4, L6 and L8 scenarios; a court and a media outlet are registered."""
    publish(ctx, "ngo", POLICY)
    for agency_id, kind in (("court", AgencyKind.COURT), ("media", AgencyKind.MEDIA)):
        registry.keys[agency_id], registry.key_ids[agency_id] = register(ctx, agency_id, kind)
    return registry


def grant_body(subject_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject_id": subject_id, "basis": "L4", "scenario": "suicide_risk_primary_doctor",
        "justification_code": "risk_assessment_high", "justification_ref": "case-file:risk-2026-11-24",
        "recipient_agency_id": "clinic", "purpose": "healthcare", "classes": ["D8"],
        "fields": ["health.suicide_risk"]
    }
    body.update(overrides)
    return body


def request_grant(client: TestClient, auth: Auth, subject_id: str, *, expect: int = 201, sender: str = "ngo",
                  requester: str = "staff-1", **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/exceptions", headers=auth(sender, person=requester),
                           json=grant_body(subject_id, **overrides))
    assert response.status_code == expect, response.text
    return dict(response.json())


def approve(client: TestClient, auth: Auth, grant_id: str, approver: str = "staff-2", *, expect: int = 200,
            sender: str = "ngo") -> dict[str, Any]:
    response = client.post(f"/v1/exceptions/{grant_id}/approvals", headers=auth(sender, person=approver))
    assert response.status_code == expect, response.text
    return dict(response.json())


def plan_with(client: TestClient, auth: Auth, subject_id: str, grant_id: str | None, fields: list[str], *,
              recipient: str = "clinic", purpose: str = "healthcare", sender: str = "ngo") -> Any:
    body: dict[str, Any] = {"subject_id": subject_id, "recipient_agency_id": recipient, "purpose": purpose,
                            "fields": sorted(fields)}
    if grant_id is not None:
        body["exception_grant_id"] = grant_id
    return client.post("/v1/plans", headers=auth(sender), json=body)
