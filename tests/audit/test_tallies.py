"""The dashboard tallies equal a count over every entry, however appends and console visits interleave."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from gateway.audit import tallies
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry, AuditTally
from gateway.audit.search import DASHBOARDS, EntryFilter, count_entries
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext


def _one_by_one(ctx: GatewayContext) -> dict[str, int]:
    """The oracle: each dashboard's own condition counted over the whole log."""
    with ctx.sessions() as session:
        return {name: count_entries(session, EntryFilter(), extra=d.condition(None)) for name, d in DASHBOARDS.items()}


def _tallied(ctx: GatewayContext) -> dict[str, int]:
    with ctx.sessions() as session, session.begin():
        return tallies.dashboard_counts(session, None)


def _event(rng: random.Random, envelopes: int) -> AuditEvent:
    envelope = f"env-{rng.randrange(envelopes)}"
    kind = rng.randrange(9)
    if kind in (0, 1):
        return AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision=rng.choice(["allow", "allow", "deny"]),
                          details={"envelope_id": envelope})
    if kind in (2, 3):  # sometimes twice for one envelope, sometimes before any submission of it
        return AuditEvent(AuditTag.EXCHANGE_ACK, details={"envelope_id": envelope})
    if kind == 4:
        return AuditEvent(AuditTag.EXCHANGE_EXPIRE, details={"envelope_id": envelope})
    if kind == 5:
        return AuditEvent(AuditTag.POLICY_DECISION, decision="deny", reason="consent_missing",
                          classes_requested=("D3",), recipient_agency_id="police")
    if kind == 6:
        return AuditEvent(AuditTag.EXCEPTION_USE, decision="allow", basis={"exception": "L3", "consent_ids": []})
    if kind == 7:
        return AuditEvent(AuditTag.CONSENT_WITHDRAW, purpose="referral")
    return AuditEvent(AuditTag.NRM_SLA_ALERT, reason="stage1_overdue")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tallies_equal_the_counts_over_every_entry(ctx: GatewayContext, seed: int) -> None:
    rng = random.Random(seed)
    actor = Actor(agency_id="iom", role="caseworker")
    checked = 0
    for _ in range(12):
        with ctx.sessions() as session, session.begin():
            for _ in range(rng.randrange(0, 9)):
                record(session, _event(rng, 6), actor=actor, at=ctx.clock.now())
        if rng.random() < 0.6:  # a console visit moves the tally on
            assert _tallied(ctx) == _one_by_one(ctx)
            checked += 1
    assert _tallied(ctx) == _one_by_one(ctx)
    assert checked >= 3
    with ctx.sessions() as session:
        tally = session.get(AuditTally, "dashboards")
        size = session.scalar(select(func.count()).select_from(AuditEntry))
        assert tally is not None and tally.upto == size


def test_a_submission_without_an_envelope_counts_while_no_acknowledgement_exists(ctx: GatewayContext) -> None:
    actor = Actor(agency_id="iom", role="caseworker")
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow"), actor=actor, at=ctx.clock.now())
    assert _tallied(ctx)["unacknowledged"] == _one_by_one(ctx)["unacknowledged"] == 1
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.EXCHANGE_ACK, details={"envelope_id": "env-1"}), actor=actor,
               at=ctx.clock.now())
    assert _tallied(ctx)["unacknowledged"] == _one_by_one(ctx)["unacknowledged"] == 0


def test_only_the_entries_since_the_last_visit_are_read(ctx: GatewayContext) -> None:
    actor = Actor(agency_id="iom", role="caseworker")
    with ctx.sessions() as session, session.begin():
        for _ in range(20):
            record(session, AuditEvent(AuditTag.CONSENT_WITHDRAW, purpose="referral"), actor=actor,
                   at=ctx.clock.now())
    assert _tallied(ctx)["withdrawals"] == 20
    # Rewrite the stored tally: a visit that re-read old entries would undo this; one that reads
    # only the new entries adds to it (work counted through what it could have seen).
    with ctx.sessions() as session, session.begin():
        tally = session.get(AuditTally, "dashboards")
        assert tally is not None
        tally.counts = {**tally.counts, "withdrawals": 1000}
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.CONSENT_WITHDRAW, purpose="referral"), actor=actor, at=ctx.clock.now())
    assert _tallied(ctx)["withdrawals"] == 1001


def test_a_changed_definition_starts_over(ctx: GatewayContext) -> None:
    actor = Actor(agency_id="iom", role="caseworker")
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.CONSENT_WITHDRAW, purpose="referral"), actor=actor, at=ctx.clock.now())
    assert _tallied(ctx)["withdrawals"] == 1
    with ctx.sessions() as session, session.begin():
        tally = session.get(AuditTally, "dashboards")
        assert tally is not None
        tally.definition, tally.counts = "an older meaning", {**tally.counts, "withdrawals": 1000}
    assert _tallied(ctx)["withdrawals"] == 1
