"""Subjects through the API: pseudonyms, owner-only access, attribute history, mandated-reporter notices."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent import Subject, SubjectAttributeChange
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.registry.models import AgencyKind
from tests.conftest import Registry, register
from tests.consent.conftest import Auth, subject_body
from tests.support.pseudonyms import subject_of
from tests.support.staff import People


def _audit(ctx: GatewayContext, action: str) -> list[AuditEntry]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def test_subject_gets_a_random_pseudonym_owned_by_the_creating_agency(
    client: TestClient, auth: Auth, registry: Registry
) -> None:
    first = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body())
    second = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body())
    assert first.status_code == second.status_code == 201
    a, b = first.json(), second.json()
    assert a["id"].startswith("subj_") and b["id"].startswith("subj_")
    assert a["id"] != b["id"] and len(a["id"]) >= 20
    assert a["owner_agency_id"] == "ngo"
    # Only the owner sees it; for anyone else it does not exist.
    assert client.get(f"/v1/subjects/{a['id']}", headers=auth("ngo")).status_code == 200
    other = client.get(f"/v1/subjects/{a['id']}", headers=auth("shelter"))
    absent = client.get("/v1/subjects/subj_absent", headers=auth("shelter"))
    assert other.status_code == absent.status_code == 404
    assert other.json()["detail"] == absent.json()["detail"]


@pytest.mark.rule("CR4")
@pytest.mark.parametrize("field", ["name", "first_name", "address", "narrative", "notes", "phone"])
def test_cr4_no_name_address_or_narrative_field_exists(client: TestClient, auth: Auth, registry: Registry,
                                                       field: str) -> None:
    """CR4: the gateway stores no personal data beyond the attributes policy needs; such fields are refused."""
    body = subject_body()
    body["attributes"][field] = "Alice Example, 1 Secret Street"
    response = client.post("/v1/subjects", headers=auth("ngo"), json=body)
    assert response.status_code == 422
    assert response.json()["reason"] == "unknown_field"
    assert "Alice" not in response.text  # validation errors never echo values


@pytest.mark.rule("CH20")
def test_ch20_every_attribute_change_is_logged_with_who_when_why_and_audited_without_values(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, people: People
) -> None:
    """CH20: a wrong age is corrected through a recorded revision; the audit log never holds the values."""
    created = client.post("/v1/subjects", headers=auth("ngo"),
                          json=subject_body(age_band=None, date_of_birth="2001-05-17",
                                            parental_guardian_id="guard-007")).json()
    sid = created["id"]
    assert created["is_child"] is False
    change = client.post(f"/v1/subjects/{sid}/attributes", headers=auth("ngo"), json={
        "changes": {"date_of_birth": "2010-05-17", "declined_nrm": True},
        "reason": "correction",
    })
    assert change.status_code == 200, change.text
    assert {c["attribute"] for c in change.json()} == {"adult_on", "declined_nrm"}
    assert client.get(f"/v1/subjects/{sid}", headers=auth("ngo")).json()["is_child"] is True

    history = client.get(f"/v1/subjects/{sid}/attribute-history", headers=auth("ngo")).json()
    # Issue 17: the date of birth is kept only as the day the person comes of age, in the log too.
    dob_changes = [h for h in history if h["attribute"] == "adult_on"]
    assert [(h["old_value"], h["new_value"], h["reason"]) for h in dob_changes] == [
        (None, "2019-06-01", "initial_record"), ("2019-06-01", "2028-06-01", "correction")]
    assert "date_of_birth" not in {h["attribute"] for h in history}
    assert "2001-05-17" not in json.dumps(history) and "2010-05-17" not in json.dumps(history)
    assert dob_changes[1]["changed_by"] == people.default_id("ngo")  # the signed-in person, from the token
    assert dob_changes[1]["changed_by_agency_id"] == "ngo"

    entries = _audit(ctx, "subject:attribute:change")
    assert len(entries) == 1
    assert subject_of(ctx, entries[0].subject_id) == sid and entries[0].reason == "correction"
    assert sorted(entries[0].details["attributes"]) == ["adult_on", "declined_nrm"]
    everything = json.dumps([e.details for e in _audit(ctx, "subject:record:create") + entries])
    for value in ("2001-05-17", "2010-05-17", "guard-007"):
        assert value not in everything


def test_unchanged_values_make_no_change_rows(client: TestClient, auth: Auth, registry: Registry,
                                             ctx: GatewayContext) -> None:
    sid = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    response = client.post(f"/v1/subjects/{sid}/attributes", headers=auth("ngo"), json={
        "changes": {"age_band": "25-34"}, "reason": "new_information"})
    assert response.status_code == 200
    assert response.json() == []
    assert _audit(ctx, "subject:attribute:change") == []


def test_attribute_values_are_checked(client: TestClient, auth: Auth, registry: Registry) -> None:
    sid = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    unknown_agency = client.post(f"/v1/subjects/{sid}/attributes", headers=auth("ngo"), json={
        "changes": {"placement_agency_id": "no-such-shelter"}, "reason": "placement_change"})
    assert unknown_agency.status_code == 422
    assert unknown_agency.json()["reason"] == "unknown_agency"
    bad_code = client.post(f"/v1/subjects/{sid}/attributes", headers=auth("ngo"), json={
        "changes": {"cj_role": "accomplice"}, "reason": "case_update"})
    assert bad_code.status_code == 422
    null_flag = client.post(f"/v1/subjects/{sid}/attributes", headers=auth("ngo"), json={
        "changes": {"declined_nrm": None}, "reason": "case_update"})
    assert null_flag.status_code == 422
    empty = client.post(f"/v1/subjects/{sid}/attributes", headers=auth("ngo"), json={
        "changes": {}, "reason": "case_update"})
    assert empty.status_code == 422
    assert empty.json()["reason"] == "no_changes"


@pytest.mark.rule("CR8", "S09")
def test_s09_cr8_mandated_reporter_cannot_create_a_subject_without_the_notice(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    """S09/CR8: at a mandated-reporter agency, intake without a recorded notice is blocked and audited."""
    registry.keys["mr-clinic"], registry.key_ids["mr-clinic"] = register(ctx, "mr-clinic", AgencyKind.HEALTHCARE,
                                                                         mandated_reporter=True)
    headers = auth("mr-clinic")
    refused = client.post("/v1/subjects", headers=headers, json=subject_body())
    assert refused.status_code == 422
    assert refused.json()["reason"] == "mandated_reporter_notice_missing"
    assert refused.json()["failures"] == [
        {"reason": "mandated_reporter_notice_missing", "rule": "CR8", "field": "mandated_reporter_notice"}]
    with ctx.sessions() as session:
        assert session.scalars(select(Subject)).all() == []
    (entry,) = _audit(ctx, "subject:record:refuse")
    assert (entry.decision, entry.reason) == ("deny", "mandated_reporter_notice_missing")

    body = subject_body()
    body["mandated_reporter_notice"] = {"given_at": "2026-11-24T09:55:00Z",
                                        "notice_version": "mr-nl-v2", "language": "en"}
    created = client.post("/v1/subjects", headers=headers, json=body)
    assert created.status_code == 201, created.text


def test_mandated_notice_endpoint_records_a_notice(client: TestClient, auth: Auth, registry: Registry,
                                                   ctx: GatewayContext) -> None:
    sid = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    response = client.post(f"/v1/subjects/{sid}/mandated-reporter-notices", headers=auth("ngo"), json={
        "given_at": "2026-11-24T09:00:00Z", "notice_version": "mr-v1", "language": "fr"})
    assert response.status_code == 201
    assert response.json()["agency_id"] == "ngo"
    future = client.post(f"/v1/subjects/{sid}/mandated-reporter-notices", headers=auth("ngo"), json={
        "given_at": "2026-11-25T09:00:00Z", "notice_version": "mr-v1", "language": "fr"})
    assert future.status_code == 422
    assert future.json()["reason"] == "notice_in_future"
    assert len(_audit(ctx, "subject:mandated_reporter_notice:record")) == 1


def test_subject_routes_need_the_subjects_scope(client: TestClient, token_for: Callable[..., str],
                                                registry: Registry) -> None:
    token = token_for("ngo", "registry:read")
    response = client.post("/v1/subjects", headers={"Authorization": f"Bearer {token}"}, json=subject_body())
    assert response.status_code == 403
    assert response.json()["reason"] == "insufficient_scope"


def test_attribute_changes_are_rows_never_rewritten(client: TestClient, auth: Auth, registry: Registry,
                                                    ctx: GatewayContext) -> None:
    sid = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    for band in ("16-17", "18-24", "16-17"):
        client.post(f"/v1/subjects/{sid}/attributes", headers=auth("ngo"),
                    json={"changes": {"age_band": band}, "reason": "age_assessment"})
    with ctx.sessions() as session:
        rows = session.scalars(select(SubjectAttributeChange).where(SubjectAttributeChange.attribute == "age_band")
                               .order_by(SubjectAttributeChange.changed_at, SubjectAttributeChange.id)).all()
    assert len(rows) == 4  # the initial value plus three changes
