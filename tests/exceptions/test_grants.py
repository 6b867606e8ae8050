"""Exception grants: published in advance (S35), four eyes, scope, expiry, single use, notices (S21, S24)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.clock import FixedClock
from consent.notices import PersonNotice, notices_for
from gateway.audit.models import AuditEntry
from gateway.audit.search import DASHBOARDS, EntryFilter, find_entries
from gateway.context import GatewayContext
from gateway.exceptions.models import AgencyNotice, ExceptionGrant
from tests.conftest import Registry
from tests.exceptions.conftest import Auth, approve, plan_with, publish, request_grant
from tests.exchange.conftest import open_case, sealed, submit
from tests.support.staff import People

VALUES = {"health.suicide_risk": "high", "health.allergies": "penicillin", "health.medication": "none",
          "therapy.record": "attended 2026-10", "subject.preferred_name": "Amina"}


def _entries(ctx: GatewayContext, action: str) -> list[AuditEntry]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.seq)))


def _subject(client: TestClient, auth: Auth, **attrs: Any) -> str:
    return open_case(client, auth, **attrs).subject_id


def _explain(client: TestClient, auth: Auth, subject_id: str, given_at: str) -> Any:
    """Record that the NGO told the person its exception policy at ``given_at`` (L1)."""
    return client.post("/v1/exceptions/explanations", headers=auth("ngo", person="staff-1"), json={
        "subject_id": subject_id, "given_at": given_at,
        "policy_version": "ngo-exceptions-2026-1", "language": "en"})


def _send(client: TestClient, auth: Auth, registry: Registry, the_plan: dict[str, Any], grant_id: str,
          key: str = "k-1") -> Any:
    body = sealed(client, auth, registry, the_plan, VALUES)
    return submit(client, auth, {**body, "exception_grant_id": grant_id}, key=key)


@pytest.mark.rule("S35", "L1")
def test_s35_a_basis_or_scenario_the_agency_did_not_publish_is_refused_at_once(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    subject_id = _subject(client, auth)
    refused = request_grant(client, auth, subject_id, expect=422, scenario="staff_feels_worried")
    assert refused["reason"] == "exception_not_in_agency_policy"
    publish(ctx, "ngo", [])
    refused = request_grant(client, auth, subject_id, expect=422)
    assert refused["reason"] == "exception_not_in_agency_policy"
    entries = _entries(ctx, "exception:grant:refuse")
    assert [(e.reason, e.basis["exception"]) for e in entries] == [("exception_not_in_agency_policy", "L4")] * 2
    with ctx.sessions() as session:
        assert session.scalars(select(ExceptionGrant)).first() is None


@pytest.mark.rule("L1", "SEC6")
def test_a_basis_not_enabled_is_refused_even_when_published(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    publish(ctx, "ngo", [{"basis": "L13", "scenarios": ["public_interest"]}])
    refused = request_grant(client, auth, _subject(client, auth), expect=422, basis="L13",
                            scenario="public_interest")
    assert refused["reason"] == "exception_basis_not_enabled"


@pytest.mark.rule("SEC6", "L3")
def test_no_exception_is_used_without_its_second_approver(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext, people: People
) -> None:
    subject_id = _subject(client, auth)
    grant = request_grant(client, auth, subject_id)
    assert grant["status"] == "requested"
    denied = plan_with(client, auth, subject_id, grant["id"], ["health.suicide_risk"]).json()
    assert denied["allow"] is False
    assert "exception_second_approver_missing" in denied["reasons"]
    # The requester is a caseworker: not entitled to approve, let alone their own request.
    self_approval = approve(client, auth, grant["id"], "staff-1", expect=403)
    assert self_approval["reason"] == "role_not_entitled"
    # Another agency cannot approve (or even see) it.
    assert approve(client, auth, grant["id"], "staff-9", expect=404, sender="shelter")["reason"] == \
        "unknown_exception_grant"
    approved = approve(client, auth, grant["id"], "staff-2")
    assert (approved["status"], approved["approved_by"]) == ("approved", people.id("ngo", "staff-2"))
    assert approved["requested_by"] == people.id("ngo", "staff-1")
    assert approve(client, auth, grant["id"], "staff-3", expect=409)["reason"] == "exception_not_pending"


@pytest.mark.rule("S21", "L4", "SEC6")
def test_s21_suicide_risk_minimal_notification_to_the_doctor_used_once_audited_and_told(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext, people: People
) -> None:
    subject_id = _subject(client, auth)
    grant = request_grant(client, auth, subject_id)
    approve(client, auth, grant["id"])
    response = plan_with(client, auth, subject_id, grant["id"],
                         ["health.suicide_risk", "health.allergies", "subject.preferred_name"])
    the_plan = response.json()
    assert the_plan["allow"] is True, the_plan
    assert the_plan["permitted_fields"] == ["health.suicide_risk"]
    assert the_plan["basis"]["exception"] == "L4"
    assert the_plan["obligations"]["notify_person"] is True
    assert the_plan["obligations"]["second_approver_required"] is True
    # Without the grant the same submit is refused; with it, accepted and the grant is used up.
    body = sealed(client, auth, published, the_plan, VALUES)
    missing = submit(client, auth, body, key="k-0")
    assert missing.status_code == 422 and missing.json()["reason"] == "exception_grant_required"
    accepted = submit(client, auth, {**body, "exception_grant_id": grant["id"]}, key="k-1")
    assert accepted.status_code == 201, accepted.text
    uses = _entries(ctx, "exception:grant:use")
    assert len(uses) == 1
    assert uses[0].basis["exception"] == "L4"
    assert uses[0].details["grant_id"] == grant["id"]
    assert uses[0].details["approved_by"] == people.id("ngo", "staff-2")
    submits = [e for e in _entries(ctx, "exchange:envelope:submit") if e.decision == "allow"]
    assert submits[-1].basis["exception"] == "L4"
    with ctx.sessions() as session:
        stored = session.get(ExceptionGrant, grant["id"])
        assert stored is not None and stored.status == "used"
        assert stored.used_envelope_id == accepted.json()["envelope_id"]
        told = [n for n in notices_for(session, subject_id, at=ctx.clock.now()) if n.kind == "exception_used"]
        assert [(n.details["basis"], n.details["recipient_agency_id"]) for n in told] == [("L4", "clinic")]
        advocate = list(session.scalars(select(AgencyNotice).where(AgencyNotice.kind == "exception_used")))
        assert [(a.agency_id, a.details["basis"]) for a in advocate] == [("ngo", "L4")]
    listed = client.get("/v1/exceptions/notices", headers=auth("ngo")).json()
    assert [n["kind"] for n in listed] == ["exception_used"]
    # The DPO console's search and its exceptions dashboard find the request, approval and use by basis.
    with ctx.sessions() as session:
        by_basis = find_entries(session, EntryFilter(basis="L4", action="exception:"), newest_first=False)
        assert [e.action for e in by_basis] == ["exception:grant:request", "exception:grant:approve",
                                                "exception:grant:use"]
        dashboard = find_entries(session, EntryFilter(), extra=DASHBOARDS["exceptions"].condition(None))
        assert {e.action for e in dashboard} >= {"exception:grant:use", "exchange:envelope:submit"}


@pytest.mark.rule("SEC6", "L4")
def test_a_grant_is_single_use(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    subject_id = _subject(client, auth)
    grant = request_grant(client, auth, subject_id)
    approve(client, auth, grant["id"])
    first = plan_with(client, auth, subject_id, grant["id"], ["health.suicide_risk"]).json()
    second = plan_with(client, auth, subject_id, grant["id"], ["health.suicide_risk"]).json()
    assert first["allow"] and second["allow"]
    assert _send(client, auth, published, first, grant["id"], key="k-1").status_code == 201
    again = _send(client, auth, published, second, grant["id"], key="k-2")
    assert again.status_code == 409 and again.json()["reason"] == "exception_grant_used"
    replan = plan_with(client, auth, subject_id, grant["id"], ["health.suicide_risk"])
    assert replan.status_code == 409 and replan.json()["reason"] == "exception_grant_used"
    refused = _entries(ctx, "exception:grant:refuse")
    assert [(e.reason, e.details["grant_id"]) for e in refused] == [("exception_grant_used", grant["id"])]
    assert len(_entries(ctx, "exception:grant:use")) == 1


@pytest.mark.rule("SEC6", "L4")
def test_a_grant_expires_in_minutes(
    client: TestClient, auth: Auth, published: Registry, clock: FixedClock
) -> None:
    subject_id = _subject(client, auth)
    grant = request_grant(client, auth, subject_id, ttl_s=300)
    approve(client, auth, grant["id"])
    clock.advance(timedelta(seconds=301))
    denied = plan_with(client, auth, subject_id, grant["id"], ["health.suicide_risk"]).json()
    assert denied["allow"] is False and "exception_expired" in denied["reasons"]
    late = request_grant(client, auth, subject_id)
    clock.advance(timedelta(hours=1))
    assert approve(client, auth, late["id"], expect=409)["reason"] == "exception_expired"
    nobody = client.post("/v1/exceptions", headers=auth("ngo", person="staff-1"), json={
        "subject_id": subject_id, "basis": "L4", "scenario": "suicide_risk_primary_doctor",
        "justification_code": "x1", "justification_ref": "r1", "recipient_agency_id": "no-such-agency",
        "purpose": "healthcare", "classes": ["D8"]})
    assert nobody.status_code == 422 and nobody.json()["reason"] == "unknown_recipient"
    too_long = client.post("/v1/exceptions", headers=auth("ngo", person="staff-1"), json={
        "subject_id": subject_id, "basis": "L4", "scenario": "suicide_risk_primary_doctor",
        "justification_code": "x1", "justification_ref": "r1", "recipient_agency_id": "clinic",
        "purpose": "healthcare", "classes": ["D8"], "ttl_s": 86400})
    assert too_long.status_code == 422


@pytest.mark.rule("L3", "SEC6")
def test_l3_covers_only_allergies_and_medication_to_the_named_emergency_department(
    client: TestClient, auth: Auth, published: Registry
) -> None:
    subject_id = _subject(client, auth)
    grant = request_grant(client, auth, subject_id, basis="L3", scenario="unconscious_emergency",
                          classes=["D6"], fields=[])
    approve(client, auth, grant["id"])
    the_plan = plan_with(client, auth, subject_id, grant["id"],
                         ["health.allergies", "health.medication", "health.suicide_risk"]).json()
    assert the_plan["permitted_fields"] == ["health.allergies", "health.medication"]
    denied = {d["field"]: d["reason"] for d in the_plan["denied_fields"]}
    assert denied["health.suicide_risk"] == "exception_scope"
    # The grant names one recipient: it opens nothing for anyone else.
    other = plan_with(client, auth, subject_id, grant["id"], ["health.allergies"], recipient="shelter")
    assert other.status_code == 422 and other.json()["reason"] == "exception_recipient_mismatch"
    # Nor for another person.
    stranger = _subject(client, auth)
    wrong = plan_with(client, auth, stranger, grant["id"], ["health.allergies"])
    assert wrong.status_code == 422 and wrong.json()["reason"] == "exception_grant_subject_mismatch"


@pytest.mark.rule("S24", "L8", "CR23")
def test_s24_therapy_record_only_with_a_court_order_reference_minimal_and_person_told(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    subject_id = _subject(client, auth)
    without = plan_with(client, auth, subject_id, None, ["therapy.record"], recipient="court",
                        purpose="criminal_justice").json()
    assert without["allow"] is False
    grant = request_grant(client, auth, subject_id, basis="L8", scenario="court_order_therapy_record",
                          justification_code="court_order", justification_ref="court:NL-2026-123",
                          recipient_agency_id="court", purpose="criminal_justice", classes=["D9"],
                          fields=["therapy.record"])
    approve(client, auth, grant["id"])
    the_plan = plan_with(client, auth, subject_id, grant["id"], ["therapy.record", "health.suicide_risk"],
                         recipient="court", purpose="criminal_justice").json()
    assert the_plan["allow"] is True, the_plan
    assert the_plan["permitted_fields"] == ["therapy.record"]
    assert the_plan["basis"]["exception"] == "L8"
    assert _send(client, auth, published, the_plan, grant["id"]).status_code == 201
    with ctx.sessions() as session:
        told = [n for n in notices_for(session, subject_id, at=ctx.clock.now()) if n.kind == "exception_used"]
        assert [n.details["basis"] for n in told] == ["L8"]
    assert [e.basis["exception"] for e in _entries(ctx, "exception:grant:use")] == ["L8"]


@pytest.mark.rule("L4", "CR23")
def test_a_recorded_deferral_rule_delays_the_persons_notice_not_the_advocates(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext, clock: FixedClock, people: People
) -> None:
    subject_id = _subject(client, auth)
    until = clock.now() + timedelta(days=2)
    published_max = client.put("/v1/staff/deferral-maximum", headers=people.headers("ngo", "admin", "administrator"),
                               json={"deferral_max_days": 30})
    assert published_max.status_code == 200, published_max.text
    grant = request_grant(client, auth, subject_id, defer_until=until.isoformat(),
                          defer_reason="covert_investigation")
    approve(client, auth, grant["id"])
    the_plan = plan_with(client, auth, subject_id, grant["id"], ["health.suicide_risk"]).json()
    assert _send(client, auth, published, the_plan, grant["id"]).status_code == 201
    with ctx.sessions() as session:
        assert [n for n in notices_for(session, subject_id, at=clock.now()) if n.kind == "exception_used"] == []
        later = notices_for(session, subject_id, at=until)
        assert [n.defer_reason for n in later if n.kind == "exception_used"] == ["covert_investigation"]
        assert session.scalars(select(AgencyNotice)).first() is not None
        assert session.scalars(select(PersonNotice).where(PersonNotice.kind == "exception_used")).first()
    use = _entries(ctx, "exception:grant:use")[0]
    assert use.details["defer_reason"] == "covert_investigation"


@pytest.mark.rule("L1")
def test_l1_is_granted_only_for_a_person_told_the_agencys_exception_policy_at_the_outset(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext, clock: FixedClock
) -> None:
    publish(ctx, "ngo", [{"basis": "L1", "scenarios": ["imminent_harm"]}])
    subject_id = _subject(client, auth)
    l1 = {"basis": "L1", "scenario": "imminent_harm", "recipient_agency_id": "clinic", "purpose": "healthcare",
          "classes": ["D1", "D12"], "fields": ["risk.level", "subject.preferred_name"]}
    refused = request_grant(client, auth, subject_id, expect=422, **l1)
    assert refused["reason"] == "exception_policy_not_explained"
    future = _explain(client, auth, subject_id, "2026-12-01T10:00:00Z")
    assert future.status_code == 422 and future.json()["reason"] == "explanation_in_future"
    backdated = _explain(client, auth, subject_id, "2026-11-01T10:00:00Z")
    assert backdated.status_code == 422 and backdated.json()["reason"] == "explanation_recorded_late"
    later = _subject(client, auth)
    clock.set(clock.now() + timedelta(days=10))
    too_late = _explain(client, auth, later, "2026-12-03T10:00:00Z")
    assert too_late.status_code == 422 and too_late.json()["reason"] == "explanation_not_at_outset"
    clock.set(clock.now() - timedelta(days=10))
    told = _explain(client, auth, subject_id, "2026-11-20T10:00:00Z")
    assert told.status_code == 201, told.text
    grant = request_grant(client, auth, subject_id, **l1)
    approve(client, auth, grant["id"])
    allowed = plan_with(client, auth, subject_id, grant["id"], ["risk.level", "subject.preferred_name",
                                                                "health.allergies"]).json()
    assert allowed["allow"] is True, allowed
    assert allowed["permitted_fields"] == ["risk.level", "subject.preferred_name"]
    assert allowed["basis"]["exception"] == "L1"
    # The refusal before the explanation was audited.
    assert [e.reason for e in _entries(ctx, "exception:grant:refuse")] == ["exception_policy_not_explained"]
