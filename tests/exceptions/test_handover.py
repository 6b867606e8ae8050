"""CH22: when a child with a guardian advocate comes of age, the guardian advocate's service and the
agency holding the case are told to start the handover, once, by the scheduled job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.clock import FixedClock
from consent.subjects import Subject
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from gateway.exceptions.handover import KIND, PROMPT_WINDOW
from gateway.exceptions.models import AgencyNotice
from gateway.registry.models import AgencyKind
from gateway.scheduler import handover_prompts
from tests.conftest import Registry, register
from tests.consent.conftest import subject_body

Auth = Callable[..., dict[str, str]]


def _child(client: TestClient, auth: Auth, born: date, **extra: str) -> str:
    created = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(
        date_of_birth=born.isoformat(), guardian_advocate_id="ga-7", **extra))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _prompts(ctx: GatewayContext) -> list[tuple[str, str]]:
    with ctx.sessions() as session:
        return sorted((n.agency_id, n.subject_id) for n in session.scalars(
            select(AgencyNotice).where(AgencyNotice.kind == KIND)))


@pytest.mark.rule("CH22")
def test_the_guardian_advocate_and_the_owner_are_prompted_once_when_a_child_comes_of_age(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    registry.keys["ga-north"], registry.key_ids["ga-north"] = register(
        ctx, "ga-north", AgencyKind.GUARDIAN_ADVOCATE_SERVICE)
    today = clock.now().date()
    soon = _child(client, auth, date(today.year - 18, 1, 1) + timedelta(days=400),
                  guardian_advocate_agency_id="ga-north")  # turns 18 in about a year
    no_advocate = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(
        date_of_birth=(date(today.year - 18, 1, 1) + timedelta(days=400)).isoformat()))
    assert no_advocate.status_code == 201, no_advocate.text
    long_ago = _child(client, auth, date(today.year - 19, 1, 1), guardian_advocate_agency_id="ga-north")
    with ctx.sessions() as session:
        adult_on = session.get(Subject, soon).adult_on  # type: ignore[union-attr]
    assert adult_on is not None and adult_on > today

    # Still a child: nothing. The one who came of age long before the window: nothing either.
    assert handover_prompts(ctx) == 0
    clock.advance(timedelta(days=(adult_on - today).days + 1))
    assert handover_prompts(ctx) == 2
    assert _prompts(ctx) == [("ga-north", soon), ("ngo", soon)]
    assert long_ago not in {s for _, s in _prompts(ctx)}
    # Idempotent: the next rounds send nothing more, and each prompt was audited once.
    assert handover_prompts(ctx) == 0
    clock.advance(PROMPT_WINDOW)
    assert handover_prompts(ctx) == 0
    with ctx.sessions() as session:
        audited = session.scalars(select(AuditEntry.recipient_agency_id).where(
            AuditEntry.action == str(AuditTag.CHILD_HANDOVER_PROMPT))).all()
    assert sorted(audited) == ["ga-north", "ngo"]
    # The agency sees it among its notices, with the month only (no birth date).
    notices = client.get("/v1/exceptions/notices", headers=auth("ngo", system=True)).json()
    handover = [n for n in notices if n["kind"] == KIND]
    assert len(handover) == 1 and handover[0]["details"]["adult_on"] == adult_on.isoformat()[:7]
