"""Statistics fixtures: subjects and audit entries written the way the gateway writes them."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from connectors.assertion import token_request_form
from consent.clock import FixedClock
from consent.subjects import Subject
from crypto.keys import AgencyKeyPair
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from gateway.registry.models import AgencyKind
from tests.conftest import ISSUER, register


@dataclass
class Cases:
    subject_ids: list[str]
    counted_entries: int


def seed_cases(ctx: GatewayContext, n: int, *, seed: int = 7) -> Cases:
    """``n`` subjects (created at the gateway with a few attributes) and their audited events."""
    rng = random.Random(seed)
    now = ctx.clock.now()
    ngo = Actor(agency_id="ngo", role="ngo", user="caseworker-1")
    ids: list[str] = []
    counted = 0
    with ctx.sessions() as session, session.begin():
        for i in range(n):
            created = now - timedelta(days=rng.randrange(0, 200))
            subject = Subject(
                id=f"subj_stats_{i:04d}", owner_agency_id="ngo", created_at=created, created_by="caseworker-1",
                adult_on=date(2008 + rng.randrange(0, 20), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                age_band=None, age_disputed=False, age_assessment_outcome=None, age_appeal_status="none",
                preferred_language="en", asylum_claimed=False, possible_refugee=False,
                country_of_origin=rng.choice(["NG", "RO", "VN", "AL", "ER", "NL"]), guardian_advocate_id=None,
                guardian_advocate_agency_id=None, parental_guardian_id=None, guardian_suspected=False,
                declined_nrm=False, capacity={}, cj_role="none", open_cases=[], placement_ref=None,
                nrm_referred_at=None, stage1_outcome=None, stage1_decided_at=None, stage2_outcome=None,
                stage2_decided_at=None, sex=rng.choice(["female", "female", "male"]),
                exploitation_type=rng.choice(["sexual", "labour"]),
            )
            session.add(subject)
            session.flush()
            ids.append(subject.id)
            record(session, AuditEvent(AuditTag.SUBJECT_CREATE, subject_id=subject.id,
                                       details={"attributes": ["adult_on"]}), actor=ngo, at=created)
            for _ in range(rng.randrange(1, 4)):
                record(session, AuditEvent(AuditTag.POLICY_DECISION, decision="allow", subject_id=subject.id,
                                           purpose="shelter", recipient_agency_id="shelter",
                                           basis={"consent_ids": ["c1"], "exception": None}),
                       actor=ngo, at=created + timedelta(hours=1))
                record(session, AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id=subject.id,
                                           purpose="shelter", recipient_agency_id="shelter",
                                           basis={"consent_ids": ["c1"], "exception": None},
                                           details={"envelope_id": f"env-{i}"}),
                       actor=ngo, at=created + timedelta(hours=2))
                counted += 2
            if i % 5 == 0:
                record(session, AuditEvent(AuditTag.CONSENT_WITHDRAW, subject_id=subject.id, purpose="shelter",
                                           details={"consent_id": "c1"}), actor=ngo, at=created + timedelta(days=1))
                counted += 1
    return Cases(ids, counted)


@pytest.fixture
def agencies(ctx: GatewayContext) -> dict[str, AgencyKeyPair]:
    keys = {}
    for agency_id, kind in (("ngo", AgencyKind.NGO), ("shelter", AgencyKind.SHELTER),
                            ("rapporteur", AgencyKind.RAPPORTEUR), ("monitor", AgencyKind.MONITORING_BODY)):
        keys[agency_id], _ids = register(ctx, agency_id, kind)
    return keys


@pytest.fixture
def bearer(client: TestClient, agencies: dict[str, AgencyKeyPair],
           clock: FixedClock) -> Callable[[str], dict[str, str]]:
    def headers(agency_id: str) -> dict[str, str]:
        form = token_request_form(agency_id, agencies[agency_id].signing_seed, f"{ISSUER}/oauth/token",
                                  now=clock.now().timestamp())
        response = client.post("/oauth/token", data=form)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers
