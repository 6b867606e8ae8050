"""Staleness (issue 22; digest 7.1 "re-checked at each assessment or review"): key details past their
review and deletions coming are announced to the holding agency and the DPO before anything goes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.clock import FixedClock
from consent.models import ConsentRecord
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.retention_purge import apply_schedule
from gateway.retention_schedule import load_schedule
from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body
from tests.console.conftest import make_staff
from tests.console.conftest import sign_in as console_sign_in

Auth = Callable[..., dict[str, str]]
POLICIES = Path(__file__).resolve().parents[2] / "policies"


def warnings(client: TestClient, auth: Auth, agency: str = "ngo") -> list[tuple[str, str, str]]:
    listed = client.get("/v1/retention/warnings", headers=auth(agency, system=True))
    assert listed.status_code == 200, listed.text
    return [(w["subject_id"], w["kind"], w["due_at"]) for w in listed.json()]


def test_the_policy_data_sets_the_review_and_warning_periods() -> None:
    schedule = load_schedule(POLICIES)
    assert (schedule.key_details_days, schedule.warn_days, schedule.ack_days) == (90, 14, 7)


def test_stale_key_details_warn_the_holding_agency_once_until_they_are_re_checked(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    client.post("/v1/consents", headers=auth("ngo"), json=consent_body(subject))
    clock.set(clock.now() + timedelta(days=89))
    apply_schedule(ctx)
    assert warnings(client, auth) == []
    clock.set(clock.now() + timedelta(days=2))
    assert apply_schedule(ctx)["warnings"] == 1
    assert [(s, k) for s, k, _ in warnings(client, auth)] == [(subject, "key_details_stale")]
    assert "warnings" not in apply_schedule(ctx)  # once per due date
    assert warnings(client, auth, "shelter") == []  # the holding agency's alone
    # The agency re-checks the key details with the person: the clock restarts.
    alone = client.post(f"/v1/retention/subjects/{subject}/key-details-review", headers=auth("ngo", system=True))
    assert alone.status_code == 403 and alone.json()["reason"] == "person_token_required"
    checked = client.post(f"/v1/retention/subjects/{subject}/key-details-review", headers=auth("ngo"))
    assert checked.status_code == 200, checked.text
    clock.set(clock.now() + timedelta(days=60))
    assert "warnings" not in apply_schedule(ctx)
    clock.set(clock.now() + timedelta(days=31))
    assert apply_schedule(ctx)["warnings"] == 1
    # The new warning is due 90 days after the re-check; the first one has gone on its own schedule (90 days).
    (latest,) = warnings(client, auth)
    assert latest[2] == (clock.now() - timedelta(days=1)).isoformat()
    with ctx.sessions() as session:
        warned = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "retention:record:warn")))
        reviewed = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "subject:key_details:verify")))
    assert len(warned) == 2 and len(reviewed) == 1
    assert all(e.subject_id and e.subject_id.startswith("ps1:") for e in warned + reviewed)


def test_a_deletion_is_announced_before_it_happens_and_shown_to_the_dpo(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    consent = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        subject, data_classes=["D1", "D5"])).json()["consent"]["id"]
    client.post(f"/v1/consents/{consent}/withdraw", headers=auth("ngo"), json={"channel": "phone"})
    ended = clock.now()
    clock.set(ended + timedelta(days=15))  # kept 30 days; warned 14 days before
    apply_schedule(ctx)
    assert [k for _, k, _ in warnings(client, auth)] == []
    clock.set(ended + timedelta(days=17))
    apply_schedule(ctx)
    (due,) = [d for _, k, d in warnings(client, auth) if k == "purge_due:consents_ended"]
    assert due == (ended + timedelta(days=30)).isoformat()
    with ctx.sessions() as session:
        assert session.get(ConsentRecord, consent) is not None  # warned, not yet deleted
    assert console_sign_in(client, make_staff(ctx, "dpo", "dpo")).status_code == 303
    page = client.get("/console/retention").text
    assert 'data-kind="purge_due:consents_ended"' in page and subject not in page
    clock.set(ended + timedelta(days=30))
    assert apply_schedule(ctx)["consents_ended"] == 1


def test_unchecked_key_details_warn_once_per_review_period_even_after_old_warnings_go(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    created = clock.now()
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    client.post("/v1/consents", headers=auth("ngo"), json=consent_body(subject))  # keeps the subject
    for day in (91, 120, 182, 183, 200):
        clock.set(created + timedelta(days=day))
        apply_schedule(ctx)
    with ctx.sessions() as session:
        warned = [e.details["due_at"] for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "retention:record:warn").order_by(AuditEntry.seq))]
    assert warned == [(created + timedelta(days=90)).isoformat(), (created + timedelta(days=180)).isoformat()]


def test_a_plan_relying_on_stale_key_details_warns_the_sender(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        subject, expires_at=(clock.now() + timedelta(days=365)).isoformat()))

    def planned(fields: list[str]) -> list[str]:
        answer = client.post("/v1/plans", headers=auth("ngo"), json={
            "subject_id": subject, "recipient_agency_id": "shelter", "purpose": "shelter", "fields": fields})
        assert answer.status_code == 200 and answer.json()["allow"], answer.text
        return list(answer.json()["warnings"])

    assert planned(["subject.preferred_name"]) == []
    clock.set(clock.now() + timedelta(days=91))
    assert planned(["subject.preferred_name"]) == ["key_details_stale"]  # D1: a key detail
    assert planned(["risk.level"]) == []  # no key detail relied on
    assert client.post(f"/v1/retention/subjects/{subject}/key-details-review", headers=auth("ngo")).status_code == 200
    assert planned(["subject.preferred_name"]) == []
