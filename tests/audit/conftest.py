"""Audit-log fixtures: a log of varied entries written through ``record()``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext

ACTIONS = [AuditTag.POLICY_DECISION, AuditTag.EXCHANGE_SUBMIT, AuditTag.CONSENT_GRANT, AuditTag.EXCHANGE_ACK,
           AuditTag.CONSENT_WITHDRAW, AuditTag.EXCEPTION_USE]


def sample_event(i: int) -> AuditEvent:
    """A realistic entry: ids, codes and class names only, some with unusual characters."""
    action = ACTIONS[i % len(ACTIONS)]
    exception = f"L{1 + i % 15}" if action == AuditTag.EXCEPTION_USE else None
    return AuditEvent(
        action,
        decision=("deny" if i % 5 == 4 else "allow") if action == AuditTag.POLICY_DECISION else "info",
        reason="consent_missing" if i % 5 == 4 else None,
        subject_id=f"subj-{i % 4}",
        purpose=["assistance", "referral", "criminal_justice"][i % 3],
        recipient_agency_id=["shelter", "police", "clinic"][i % 3],
        classes_requested=("D1", "D3", "D5")[: 1 + i % 3],
        classes_released=("D1",) if i % 2 else (),
        policy_version="bundle-1",
        basis={"consent_ids": [f"cns-{i}"] if not exception else [], "exception": exception},
        details={"envelope_id": f"env-{i // 2}", "n": i, "ok": bool(i % 2),
                 "note": "ü\u2028\"\\\n" if i == 3 else None},
    )


WriteEntries = Callable[..., list[int]]


@pytest.fixture
def write_entries(ctx: GatewayContext) -> WriteEntries:
    """Append ``n`` entries (one transaction each, or all in one), a second apart; returns their seqs."""

    def write(n: int, *, start: int = 0, one_transaction: bool = False, agency: str = "iom") -> list[int]:
        seqs: list[int] = []
        actor = Actor(agency_id=agency, role="iom", user="caseworker-7")
        if one_transaction:
            with ctx.sessions() as session, session.begin():
                for i in range(start, start + n):
                    seqs.append(record(session, sample_event(i), actor=actor,
                                       at=ctx.clock.now() + timedelta(seconds=i)).seq)
            return seqs
        for i in range(start, start + n):
            with ctx.sessions() as session, session.begin():
                seqs.append(record(session, sample_event(i), actor=actor,
                                   at=ctx.clock.now() + timedelta(seconds=i, microseconds=i * 7)).seq)
        return seqs

    return write
