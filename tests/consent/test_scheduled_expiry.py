"""Consent expiries are recorded by the server's scheduled jobs, once, without anyone asking
(digest open question 5: consents carry an expiry; ending it is visible in the history and the log)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.clock import FixedClock
from consent.models import ConsentEnding
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.scheduler import ScheduledJobs
from tests.conftest import T0, Registry
from tests.consent.conftest import Auth, consent_body, subject_body
from tests.support.pseudonyms import subject_of


def test_scheduled_jobs_record_each_expiry_once(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock
) -> None:
    subject_id = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    short = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        subject_id, expires_at=(T0 + timedelta(days=1)).isoformat()))
    long = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(subject_id, purpose="healthcare",
                                                                               recipients=[{"agency_id": "clinic"}]))
    assert short.status_code == 201 and long.status_code == 201, (short.text, long.text)
    jobs = ScheduledJobs(ctx)
    assert jobs.run_once()["consents_expired"] == 0
    clock.set(T0 + timedelta(days=2))
    assert jobs.run_once()["consents_expired"] == 1
    assert jobs.run_once()["consents_expired"] == 0
    with ctx.sessions() as session:
        endings = list(session.scalars(select(ConsentEnding)))
        expiries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "consent:record:expire")))
    assert [(e.consent_id, e.kind) for e in endings] == [(short.json()["consent"]["id"], "expired")]
    assert len(expiries) == 1 and subject_of(ctx, expiries[0].subject_id) == subject_id
