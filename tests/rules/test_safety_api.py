"""The last planned rule ids through the public API (issue 21): what the gateway adds around the
policy rules of ``tests/policy/test_safety_rules.py``.

- S40, SEC12: a subject's contact safety is recorded like any attribute; a plan that asks for a
  channel flagged as accessible to a third party gets it withheld and the person's advocate is
  alerted (field names only, never a value); once the contact is verified safe it goes;
- SEC11: the policy input carries a child's Golden Day, 72 hours from the NRM referral, the same
  length the policy data states;
- CR38: a refused protection or shelter is recorded, audited, and changes no decision;
- T4: at a mandated-reporter agency no data about a person is entered before the notice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.policy_view import GOLDEN_DAY, subject_fragment
from consent.subjects import Subject
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.policy import DEFAULT_POLICY_DIR
from gateway.registry.models import AgencyKind
from tests.conftest import Registry, register
from tests.consent.conftest import consent_body, subject_body

Auth = Callable[..., dict[str, str]]
PHONE = "+31 6 5555 0142"


def _plan(client: TestClient, auth: Auth, subject_id: str, recipient: str, purpose: str,
          fields: list[str], agency: str = "ngo") -> dict[str, Any]:
    response = client.post("/v1/plans", headers=auth(agency), json={
        "subject_id": subject_id, "recipient_agency_id": recipient, "purpose": purpose, "fields": fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _reason(plan: dict[str, Any], field: str) -> str | None:
    return next((d["reason"] for d in plan["denied_fields"] if d["field"] == field), None)


def _notices(client: TestClient, auth: Auth, agency: str, kind: str) -> list[dict[str, Any]]:
    response = client.get("/v1/exceptions/notices", headers=auth(agency))
    assert response.status_code == 200, response.text
    return [n for n in response.json() if n["kind"] == kind]


def _change(client: TestClient, auth: Auth, subject_id: str, reason: str, **changes: Any) -> None:
    response = client.post(f"/v1/subjects/{subject_id}/attributes", headers=auth("ngo"),
                           json={"changes": changes, "reason": reason})
    assert response.status_code == 200, response.text


@pytest.mark.rule("S40", "SEC12")
def test_a_phone_a_third_party_can_read_is_withheld_and_the_advocate_is_alerted(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
) -> None:
    registry.keys["advocate"], registry.key_ids["advocate"] = register(ctx, "advocate",
                                                                       AgencyKind.INDEPENDENT_ADVOCATE)
    created = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(contact_safety="third_party_access"))
    assert created.status_code == 201, created.text
    assert created.json()["contact_safety"] == "third_party_access"
    sid = created.json()["id"]
    consent = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        sid, purpose="protection_support", recipients=[{"agency_id": "advocate"}], scope="full",
        data_classes=["D1", "D3"]))
    assert consent.status_code == 201, consent.text
    fields = ["contact.phone", "contact.safe_to_contact", "subject.preferred_name"]

    blocked = _plan(client, auth, sid, "advocate", "protection_support", fields)
    assert _reason(blocked, "contact.phone") == "contact_not_verified_safe"
    assert "contact.phone" not in blocked["permitted_fields"]
    assert "subject.preferred_name" in blocked["permitted_fields"]
    alerts = _notices(client, auth, "ngo", "unsafe_contact_blocked")
    assert len(alerts) == 1
    assert alerts[0]["subject_id"] == sid
    assert alerts[0]["details"] == {"requester_agency_id": "ngo", "recipient_agency_id": "advocate",
                                    "purpose": "protection_support", "fields": ["contact.phone"], "rule": "S40"}
    assert PHONE not in json.dumps(alerts)
    assert _notices(client, auth, "advocate", "unsafe_contact_blocked") == []  # the recipient hears nothing

    # An unverified number is withheld too, but it was not flagged: no alert.
    _change(client, auth, sid, "safeguarding_concern", contact_safety="unverified")
    again = _plan(client, auth, sid, "advocate", "protection_support", fields)
    assert _reason(again, "contact.phone") == "contact_not_verified_safe"
    assert len(_notices(client, auth, "ngo", "unsafe_contact_blocked")) == 1

    # Verified safe (a new phone the traffickers do not know): it goes, and nobody is alerted.
    _change(client, auth, sid, "new_information", contact_safety="verified_safe")
    safe = _plan(client, auth, sid, "advocate", "protection_support", fields)
    assert "contact.phone" in safe["permitted_fields"]
    assert len(_notices(client, auth, "ngo", "unsafe_contact_blocked")) == 1


@pytest.mark.rule("SEC12")
def test_contact_safety_is_a_closed_vocabulary(client: TestClient, auth: Auth, registry: Registry) -> None:
    for bad in ("safe", "VERIFIED_SAFE", 1):
        response = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(contact_safety=bad))
        assert response.status_code == 422, (bad, response.text)
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "attributes", "contact_safety"]]


@pytest.mark.rule("SEC11", "CH14")
def test_the_policy_input_carries_a_childs_golden_day_from_the_referral() -> None:
    referred = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    child = Subject(id="s-child", adult_on=date(2031, 6, 1), age_disputed=False, nrm_referred_at=referred,
                    contact_safety="verified_safe", open_cases=[], cj_role="none")
    adult = Subject(id="s-adult", adult_on=date(2001, 6, 1), age_disputed=False, nrm_referred_at=referred,
                    open_cases=[], cj_role="none")
    not_referred = Subject(id="s-new", adult_on=date(2031, 6, 1), age_disputed=False, nrm_referred_at=None,
                           open_cases=[], cj_role="none")
    at = referred + timedelta(hours=1)
    assert subject_fragment(child, at)["golden_day_until"] == "2026-11-27T09:30:00Z"
    assert subject_fragment(child, at)["contact_safety"] == "verified_safe"
    assert subject_fragment(adult, at)["golden_day_until"] is None
    assert subject_fragment(not_referred, at)["golden_day_until"] is None
    data = json.loads((DEFAULT_POLICY_DIR / "data" / "firewalls.json").read_text(encoding="utf-8"))
    assert timedelta(hours=data["firewalls"]["golden_day"]["hours"]) == GOLDEN_DAY


@pytest.mark.rule("CR38")
def test_a_refused_shelter_is_recorded_and_closes_nothing(client: TestClient, auth: Auth, registry: Registry,
                                                          ctx: GatewayContext) -> None:
    created = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body())
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.json()["declined_protection"] is False
    assert client.post("/v1/consents", headers=auth("ngo"), json=consent_body(sid)).status_code == 201
    fields = ["subject.preferred_name", "subject.language", "risk.level"]
    before = _plan(client, auth, sid, "shelter", "shelter", fields)
    assert before["allow"] is True

    _change(client, auth, sid, "person_request", declined_protection=True)
    shown = client.get(f"/v1/subjects/{sid}", headers=auth("ngo")).json()
    assert shown["declined_protection"] is True
    history = client.get(f"/v1/subjects/{sid}/attribute-history", headers=auth("ngo")).json()
    assert [(h["attribute"], h["reason"]) for h in history if h["attribute"] == "declined_protection"] == [
        ("declined_protection", "person_request")]
    with ctx.sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry))]
    assert any("attribute" in a for a in actions)

    after = _plan(client, auth, sid, "shelter", "shelter", fields)
    assert after["allow"] is True
    assert after["permitted_fields"] == before["permitted_fields"]
    assert after["reasons"] == before["reasons"] == []
    # Nor does any other service close: the person can still be referred elsewhere.
    assert client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        sid, purpose="protection_support", recipients=[{"agency_id": "clinic"}])).status_code == 201
    assert _plan(client, auth, sid, "clinic", "protection_support", ["subject.preferred_name"])["allow"] is True


@pytest.mark.rule("T4", "CR8")
def test_at_a_mandated_reporter_nothing_is_entered_before_the_notice(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
) -> None:
    """T4: a per-agency flag (set for every agency of a jurisdiction where reporting is mandatory):
    the intake records that the person was told before any data about them is stored."""
    registry.keys["mr-ngo"], registry.key_ids["mr-ngo"] = register(ctx, "mr-ngo", AgencyKind.NGO,
                                                                   mandated_reporter=True)
    refused = client.post("/v1/subjects", headers=auth("mr-ngo"), json=subject_body())
    assert refused.status_code == 422
    assert refused.json()["reason"] == "mandated_reporter_notice_missing"
    with ctx.sessions() as session:
        assert session.scalars(select(Subject)).all() == []
    body = {**subject_body(), "mandated_reporter_notice": {"given_at": "2026-11-24T09:55:00Z",
                                                           "notice_version": "mr-nl-v2", "language": "en"}}
    told = client.post("/v1/subjects", headers=auth("mr-ngo"), json=body)
    assert told.status_code == 201, told.text
    # An agency that is not a mandated reporter needs no notice.
    assert client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).status_code == 201


@pytest.mark.rule("SEC1")
def test_an_agency_sees_only_its_own_cases(client: TestClient, auth: Auth, registry: Registry) -> None:
    """SEC1, need to know: another agency can neither read a person's record nor plan a share about
    them (the gateway answers as if the person did not exist); what a role may see is the
    policy's (SEC8 volunteers, SEC18 the narrative)."""
    sid = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    assert client.get(f"/v1/subjects/{sid}", headers=auth("ngo")).status_code == 200
    for other in ("shelter", "police", "iom"):
        read = client.get(f"/v1/subjects/{sid}", headers=auth(other))
        assert read.status_code == 404 and read.json()["reason"] == "unknown_subject", other
        planned = client.post("/v1/plans", headers=auth(other), json={
            "subject_id": sid, "recipient_agency_id": "ngo", "purpose": "protection_support",
            "fields": ["subject.preferred_name"]})
        assert planned.status_code == 404 and planned.json()["reason"] == "unknown_subject", other
        assert sid not in client.get("/v1/subjects", headers=auth(other)).text


@pytest.mark.rule("SEC17")
def test_an_agency_records_the_version_of_its_confidentiality_policy(client: TestClient, auth: Auth,
                                                                     registry: Registry) -> None:
    created = client.post("/v1/agencies", headers=auth("operator"), json={
        "id": "ngo-two", "name": "Second NGO", "kind": "ngo", "jurisdiction": "NL", "vetted": True,
        "confidentiality_policy_version": "conf-2026-03"})
    assert created.status_code == 201, created.text
    assert created.json()["confidentiality_policy_version"] == "conf-2026-03"
    # Vetting without an attested confidentiality policy is refused; a pending agency may wait for it.
    unattested = client.post("/v1/agencies", headers=auth("operator"), json={
        "id": "ngo-three", "name": "Third NGO", "kind": "ngo", "jurisdiction": "NL", "vetted": True})
    assert (unattested.status_code, unattested.json()["reason"]) == (422, "confidentiality_policy_required")
    pending = client.post("/v1/agencies", headers=auth("operator"), json={
        "id": "ngo-three", "name": "Third NGO", "kind": "ngo", "jurisdiction": "NL"})
    assert pending.status_code == 201 and pending.json()["vetting_status"] == "pending"
    listed = client.get("/v1/agencies/ngo-two", headers=auth("ngo"))
    assert listed.status_code == 200 and listed.json()["confidentiality_policy_version"] == "conf-2026-03"
    too_long = client.post("/v1/agencies", headers=auth("operator"), json={
        "id": "ngo-three", "name": "Third NGO", "kind": "ngo", "jurisdiction": "NL",
        "confidentiality_policy_version": "x" * 65})
    assert too_long.status_code == 422
