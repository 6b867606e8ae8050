"""The malicious integrator's attacks of issue #16, run against the API, each failing.

One agency token used to request a lawful exception as "mallory", approve it as "Mallory" and send
``health.suicide_risk`` with no consent; a client claimed ``user_role: caseworker`` for a volunteer;
``person_present: true`` was a flag; a deferral to 2099 never reached the person's portal. Now what a
person does is proven by that person's token, and roles come from their account.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.clock import FixedClock
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.portal import content
from gateway.staff.service import LEGAL_DEFERRAL_MAX_DAYS
from tests.conftest import Registry
from tests.exceptions.conftest import grant_body, plan_with, publish
from tests.exchange.conftest import FIELDS, open_case, sealed, submit
from tests.portal.conftest import make_person
from tests.support.staff import People

Auth = Any
OWNER = "ngo"


@pytest.fixture
def exceptions_published(ctx: GatewayContext, registry: Registry) -> Registry:
    publish(ctx, OWNER, [{"basis": "L4", "scenarios": ["suicide_risk_primary_doctor"]}])
    return registry


def _subject(client: TestClient, auth: Auth) -> str:
    return open_case(client, auth, purpose="shelter", recipient="shelter").subject_id


def _refusals(ctx: GatewayContext, action: str) -> list[str | None]:
    with ctx.sessions() as session:
        return [e.reason for e in session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                                  .order_by(AuditEntry.seq))]


@pytest.mark.rule("SEC6")
def test_self_approval_as_mallory_then_Mallory_fails(
    client: TestClient, auth: Auth, people: People, exceptions_published: Registry, ctx: GatewayContext,
) -> None:
    subject_id = _subject(client, auth)
    # The old attack, verbatim: the agency's own token, names in the body.
    old = client.post("/v1/exceptions", headers=auth(OWNER, system=True),
                      json={**grant_body(subject_id), "requested_by": "mallory"})
    assert old.status_code == 403 and old.json()["reason"] == "person_token_required"
    named = client.post("/v1/exceptions", headers=people.headers(OWNER, "mallory", "supervisor"),
                        json={**grant_body(subject_id), "requested_by": "someone else"})
    assert named.status_code == 422  # the field is gone: the requester is whoever the token acts for

    mallory = people.headers(OWNER, "mallory", "supervisor")
    grant = client.post("/v1/exceptions", headers=mallory, json=grant_body(subject_id))
    assert grant.status_code == 201, grant.text
    grant_id = grant.json()["id"]
    assert grant.json()["requested_by"] == people.id(OWNER, "mallory")
    # "Approved as Mallory": a name in the body is refused outright ...
    named = client.post(f"/v1/exceptions/{grant_id}/approvals", headers=auth(OWNER, system=True),
                        json={"approved_by": "Mallory"})
    assert named.status_code == 403 and named.json()["reason"] == "person_token_required"
    # ... and Mallory's own token, however the name is spelled, is the requester's identity.
    again = client.post(f"/v1/exceptions/{grant_id}/approvals", headers=people.headers(OWNER, "mallory", "supervisor"))
    assert again.status_code == 422 and again.json()["reason"] == "exception_self_approval"
    # A caseworker is not entitled to approve; another agency's supervisor cannot even see it.
    caseworker = client.post(f"/v1/exceptions/{grant_id}/approvals", headers=people.headers(OWNER, "carol"))
    assert caseworker.status_code == 403 and caseworker.json()["reason"] == "role_not_entitled"
    stranger = client.post(f"/v1/exceptions/{grant_id}/approvals",
                           headers=people.headers("shelter", "sam", "supervisor"))
    assert stranger.status_code == 404
    # So nothing goes: the suicide risk cannot be sent on the unapproved grant.
    denied = plan_with(client, auth, subject_id, grant_id, ["health.suicide_risk", "subject.preferred_name"])
    assert denied.status_code == 200 and denied.json()["allow"] is False
    assert "exception_second_approver_missing" in denied.json()["reasons"]
    assert "exception_self_approval" in _refusals(ctx, "exception:grant:refuse")
    assert {"person_token_required", "role_not_entitled"} <= set(_refusals(ctx, "staff:person:refuse"))
    # Two people: a second supervisor of the same agency approves, and then it may be used.
    approved = client.post(f"/v1/exceptions/{grant_id}/approvals",
                           headers=people.headers(OWNER, "victor", "supervisor"))
    assert approved.status_code == 200
    assert approved.json()["approved_by"] == people.id(OWNER, "victor") != approved.json()["requested_by"]
    allowed = plan_with(client, auth, subject_id, grant_id, ["health.suicide_risk"]).json()
    assert allowed["allow"] is True and allowed["permitted_fields"] == ["health.suicide_risk"]


@pytest.mark.rule("S27")
def test_a_forged_role_does_not_lift_the_volunteer_firewall(
    client: TestClient, auth: Auth, people: People, registry: Registry,
) -> None:
    case = open_case(client, auth)
    body = {"subject_id": case.subject_id, "recipient_agency_id": "shelter", "purpose": "shelter",
            "fields": sorted(FIELDS)}
    forged = client.post("/v1/plans", headers=people.headers(OWNER, "vera", "volunteer"),
                         json={**body, "user_role": "caseworker", "user_id": "carol"})
    assert forged.status_code == 422  # no role or user field any more
    volunteer = client.post("/v1/plans", headers=people.headers(OWNER, "vera", "volunteer"), json=body).json()
    denied = {d["field"]: d["reason"] for d in volunteer["denied_fields"]}
    assert denied["subject.preferred_name"] == "volunteer_sensitive_class"
    assert denied["risk.level"] == "volunteer_sensitive_class"
    assert "subject.language" in volunteer["permitted_fields"]
    # An interpreter is decided as a volunteer too; a person holding both roles as the stricter one.
    both = client.post("/v1/plans", headers=people.headers(OWNER, "ines", "caseworker", "interpreter"),
                       json=body).json()
    assert "risk.level" not in both["permitted_fields"]
    caseworker = client.post("/v1/plans", headers=people.headers(OWNER, "carol"), json=body).json()
    assert {"subject.preferred_name", "risk.level"} <= set(caseworker["permitted_fields"])
    # An account with no referral role (an administrator) cannot plan for anyone.
    admin = client.post("/v1/plans", headers=people.headers(OWNER, "ada", "administrator"), json=body)
    assert admin.status_code == 403 and admin.json()["reason"] == "role_not_entitled"
    # Without a person there is no plan, for every agency, from the start (no setting opens that door).
    alone = client.post("/v1/plans", headers=auth(OWNER, system=True), json=body)
    assert alone.status_code == 403 and alone.json()["reason"] == "person_token_required"
    still = client.post("/v1/plans", headers=people.headers(OWNER, "vera", "volunteer"), json=body).json()
    assert "risk.level" not in still["permitted_fields"]


def test_a_forged_person_present_sets_no_pin(
    client: TestClient, auth: Auth, people: People, registry: Registry,
) -> None:
    person = make_person(client, auth)
    url = f"/v1/subjects/{person.subject_id}/portal-access/pin"
    forged = client.post(url, headers=auth(OWNER, system=True), json={"pin": "503817", "person_present": True,
                                                          "set_by": {"staff_id": "advocate", "role": "advocate"}})
    assert forged.status_code == 403 and forged.json()["reason"] == "person_token_required"
    flagged = client.post(url, headers=people.headers(OWNER, "adele", "advocate"),
                          json={"pin": "503817", "person_present": True})
    assert flagged.status_code == 422  # the flag is gone: the advocate's token is the attestation
    system = client.post(url, headers=auth(OWNER, system=True), json={"pin": "503817"})
    assert system.status_code == 403 and system.json()["reason"] == "person_token_required"
    volunteer = client.post(url, headers=people.headers(OWNER, "vera", "volunteer"), json={"pin": "503817"})
    assert volunteer.status_code == 403 and volunteer.json()["reason"] == "role_not_entitled"
    unlock = client.post(f"/v1/subjects/{person.subject_id}/portal-access/unlock", headers=auth(OWNER, system=True))
    assert unlock.status_code == 403
    advocate = client.post(url, headers=people.headers(OWNER, "adele", "advocate"), json={"pin": "503817"})
    assert advocate.status_code == 200


@pytest.mark.rule("CR23")
def test_an_unbounded_deferral_is_refused_and_a_bounded_one_reaches_the_portal_on_its_day(
    client: TestClient, auth: Auth, people: People, exceptions_published: Registry, ctx: GatewayContext,
    clock: FixedClock,
) -> None:
    subject_id = _subject(client, auth)
    caseworker = people.headers(OWNER, "carol")
    far = datetime(2099, 1, 1, tzinfo=clock.now().tzinfo).isoformat()
    unpublished = client.post("/v1/exceptions", headers=caseworker, json=grant_body(
        subject_id, defer_until=far, defer_reason="covert_investigation"))
    assert unpublished.status_code == 422 and unpublished.json()["reason"] == "deferral_not_published"
    admin = people.headers(OWNER, "ada", "administrator")
    too_much = client.put("/v1/staff/deferral-maximum", headers=admin,
                          json={"deferral_max_days": LEGAL_DEFERRAL_MAX_DAYS + 1})
    assert too_much.status_code == 422
    assert client.put("/v1/staff/deferral-maximum", headers=auth(OWNER, system=True),
                      json={"deferral_max_days": 30}).status_code == 403  # the agency system alone cannot
    assert client.put("/v1/staff/deferral-maximum", headers=people.headers(OWNER, "ada", "administrator"),
                      json={"deferral_max_days": 30}).status_code == 200
    for defer_until, reason, expected in (
        (far, "covert_investigation", "deferral_too_long"),
        ((clock.now() + timedelta(days=31)).isoformat(), "covert_investigation", "deferral_too_long"),
        ((clock.now() - timedelta(days=1)).isoformat(), "covert_investigation", "deferral_in_past"),
    ):
        refused = client.post("/v1/exceptions", headers=people.headers(OWNER, "carol"), json=grant_body(
            subject_id, defer_until=defer_until, defer_reason=reason))
        assert refused.status_code == 422 and refused.json()["reason"] == expected, refused.text
    other_reason = client.post("/v1/exceptions", headers=people.headers(OWNER, "carol"), json=grant_body(
        subject_id, defer_until=(clock.now() + timedelta(days=2)).isoformat(), defer_reason="convenience"))
    assert other_reason.status_code == 422
    assert _refusals(ctx, "exception:grant:refuse").count("deferral_too_long") == 2

    until = clock.now() + timedelta(days=3)
    grant = client.post("/v1/exceptions", headers=people.headers(OWNER, "carol"), json=grant_body(
        subject_id, defer_until=until.isoformat(), defer_reason="covert_investigation")).json()
    # The deferral needs the second approver: unapproved, the grant (and its deferral) do nothing.
    assert client.post(f"/v1/exceptions/{grant['id']}/approvals",
                       headers=people.headers(OWNER, "victor", "supervisor")).status_code == 200
    the_plan = plan_with(client, auth, subject_id, grant["id"], ["health.suicide_risk"]).json()
    values = {"health.suicide_risk": "high"}
    accepted = submit(client, auth, {**sealed(client, auth, exceptions_published, the_plan, values),
                                     "exception_grant_id": grant["id"]}, key="deferred-1")
    assert accepted.status_code == 201, accepted.text
    with ctx.sessions() as session:
        def shown(at: datetime) -> list[str]:
            return [n.kind for n in content.notices(session, subject_id, at)]

        assert "exception_used" not in shown(until - timedelta(minutes=1))
        assert "exception_used" in shown(until)  # the day it ends, not later


@pytest.mark.rule("CR36", "S27")
def test_police_tiers_hold_for_every_real_account_and_a_volunteer_is_still_a_volunteer(
    client: TestClient, auth: Auth, people: People, registry: Registry,
) -> None:
    from tests.consent.conftest import consent_body, subject_body

    subject = client.post("/v1/subjects", headers=auth(OWNER), json=subject_body()).json()
    granted = client.post("/v1/consents", headers=auth(OWNER), json=consent_body(
        subject["id"], purpose="criminal_justice", recipients=[{"agency_id": "police"}],
        cj_option="anonymous_intelligence_only", scope="case_specific_no_personal_data", data_classes=["D23", "D5"]))
    assert granted.status_code == 201, granted.text
    body = {"subject_id": subject["id"], "recipient_agency_id": "police", "purpose": "criminal_justice",
            "fields": ["intelligence.case_summary", "subject.first_name", "subject.language"]}
    for name, roles in (("carol", ("caseworker",)), ("victor", ("supervisor",)), ("ines", ("investigator",))):
        decided = client.post("/v1/plans", headers=people.headers(OWNER, name, *roles), json=body).json()
        denied = {d["field"]: d["reason"] for d in decided["denied_fields"]}
        assert "subject.first_name" not in decided["permitted_fields"], roles
        assert denied["subject.first_name"] == "police_tier", (roles, denied)
        assert decided["permitted_fields"] == ["intelligence.case_summary"]
    volunteer = client.post("/v1/plans", headers=people.headers(OWNER, "vera", "volunteer"), json=body).json()
    assert {d["field"]: d["reason"] for d in volunteer["denied_fields"]}["subject.first_name"] == \
        "volunteer_sensitive_class"
    assert set(volunteer["permitted_fields"]) <= set(decided["permitted_fields"])
