"""Interviews and assessments of a child: S17/CH10 (never without the allocated guardian advocate,
briefed beforehand), CH8 (a parent attends only when assessed safe), CH24 (child-specialist interpreters)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from consent.subjects import Subject
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.exceptions.interviews import Interpreter, InterviewKind, InterviewRequest, refusals
from gateway.exceptions.models import ChildInterview
from tests.conftest import T0, Registry
from tests.consent.conftest import subject_body
from tests.exceptions.conftest import Auth

WHEN = (T0 + timedelta(days=2)).isoformat().replace("+00:00", "Z")


def _child(client: TestClient, auth: Auth, **attributes: Any) -> str:
    response = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(age_band="12-15", **attributes))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _schedule(client: TestClient, auth: Auth, subject_id: str, **overrides: Any) -> Any:
    body: dict[str, Any] = {"kind": "investigative_interview", "scheduled_for": WHEN, "guardian_advocate_id": "ga-7",
                            "guardian_advocate_briefed": True}
    body.update(overrides)
    return client.post(f"/v1/children/{subject_id}/interviews", headers=auth("ngo", person="staff-1"), json=body)


def _stored(ctx: GatewayContext) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ChildInterview)) or 0)


@pytest.mark.rule("S17", "CH10")
def test_an_interview_without_the_guardian_advocate_is_rejected_and_nothing_is_scheduled(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    no_ga = _child(client, auth)
    refused = _schedule(client, auth, no_ga)
    assert refused.status_code == 422 and refused.json()["reason"] == "no_guardian_advocate_allocated"
    allocated = _child(client, auth, guardian_advocate_id="ga-7")
    for overrides, reason in (({"guardian_advocate_id": None}, "guardian_advocate_not_attending"),
                              ({"guardian_advocate_id": "ga-9"}, "guardian_advocate_not_allocated"),
                              ({"guardian_advocate_briefed": False}, "guardian_advocate_not_briefed")):
        response = _schedule(client, auth, allocated, **overrides)
        assert response.status_code == 422, response.text
        assert response.json()["reason"] == reason
    assert _stored(ctx) == 0
    with ctx.sessions() as session:
        denials = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "child:interview:refuse")))
    assert [e.reason for e in denials] == ["no_guardian_advocate_allocated", "guardian_advocate_not_attending",
                                           "guardian_advocate_not_allocated", "guardian_advocate_not_briefed"]
    assert all(e.decision == "deny" for e in denials)


@pytest.mark.rule("S17", "CH10")
def test_with_the_allocated_briefed_guardian_advocate_the_interview_is_scheduled_and_audited(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    subject_id = _child(client, auth, guardian_advocate_id="ga-7")
    response = _schedule(client, auth, subject_id, interpreter="child_specialist")
    assert response.status_code == 201, response.text
    listed = client.get(f"/v1/children/{subject_id}/interviews", headers=auth("ngo")).json()
    assert [(i["id"], i["guardian_advocate_id"], i["interpreter"]) for i in listed] == [
        (response.json()["id"], "ga-7", "child_specialist")]
    with ctx.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "child:interview:schedule")).one()
    assert entry.decision == "allow" and entry.details["interview_id"] == response.json()["id"]


@pytest.mark.rule("CH8", "CH7")
def test_a_parent_attends_only_when_assessed_safe_and_never_a_suspected_guardian(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    subject_id = _child(client, auth, guardian_advocate_id="ga-7", parental_guardian_id="pg-1")
    unassessed = _schedule(client, auth, subject_id, kind="substantive_assessment", parent_attending=True)
    assert unassessed.status_code == 422 and unassessed.json()["reason"] == "parent_attendance_not_assessed_safe"
    safe = _schedule(client, auth, subject_id, kind="substantive_assessment", parent_attending=True,
                     parent_safety_ref="safety-assessment-12")
    assert safe.status_code == 201, safe.text
    suspected = _child(client, auth, guardian_advocate_id="ga-7", parental_guardian_id="pg-2",
                       guardian_suspected=True)
    refused = _schedule(client, auth, suspected, parent_attending=True, parent_safety_ref="safety-assessment-13")
    assert refused.status_code == 422 and refused.json()["reason"] == "guardian_suspected"
    assert _stored(ctx) == 1


@pytest.mark.rule("CH24")
def test_an_interpreter_for_a_child_must_be_a_child_specialist(
    client: TestClient, auth: Auth, registry: Registry
) -> None:
    subject_id = _child(client, auth, guardian_advocate_id="ga-7")
    refused = _schedule(client, auth, subject_id, interpreter="general")
    assert refused.status_code == 422 and refused.json()["reason"] == "interpreter_not_child_specialist"


def test_adults_and_past_dates_and_bad_bodies_are_refused_with_reasons(
    client: TestClient, auth: Auth, registry: Registry
) -> None:
    adult = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(guardian_advocate_id="ga-7")).json()
    assert _schedule(client, auth, adult["id"]).json()["reason"] == "subject_not_child"
    child = _child(client, auth, guardian_advocate_id="ga-7")
    past = _schedule(client, auth, child, scheduled_for="2026-11-01T10:00:00Z")
    assert past.status_code == 422 and past.json()["reason"] == "interview_in_past"
    assert _schedule(client, auth, child, kind="interrogation").status_code == 422
    assert _schedule(client, auth, child, scheduled_for="2026-12-01T10:00:00").status_code == 422
    assert _schedule(client, auth, child + "-absent").status_code == 404


@pytest.mark.rule("CH10", "CH8", "CH24")
@given(ga=st.sampled_from([None, "ga-7", "ga-9"]), allocated=st.sampled_from([None, "ga-7"]),
       briefed=st.booleans(), parent=st.booleans(), safety=st.sampled_from([None, "ref-1"]),
       suspected=st.booleans(), interpreter=st.sampled_from(list(Interpreter)), age_disputed=st.booleans())
def test_an_interview_is_allowed_exactly_when_every_child_rule_holds(
    ga: str | None, allocated: str | None, briefed: bool, parent: bool, safety: str | None, suspected: bool,
    interpreter: Interpreter, age_disputed: bool
) -> None:
    now = datetime(2026, 11, 24, 10, tzinfo=UTC)
    subject = Subject(id="subj_x", owner_agency_id="ngo", created_at=now, created_by="s", adult_on=None,
                      age_band="25-34" if age_disputed else "12-15", age_disputed=age_disputed,
                      age_assessment_outcome=None, age_appeal_status="none", guardian_advocate_id=allocated,
                      guardian_suspected=suspected)
    request = InterviewRequest(kind=InterviewKind.INVESTIGATIVE_INTERVIEW, scheduled_for=now + timedelta(days=1),
                               guardian_advocate_id=ga, guardian_advocate_briefed=briefed, parent_attending=parent,
                               parent_safety_ref=safety, interpreter=interpreter, scheduled_by="s")
    expected = (allocated is not None and ga == allocated and briefed
                and (not parent or (not suspected and safety is not None)) and interpreter is not Interpreter.GENERAL)
    assert (refusals(subject, request, now) == []) is expected
