"""The console's charts count in the database: the rows a chart reads are one per day and category,
whatever the number of entries behind them (counted, not timed), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import ORMExecuteState, Session

from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry
from gateway.audit.search import sensitive_classes
from gateway.audit.tags import AuditTag
from gateway.console import charts
from gateway.console.charts import build_charts
from gateway.context import GatewayContext

WORKER = Actor(agency_id="ngo", role="ngo", user="advocate-7")
REASONS = ("no_consent", "purpose_not_consented", "recipient_not_vetted")
DAYS = 4
"""Days (within the window) the entries fall on: each day's entries are written at 23:30 UTC."""


@dataclass
class Reads:
    statements: int = 0
    rows: int = 0
    entities: list[str] = field(default_factory=list)


@pytest.fixture
def reads() -> Iterator[Reads]:
    """Every statement a session runs, and the rows it hands back (whole audit rows named apart)."""
    counted = Reads()

    def count(state: ORMExecuteState) -> Any:
        result = state.invoke_statement().freeze()
        counted.statements += 1
        counted.rows += len(result().all())
        counted.entities += [d.get("name") or "" for d in state.statement.column_descriptions  # type: ignore[union-attr]
                             if d.get("entity") is AuditEntry]
        return result()

    event.listen(Session, "do_orm_execute", count)
    yield counted
    event.remove(Session, "do_orm_execute", count)


def _write(ctx: GatewayContext, per_bucket: int) -> None:
    """``per_bucket`` entries for each day and category of every chart, plus older ones that must not count."""
    now = ctx.clock.now()
    sensitive = sensitive_classes(ctx.settings.policy_dir)[0]
    with ctx.sessions() as session, session.begin():
        for day in range(DAYS):
            at = (now - timedelta(days=2 + 5 * day)).replace(hour=23, minute=30)
            for _ in range(per_bucket):
                for reason in REASONS:
                    record(session, AuditEvent(AuditTag.EXCHANGE_PLAN, decision="deny", reason=reason,
                                               recipient_agency_id="police"), actor=WORKER, at=at)
                for basis in ("L3", "L4"):
                    record(session, AuditEvent(AuditTag.EXCEPTION_USE, decision="allow", recipient_agency_id="clinic",
                                               classes_released=("D1",),
                                               basis={"consent_ids": [], "exception": basis}), actor=WORKER, at=at)
                record(session, AuditEvent(AuditTag.EXCHANGE_PLAN, decision="allow", recipient_agency_id="shelter",
                                           classes_released=("D1", sensitive),
                                           basis={"consent_ids": ["cns-1"], "exception": None}), actor=WORKER, at=at)
        old = now - timedelta(days=charts.WINDOW_DAYS + 3)
        record(session, AuditEvent(AuditTag.EXCHANGE_PLAN, decision="deny", reason="no_consent"), actor=WORKER, at=old)


def _charts(ctx: GatewayContext) -> dict[str, dict[str, int]]:
    with ctx.sessions() as session:
        return {name: dict(chart.rows) for name, chart in
                build_charts(session, ctx.clock.now(), ctx.settings.policy_dir).items()}


def test_charts_read_one_row_per_day_and_category_not_per_entry(ctx: GatewayContext, reads: Reads) -> None:
    _write(ctx, per_bucket=2)
    before = Reads(reads.statements, reads.rows)
    first = _charts(ctx)
    small = Reads(reads.statements - before.statements, reads.rows - before.rows)
    assert first["denials"] == dict.fromkeys(REASONS, 2 * DAYS)
    assert first["exceptions"] == {"L3": 2 * DAYS, "L4": 2 * DAYS}
    assert first["sensitive"] == {"shelter": 2 * DAYS}
    assert first["deadlines"] == {}
    # One grouped query per chart; one row per (day, category): 3 reasons, 2 bases, 1 recipient.
    assert small.statements == len(charts.CHARTS)
    assert small.rows == DAYS * (len(REASONS) + 2 + 1)

    _write(ctx, per_bucket=6)  # four times as many entries, in the same days and categories
    before = Reads(reads.statements, reads.rows)
    second = _charts(ctx)
    assert second["denials"] == dict.fromkeys(REASONS, 8 * DAYS)
    assert reads.statements - before.statements == small.statements
    assert reads.rows - before.rows == small.rows  # the rows read did not grow with the entries
    assert reads.entities == []  # no statement loaded audit entries as objects


def test_a_day_is_the_utc_day_whatever_the_database_sessions_time_zone(ctx: GatewayContext) -> None:
    _write(ctx, per_bucket=1)
    with ctx.sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET TIME ZONE 'Pacific/Auckland'"))  # 23:30 UTC is the next day there
        counted = charts._per_day(session, AuditEntry.at, AuditEntry.reason, AuditEntry.decision == "deny")
        stored = {e.date() for e in session.scalars(select(AuditEntry.at).where(AuditEntry.decision == "deny"))}
    assert {day for day, _, _ in counted} == stored
    assert all(isinstance(day, date) for day, _, _ in counted)
    assert Counter(label for _, label, _ in counted) == {"no_consent": DAYS + 1, **dict.fromkeys(REASONS[1:], DAYS)}
