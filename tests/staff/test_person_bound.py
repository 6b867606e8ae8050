"""Every person-bound action needs the person, for every agency, and names them from their token
(issue #16). The attacks: the agency's system alone plans, records a consent or changes a subject
(refused, audited); a body names a staff member (``obtained_by``, ``created_by``, ...), forged or not
(refused with ``staff_field_from_person_token``); an administrator turns the person requirement off
(refused with ``person_bound_action``, audited). There is no machine-only mode left for these."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body
from tests.exchange.conftest import FIELDS, open_case
from tests.support.staff import People

OWNER = "ngo"
NOTICE = {"given_at": "2026-11-24T09:00:00Z", "notice_version": "mr-v1", "language": "en"}
FORGED = {"staff_id": "mallory", "role": "caseworker"}


def _reasons(ctx: GatewayContext, action: str) -> list[tuple[str | None, dict[str, Any]]]:
    with ctx.sessions() as session:
        return [(e.reason, e.details) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))]


def _person_bound_calls(subject_id: str, consent_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/v1/plans", {"subject_id": subject_id, "recipient_agency_id": "shelter", "purpose": "shelter",
                       "fields": sorted(FIELDS)}),
        ("/v1/subjects", subject_body()),
        (f"/v1/subjects/{subject_id}/attributes", {"changes": {"declined_nrm": True}, "reason": "new_information"}),
        (f"/v1/subjects/{subject_id}/mandated-reporter-notices", NOTICE),
        ("/v1/consents", consent_body(subject_id)),
        (f"/v1/consents/{consent_id}/withdraw", {"channel": "in_person"}),
    ]


@pytest.mark.rule("SEC6", "S27")
def test_the_agency_system_alone_cannot_plan_record_a_consent_or_change_a_subject(
    client: TestClient, auth: Any, registry: Registry, ctx: GatewayContext,
) -> None:
    case = open_case(client, auth)
    system = auth(OWNER, system=True)
    for path, body in _person_bound_calls(case.subject_id, case.consent_id):
        refused = client.post(path, headers=system, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["reason"] == "person_token_required", path
    refusals = [r for r in _reasons(ctx, "staff:person:refuse") if r[0] == "person_token_required"]
    assert len(refusals) == len(_person_bound_calls(case.subject_id, case.consent_id))
    # Nothing was recorded: the consent is still in force, the attribute unchanged, no new subject.
    history = client.get(f"/v1/subjects/{case.subject_id}/attribute-history", headers=auth(OWNER)).json()
    assert "declined_nrm" not in {h["attribute"] for h in history}
    assert client.get(f"/v1/consents/{case.consent_id}", headers=auth(OWNER)).json()["status"] == "in_force"
    # Machine work stays the system's own: it reads its inbox with its client credentials.
    assert client.get("/v1/inbox", headers=auth("shelter", system=True)).status_code == 200


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/subjects", {**subject_body(), "created_by": FORGED}),
    ("/v1/subjects", {**subject_body(), "mandated_reporter_notice": {**NOTICE, "given_by": "mallory"}}),
    ("{subject}/attributes", {"changes": {"declined_nrm": True}, "reason": "new_information", "changed_by": FORGED}),
    ("{subject}/mandated-reporter-notices", {**NOTICE, "given_by": "mallory"}),
    ("/v1/consents", {"obtained_by": FORGED}),
    ("/v1/consents", {"child_views": {"recorded": True, "recorded_by": "mallory",
                                      "recorded_at": "2026-11-24T09:10:00Z", "reference": "bic-1"}}),
    ("{consent}/withdraw", {"channel": "in_person", "withdrawn_by": FORGED}),
])
def test_a_body_naming_a_staff_member_is_refused_with_its_reason(
    client: TestClient, auth: Any, people: People, registry: Registry, path: str, body: dict[str, Any],
) -> None:
    case = open_case(client, auth)
    target = path.format(subject=f"/v1/subjects/{case.subject_id}", consent=f"/v1/consents/{case.consent_id}")
    if target == "/v1/consents":
        body = {**consent_body(case.subject_id), **body}
    # Even the signed-in person cannot name anyone: the record names the token's person, always.
    refused = client.post(target, headers=people.headers(OWNER, "carol"), json=body)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["reason"] == "staff_field_from_person_token"
    assert problem["errors"][0]["type"] == "staff_field_from_person_token"
    assert "mallory" not in refused.text  # the value is never echoed


def test_records_name_the_signed_in_person_and_their_account_role(
    client: TestClient, people: People, registry: Registry,
) -> None:
    adam = people.headers(OWNER, "adam", "advocate")
    subject = client.post("/v1/subjects", headers=adam, json=subject_body()).json()["id"]
    consent = client.post("/v1/consents", headers=adam, json=consent_body(subject)).json()["consent"]
    assert consent["obtained_by"] == {"staff_id": people.id(OWNER, "adam"), "role": "advocate"}
    changed = client.post(f"/v1/subjects/{subject}/attributes", headers=people.headers(OWNER, "carol"),
                          json={"changes": {"declined_nrm": True}, "reason": "new_information"}).json()
    assert changed[0]["changed_by"] == people.id(OWNER, "carol")
    # An interpreter translates; obtaining consent is not theirs (least privilege), audited.
    ines = client.post("/v1/consents", headers=people.headers(OWNER, "ines", "interpreter"),
                       json=consent_body(subject))
    assert ines.status_code == 403 and ines.json()["reason"] == "role_not_entitled"


def test_no_agency_can_turn_the_person_requirement_off(
    client: TestClient, auth: Any, people: People, registry: Registry, ctx: GatewayContext,
) -> None:
    admin = people.headers(OWNER, "ada", "administrator")
    off = client.put("/v1/staff/plans-need-person", headers=admin, json={"required": False})
    assert off.status_code == 422 and off.json()["reason"] == "person_bound_action"
    assert ("person_bound_action", {"step": "plans_need_person", "required": False}) in _reasons(
        ctx, "staff:account:refuse")
    on = client.put("/v1/staff/plans-need-person", headers=admin, json={"required": True})
    assert on.status_code == 200 and on.json()["plans_need_person"] is True
    case = open_case(client, auth)
    alone = client.post("/v1/plans", headers=auth(OWNER, system=True), json={
        "subject_id": case.subject_id, "recipient_agency_id": "shelter", "purpose": "shelter",
        "fields": ["risk.level"]})
    assert alone.status_code == 403 and alone.json()["reason"] == "person_token_required"


def test_every_record_route_refuses_a_staff_field_from_the_signed_in_person_too(
    client: TestClient, auth: Any, people: People, registry: Registry,
) -> None:
    """Route by route (the fuzz's reachability check reads this): each answers 422 with the reason."""
    case = open_case(client, auth)
    carol = people.headers(OWNER, "carol")
    answers = [
        client.post("/v1/subjects", headers=carol, json={**subject_body(), "created_by": FORGED}),
        client.post(f"/v1/subjects/{case.subject_id}/attributes", headers=carol,
                    json={"changes": {"declined_nrm": True}, "reason": "new_information", "changed_by": FORGED}),
        client.post(f"/v1/subjects/{case.subject_id}/mandated-reporter-notices", headers=carol,
                    json={**NOTICE, "given_by": "mallory"}),
        client.post("/v1/consents", headers=carol, json={**consent_body(case.subject_id), "obtained_by": FORGED}),
        client.post(f"/v1/consents/{case.consent_id}/withdraw", headers=carol,
                    json={"channel": "in_person", "withdrawn_by": FORGED}),
    ]
    assert [a.status_code for a in answers] == [422] * 5
    assert {a.json()["reason"] for a in answers} == {"staff_field_from_person_token"}
