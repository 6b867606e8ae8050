"""Children in the gateway: CH3, CH7, CH2, CH20/S29, CH23/S39, L5c/S19, L6/S18."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.exceptions.models import AgencyNotice
from gateway.registry.models import AgencyKind
from tests.conftest import Registry, register
from tests.consent.conftest import consent_body
from tests.exceptions.conftest import Auth, approve, plan_with, publish, request_grant
from tests.exchange.conftest import FIELDS, open_case, plan, sealed, submit

SHELTER_FIELDS = ["subject.preferred_name", "subject.language"]


def _change(client: TestClient, auth: Auth, subject_id: str, reason: str = "correction", **changes: Any) -> None:
    response = client.post(f"/v1/subjects/{subject_id}/attributes", headers=auth("ngo"),
                           json={"changes": changes, "reason": reason})
    assert response.status_code == 200, response.text


def _plan(client: TestClient, auth: Auth, subject_id: str, fields: list[str] | None = None) -> dict[str, Any]:
    response = plan_with(client, auth, subject_id, None, fields or SHELTER_FIELDS, recipient="shelter",
                         purpose="shelter")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _notices(ctx: GatewayContext, kind: str) -> list[AgencyNotice]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AgencyNotice).where(AgencyNotice.kind == kind)))


def _last_plan_entry(ctx: GatewayContext) -> AuditEntry:
    with ctx.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange:plan:create")
                                .order_by(AuditEntry.seq.desc())).first()
    assert entry is not None
    return entry


@pytest.mark.rule("CH3", "CH2", "CH1")
def test_a_childs_case_needs_a_guardian_advocate_and_each_decision_records_best_interests(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    case = open_case(client, auth, age_band="12-15")
    denied = _plan(client, auth, case.subject_id)
    assert denied["allow"] is False and "guardian_advocate_required" in denied["reasons"]
    _change(client, auth, case.subject_id, reason="guardian_change", guardian_advocate_id="ga-7")
    recorded = client.post(f"/v1/children/{case.subject_id}/best-interests", headers=auth("ngo", person="staff-1"),
                           json={"reference": "bid-2026-11", "decision_code": "shelter_in_best_interests"})
    assert recorded.status_code == 201, recorded.text
    allowed = _plan(client, auth, case.subject_id)
    assert allowed["allow"] is True, allowed
    entry = _last_plan_entry(ctx)
    assert entry.details["child"] is True
    assert entry.details["best_interests_ref"] == "bid-2026-11"


@pytest.mark.rule("CH7")
def test_a_suspected_guardian_loses_consent_power_and_the_guardian_advocate_is_told(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    case = open_case(client, auth, age_band="12-15", guardian_advocate_id="ga-7", parental_guardian_id="pg-1")
    subject_id = case.subject_id
    granted = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        subject_id, purpose="shelter", recipients=[{"agency_id": "shelter"}], data_classes=["D1", "D5", "D12"],
        guardian_consent={"guardian_id": "pg-1", "given_at": "2026-11-24T09:00:00Z"}))
    assert granted.status_code == 201, granted.text
    # Withdraw the case's first consent (no guardian) so only the guardian's remains.
    withdrawn = client.post(f"/v1/consents/{case.consent_id}/withdraw", headers=auth("ngo"),
                            json={"channel": "in_person"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert _plan(client, auth, subject_id)["allow"] is True
    _change(client, auth, subject_id, reason="safeguarding_concern", guardian_suspected=True)
    denied = _plan(client, auth, subject_id)
    assert denied["allow"] is False and "guardian_suspected_consent_void" in denied["reasons"]
    # Told by the change itself; a review on demand finds nothing left to tell.
    told = _notices(ctx, "guardian_suspected")
    assert len(told) == 1
    again = client.post(f"/v1/children/{subject_id}/review", headers=auth("ngo"))
    assert again.status_code == 200 and again.json()["notices"] == []
    assert [(n.agency_id, n.details["guardian_advocate_id"], n.details["guardian_id"]) for n in told] == [
        ("ngo", "ga-7", "pg-1")]


@pytest.mark.rule("CH20", "S29", "CH1")
def test_s29_age_corrected_to_child_reevaluates_and_tells_earlier_recipients(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    case = open_case(client, auth)
    the_plan = plan(client, auth, case)
    sent = submit(client, auth, sealed(client, auth, published, the_plan))
    assert sent.status_code == 201, sent.text
    _change(client, auth, case.subject_id, reason="age_assessment", age_band="16-17")
    # Re-evaluated at once: the same referral is now decided under the child rules.
    replan = _plan(client, auth, case.subject_id, sorted(FIELDS))
    assert replan["allow"] is False and "guardian_advocate_required" in replan["reasons"]
    # The change itself told the earlier recipient and gave the owner a guardian-advocate task.
    told = [(n.agency_id, n.kind) for n in _notices(ctx, "age_corrected_to_child") + _notices(
        ctx, "guardian_advocate_task")]
    assert sorted(told) == [("ngo", "guardian_advocate_task"), ("shelter", "age_corrected_to_child")]
    review = client.post(f"/v1/children/{case.subject_id}/review", headers=auth("ngo")).json()
    assert review["child"] is True and review["notices"] == []
    shelter_sees = client.get("/v1/exceptions/notices", headers=auth("shelter")).json()
    assert [n["kind"] for n in shelter_sees] == ["age_corrected_to_child"]


@pytest.mark.rule("CH23", "S39")
def test_s39_an_adults_consent_does_not_cover_a_dependant_child(
    client: TestClient, auth: Auth, published: Registry
) -> None:
    adult = open_case(client, auth)
    assert _plan(client, auth, adult.subject_id)["allow"] is True
    child = client.post("/v1/subjects", headers=auth("ngo"), json={
        "attributes": {"age_band": "0-11", "guardian_advocate_id": "ga-7",
                                             "parental_guardian_id": "pg-adult"}})
    assert child.status_code == 201, child.text
    denied = _plan(client, auth, child.json()["id"])
    assert denied["allow"] is False and "no_consent" in denied["reasons"]


@pytest.mark.rule("L5c", "S19", "CH3")
def test_s19_child_trafficking_indicators_go_to_police_as_an_indicator_record_logged_as_l5c(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    publish(ctx, "ngo", [{"basis": "L5c", "scenarios": ["child_trafficking_indicators"]}])
    case = open_case(client, auth, age_band="12-15")
    grant = request_grant(client, auth, case.subject_id, basis="L5c", scenario="child_trafficking_indicators",
                          recipient_agency_id="police", purpose="protection_support", classes=["D1", "D26"],
                          fields=[])
    approve(client, auth, grant["id"])
    wanted = ["routing.iom_indicator", "needs.categories", "history.trafficking_account", "subject.language"]
    the_plan = plan_with(client, auth, case.subject_id, grant["id"], wanted, recipient="police",
                         purpose="protection_support").json()
    assert the_plan["allow"] is True, the_plan
    assert set(the_plan["permitted_fields"]) == {"routing.iom_indicator", "needs.categories"}
    values = {"routing.iom_indicator": "yes", "needs.categories": "shelter"}
    body = sealed(client, auth, published, the_plan, values)
    sent = submit(client, auth, {**body, "exception_grant_id": grant["id"]})
    assert sent.status_code == 201, sent.text
    with ctx.sessions() as session:
        use = session.scalars(select(AuditEntry).where(AuditEntry.action == "exception:grant:use")).one()
    assert use.basis["exception"] == "L5c"
    assert use.recipient_agency_id == "police"


@pytest.mark.rule("CH11", "L6", "S18")
def test_s18_a_childs_identity_reaches_media_only_under_a_four_eyes_family_tracing_grant(
    client: TestClient, auth: Auth, published: Registry
) -> None:
    case = open_case(client, auth, age_band="12-15", guardian_advocate_id="ga-7")
    denied = plan_with(client, auth, case.subject_id, None, ["subject.first_name"], recipient="media",
                       purpose="data_sharing").json()
    assert denied["allow"] is False
    grant = request_grant(client, auth, case.subject_id, basis="L6", scenario="family_tracing",
                          recipient_agency_id="media", purpose="data_sharing", classes=["D1"],
                          fields=["subject.first_name"])
    unapproved = plan_with(client, auth, case.subject_id, grant["id"], ["subject.first_name"], recipient="media",
                           purpose="data_sharing").json()
    assert unapproved["allow"] is False and "exception_second_approver_missing" in unapproved["reasons"]
    approve(client, auth, grant["id"])
    the_plan = plan_with(client, auth, case.subject_id, grant["id"], ["subject.first_name", "subject.birthdate"],
                         recipient="media", purpose="data_sharing").json()
    assert the_plan["allow"] is True, the_plan
    assert the_plan["permitted_fields"] == ["subject.first_name"]
    assert the_plan["basis"]["exception"] == "L6"


@pytest.mark.rule("CH4")
def test_a_guardian_advocates_caseload_is_at_most_20_children(
    client: TestClient, auth: Auth, published: Registry
) -> None:
    ids = []
    for _ in range(20):
        created = client.post("/v1/subjects", headers=auth("ngo"), json={
            "attributes": {"age_band": "12-15", "guardian_advocate_id": "ga-full"}})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    refused = client.post("/v1/subjects", headers=auth("ngo"), json={
        "attributes": {"age_band": "12-15", "guardian_advocate_id": "ga-full"}})
    assert refused.status_code == 422 and "guardian_advocate_caseload_full" in refused.text
    other = open_case(client, auth, age_band="12-15", guardian_advocate_id="ga-other")
    moved = client.post(f"/v1/subjects/{other.subject_id}/attributes", headers=auth("ngo"), json={
        "changes": {"guardian_advocate_id": "ga-full"}, "reason": "guardian_change"})
    assert moved.status_code == 422 and "guardian_advocate_caseload_full" in moved.text
    # A child handed over to another advocate frees a place; re-saving an allocated child is not a new one.
    _change(client, auth, ids[0], reason="guardian_change", guardian_advocate_id="ga-other")
    _change(client, auth, other.subject_id, reason="guardian_change", guardian_advocate_id="ga-full")
    unchanged = client.post(f"/v1/subjects/{ids[1]}/attributes", headers=auth("ngo"), json={
        "changes": {"guardian_advocate_id": "ga-full", "age_band": "16-17"}, "reason": "correction"})
    assert unchanged.status_code == 200, unchanged.text


@pytest.mark.rule("CH4")
def test_only_the_guardian_advocate_service_a_child_is_allocated_to_receives_their_data(
    client: TestClient, auth: Auth, published: Registry, ctx: GatewayContext
) -> None:
    for agency_id in ("ga-north", "ga-south"):
        published.keys[agency_id], published.key_ids[agency_id] = register(
            ctx, agency_id, AgencyKind.GUARDIAN_ADVOCATE_SERVICE)
    case = open_case(client, auth, purpose="protection_support", recipient="ga-north", age_band="12-15",
                     guardian_advocate_id="ga-7", guardian_advocate_agency_id="ga-north")
    granted = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        case.subject_id, purpose="protection_support", recipients=[{"agency_id": "ga-south"}],
        data_classes=["D1", "D5", "D12"]))
    assert granted.status_code == 201, granted.text

    def plan_to(recipient: str) -> dict[str, Any]:
        response = plan_with(client, auth, case.subject_id, None, SHELTER_FIELDS, recipient=recipient,
                             purpose="protection_support")
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert plan_to("ga-north")["allow"] is True
    other = plan_to("ga-south")
    assert other["allow"] is False and "guardian_advocate_service_not_allocated" in other["reasons"]
    # Moved to the other service: the first one gets nothing more, whatever its consent says.
    _change(client, auth, case.subject_id, reason="guardian_change", guardian_advocate_agency_id="ga-south")
    assert plan_to("ga-south")["allow"] is True
    assert "guardian_advocate_service_not_allocated" in plan_to("ga-north")["reasons"]
