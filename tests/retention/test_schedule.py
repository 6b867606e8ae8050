"""The retention schedule: strictest profile wins, and a clock advanced through years of activity
never finds a record kept past its period, with the audit log verifying after every purge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import exists, select

from consent.clock import FixedClock
from consent.models import ConsentEnding, ConsentRecord
from consent.notices import PersonNotice
from consent.subjects import Subject
from crypto.keys import signing_public_key
from gateway.audit.models import AuditEntry
from gateway.audit.verify import verify_database
from gateway.context import GatewayContext
from gateway.exceptions.models import AgencyNotice, ExceptionGrant
from gateway.exchange.models import Envelope, IdempotencyRecord, Plan
from gateway.exchange.service import purge as exchange_purge
from gateway.linkage.models import LinkageQuery
from gateway.nrm.models import SlaAlert
from gateway.nrm.service import _candidates as nrm_candidates
from gateway.portal.models import PortalAlert
from gateway.registry.models import Agency
from gateway.requests.models import InformationRequest
from gateway.retention_models import RetentionNotice, RetentionWarning, SubjectOrder
from gateway.retention_purge import apply_schedule
from gateway.retention_schedule import load_schedule, parse_schedule
from gateway.sealing import SEALS
from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body
from tests.exchange.conftest import sealed, submit

Auth = Callable[..., dict[str, str]]
POLICIES = Path(__file__).resolve().parents[2] / "policies"


def test_the_strictest_applicable_profile_wins() -> None:
    schedule = load_schedule(POLICIES)
    assert schedule.keep_days("consents_ended", purpose="shelter", classes=["D1"]) == (30, "default")
    assert schedule.keep_days("consents_ended", purpose="criminal_justice", classes=["D1"]) == (
        14, "criminal_justice_purpose")
    assert schedule.keep_days("consents_ended", purpose="shelter", classes=["D1", "D12"]) == (
        14, "exploitation_and_risk_classes")
    assert schedule.keep_days("portal_requests", jurisdiction="de") == (180, "de_storage_limitation")
    assert schedule.keep_days("portal_requests", jurisdiction="NL") == (365, "default")
    stricter = parse_schedule({**_document(), "profiles": [
        {"name": "a", "when": {"purpose": ["shelter"]}, "keep_days": {"plans": 3}},
        {"name": "b", "when": {"purpose": ["shelter"], "jurisdiction": ["NL"]}, "keep_days": {"plans": 2}}]})
    assert stricter.keep_days("plans", purpose="shelter", jurisdiction="NL") == (2, "b")
    assert stricter.keep_days("plans", purpose="shelter", jurisdiction="BE") == (3, "a")


def _document() -> dict[str, Any]:
    import json
    return dict(json.loads((POLICIES / "data" / "retention.json").read_text()))


@pytest.mark.parametrize("broken", [
    {"default": {"plans": 1}},
    {"profiles": [{"when": {"colour": ["red"]}, "keep_days": {"plans": 1}}]},
    {"profiles": [{"when": {"purpose": ["x"]}, "keep_days": {"plans": -1}}]},
    {"profiles": [{"when": {"purpose": ["x"]}, "keep_days": {"forever": 1}}]},
])
def test_a_broken_schedule_is_refused(broken: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_schedule({**_document(), **broken})


def _kept_past_schedule(ctx: GatewayContext) -> list[str]:
    """Every record the schedule no longer allows to keep, found independently of the purge."""
    schedule = load_schedule(ctx.settings.policy_dir)
    now = ctx.clock.now()
    late: list[str] = []
    with ctx.sessions() as session:
        owners = {sid: j for sid, j in session.execute(
            select(Subject.id, Agency.jurisdiction).join(Agency, Agency.id == Subject.owner_agency_id))}

        def over(kind: str, since: Any, subject_id: str | None, **facts: Any) -> bool:
            days, _ = schedule.keep_days(kind, jurisdiction=owners.get(subject_id or ""), **facts)
            return bool(since + timedelta(days=days) <= now)

        for consent, ended in session.execute(select(ConsentRecord, ConsentEnding.at).join(
                ConsentEnding, ConsentEnding.consent_id == ConsentRecord.id)):
            if over("consents_ended", ended, consent.subject_id, classes=consent.data_classes,
                    purpose=consent.purpose):
                late.append(f"consent {consent.id}")
        late += [f"notice {n.id}" for n in session.scalars(select(PersonNotice))
                 if over("person_notices", n.created_at, n.subject_id)]
        unused = select(Plan).where(~exists().where(Envelope.plan_id == Plan.id))
        late += [f"plan {p.id}" for p in session.scalars(unused)
                 if over("plans", p.expires_at, p.subject_id, purpose=p.purpose)]
        late += [f"idempotency {r.key}" for r in session.scalars(select(IdempotencyRecord))
                 if over("idempotency_keys", r.expires_at, None)]
        late += _issue_22_kinds_kept_late(session, over, now)
        bare = select(Subject).where(~exists().where(ConsentRecord.subject_id == Subject.id),
                                     ~exists().where(Plan.subject_id == Subject.id),
                                     ~exists().where(PersonNotice.subject_id == Subject.id))
        late += [f"subject {s.id}" for s in session.scalars(bare)
                 if over("subject_attributes", s.created_at, s.id)]
    return late


def _issue_22_kinds_kept_late(session: Any, over: Callable[..., bool], now: Any) -> list[str]:
    """Agency notices, grants, linkage questions, alerts, envelope metadata, information requests, and the
    notices, orders and warnings of sealing and staleness: each past its period is a finding."""
    waiting = set(nrm_candidates(session, now))
    late = [f"agency notice {n.id}" for n in session.scalars(select(AgencyNotice))
            if over("agency_notices", n.created_at, n.subject_id)]
    late += [f"grant {g.id}" for g in session.scalars(select(ExceptionGrant))
             if over("exception_grants", g.expires_at, g.subject_id, classes=g.classes, purpose=g.purpose)]
    late += [f"linkage question {q.id}" for q in session.scalars(select(LinkageQuery))
             if over("linkage_rows", q.at, q.subject_id)]
    late += [f"portal alert {a.id}" for a in session.scalars(select(PortalAlert))
             if over("alerts", a.raised_at, a.subject_id)]
    late += [f"nrm alert {a.id}" for a in session.scalars(select(SlaAlert))
             if a.subject_id not in waiting and over("alerts", a.raised_at, a.subject_id)]
    late += [f"envelope {e.id}" for e in session.scalars(select(Envelope).where(Envelope.purged_at.is_not(None)))
             if over("envelope_metadata", e.purged_at, e.subject_id, purpose=e.purpose)]
    late += [f"information request {r.id}" for r in session.scalars(select(InformationRequest).where(
        InformationRequest.closed_at.is_not(None))) if over("information_requests", r.closed_at, r.subject_ref,
                                                             purpose=r.purpose)]
    late += [f"retention notice {n.id}" for n in session.scalars(select(RetentionNotice).where(
        RetentionNotice.acknowledged_at.is_not(None))) if over("retention_notices", n.acknowledged_at, None)]
    late += [f"order {o.id}" for o in session.scalars(select(SubjectOrder).where(SubjectOrder.kind.not_in(SEALS)))
             if (o.lifted_at or o.ends_at) is not None and over("subject_orders", o.lifted_at or o.ends_at,
                                                                o.subject_id)]
    late += [f"warning {w.id}" for w in session.scalars(select(RetentionWarning))
             if over("retention_warnings", w.created_at, w.subject_id)]
    return late


OPEN = st.tuples(st.just("open"), st.sampled_from(["shelter", "criminal_justice"]),
                 st.sampled_from([("D1", "D5"), ("D1", "D5", "D12")]))
WITHDRAW = st.tuples(st.just("withdraw"), st.integers(0, 5))
PLAN = st.tuples(st.just("plan"), st.integers(0, 5))
ADVANCE = st.tuples(st.just("advance"), st.integers(1, 400))
SEND = st.tuples(st.just("send"), st.integers(0, 5))
ASK = st.tuples(st.just("ask"), st.integers(0, 5))
SEAL = st.tuples(st.just("seal"), st.integers(0, 5))


@pytest.mark.timeout(900)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=st.lists(st.one_of(OPEN, WITHDRAW, PLAN, ADVANCE, SEND, ASK, SEAL), min_size=3, max_size=9))
@example(steps=[("open", "shelter", ("D1", "D5")), ("open", "criminal_justice", ("D1", "D5", "D12")),
                ("plan", 0), ("withdraw", 0), ("withdraw", 1), ("advance", 10), ("advance", 20), ("advance", 100)])
@example(steps=[("open", "shelter", ("D1", "D5", "D12")), ("send", 0), ("ask", 0), ("seal", 0), ("advance", 3),
                ("advance", 40), ("advance", 100)])
def test_years_of_activity_never_keep_a_record_past_its_schedule(
    steps: list[tuple[Any, ...]], client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
    clock: FixedClock, signing_seed: bytes,
) -> None:
    cases: list[tuple[str, str]] = []
    withdrawn: set[str] = set()
    made: set[str] = set()
    public = signing_public_key(signing_seed)
    for step in [*steps, ("advance", 800)]:
        if step[0] == "open":
            subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body())
            assert subject.status_code == 201, subject.text
            recipient = "police" if step[1] == "criminal_justice" else "shelter"
            body = consent_body(subject.json()["id"], purpose=step[1], recipients=[{"agency_id": recipient}],
                                data_classes=list(step[2]))
            granted = client.post("/v1/consents", headers=auth("ngo"), json=body)
            if granted.status_code == 201:
                cases.append((subject.json()["id"], granted.json()["consent"]["id"]))
        elif step[0] == "withdraw" and cases:
            _, consent_id = cases[step[1] % len(cases)]
            if client.post(f"/v1/consents/{consent_id}/withdraw", headers=auth("ngo"),
                           json={"channel": "phone"}).status_code == 200:
                withdrawn.add(consent_id)
        elif step[0] == "plan" and cases:
            subject_id, _ = cases[step[1] % len(cases)]
            client.post("/v1/plans", headers=auth("ngo"), json={
                "subject_id": subject_id, "recipient_agency_id": "shelter", "purpose": "shelter",
                "fields": ["subject.preferred_name"]})
        elif step[0] == "send" and cases:
            subject_id, consent_id = cases[step[1] % len(cases)]
            the_plan = client.post("/v1/plans", headers=auth("ngo"), json={
                "subject_id": subject_id, "recipient_agency_id": "shelter", "purpose": "shelter",
                "fields": ["subject.preferred_name", "risk.level"]}).json()
            if the_plan.get("allow"):
                sent = submit(client, auth, sealed(client, auth, registry, the_plan), key=the_plan["plan_id"])
                assert sent.status_code == 201, sent.text
                made.add("envelope_metadata")
                client.post(f"/v1/envelopes/{sent.json()['envelope_id']}/ack", headers=auth("shelter", system=True))
        elif step[0] == "ask" and cases:
            subject_id, _ = cases[step[1] % len(cases)]
            asked = client.post("/v1/information-requests", headers=auth("iom"), json={
                "holder_agency_id": "ngo", "subject_ref": subject_id, "purpose": "shelter",
                "fields": ["subject.language"], "basis": "consent", "urgency": "medium"})
            if asked.status_code == 201 and client.post(
                    f"/v1/information-requests/{asked.json()['id']}/decline", headers=auth("ngo"),
                    json={"reason": "not_held"}).status_code == 200:
                made.add("information_requests")
        elif step[0] == "seal" and cases:
            subject_id, _ = cases[step[1] % len(cases)]
            done = client.post(f"/v1/retention/subjects/{subject_id}/seals", headers=auth("ngo"),
                               json={"kind": "sealed", "classes": ["D12"], "reference": "court:1"})
            for notice in done.json().get("notices", []) if done.status_code == 201 else []:
                if client.post(f"/v1/retention/notices/{notice['notice_id']}/ack",
                               headers=auth(notice["agency_id"], system=True)).status_code == 200:
                    made.add("retention_notices")
        elif step[0] == "advance":
            clock.set(clock.now() + timedelta(days=step[1]))
            exchange_purge(ctx)
            apply_schedule(ctx)
            assert _kept_past_schedule(ctx) == []
            with ctx.sessions() as session:
                report = verify_database(session, public)
            assert report.ok, report.problems[:3]
    # Every withdrawn consent is gone by now, and its deletion was audited by id, kind and classes.
    with ctx.sessions() as session:
        left = set(session.scalars(select(ConsentRecord.id).where(ConsentRecord.id.in_(withdrawn or [""]))))
        purged = {e.details["id"]: e for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "retention:record:purge")) if "id" in e.details}
    assert left == set()
    # What the new steps made went too, each deletion audited by kind.
    kinds = {e.details["kind"] for e in purged.values()}
    assert made <= kinds, (made, kinds)
    for consent_id in withdrawn:
        assert purged[consent_id].details["kind"] == "consents_ended" and purged[consent_id].classes_released
