"""Tables of the statistics store, the releases and the privacy-budget ledger.

The store holds coarse codes only (an age band, a region, a purpose, a month). A person is
represented by ``unit``: an HMAC of the subject id under a key derived from the gateway's seed,
used for one thing only: to bound how many records one person adds to a table (the unit of
privacy). Without the seed it links to nothing, and the subject id is random, so no dictionary
search can confirm one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class StatPerson(Base):
    """One person, as coarse codes: what person tables count (one row, so one cell, per person)."""

    __tablename__ = "stat_persons"
    __table_args__ = (Index("ix_stat_persons_intake_month", "intake_month"),)

    unit: Mapped[str] = mapped_column(String(32), primary_key=True)
    intake_month: Mapped[str] = mapped_column(String(7))
    """``YYYY-MM`` of the subject's creation at the gateway."""
    age_band: Mapped[str] = mapped_column(String(12))
    sex: Mapped[str] = mapped_column(String(12))
    nationality_group: Mapped[str] = mapped_column(String(12))
    exploitation_type: Mapped[str] = mapped_column(String(20))
    child: Mapped[str] = mapped_column(String(8))
    nrm_stage: Mapped[str] = mapped_column(String(20))
    stage1_deadline: Mapped[str] = mapped_column(String(16))
    refreshed_at: Mapped[datetime]


class StatEvent(Base):
    """One counted event, from one audit entry (its ``seq``: the store is filled once per entry)."""

    __tablename__ = "stat_events"
    __table_args__ = (Index("ix_stat_events_month", "month"),)

    source_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    unit: Mapped[str | None] = mapped_column(String(32))
    month: Mapped[str] = mapped_column(String(7))
    event: Mapped[str] = mapped_column(String(24))
    purpose: Mapped[str] = mapped_column(String(40))
    recipient_kind: Mapped[str] = mapped_column(String(40))
    basis: Mapped[str] = mapped_column(String(12))
    child: Mapped[str] = mapped_column(String(8))


class StatCursor(Base):
    """How far the store has read the audit log."""

    __tablename__ = "stat_cursor"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    next_seq: Mapped[int] = mapped_column(BigInteger)


class StatBudgetPeriod(Base):
    """Privacy loss spent on one calendar year of data, in micro-epsilon (exact sums)."""

    __tablename__ = "stat_budget_periods"

    period: Mapped[str] = mapped_column(String(4), primary_key=True)
    spent_micro: Mapped[int] = mapped_column(BigInteger, default=0)


class StatRelease(Base):
    """A published table: its signed document, kept so it can be downloaded again at no cost."""

    __tablename__ = "stat_releases"
    __table_args__ = (Index("ix_stat_releases_released_at", "released_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    released_at: Mapped[datetime]
    released_by: Mapped[str] = mapped_column(String(120))
    requester_role: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(12))
    epsilon: Mapped[float] = mapped_column(Float)
    cells: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    signature: Mapped[str] = mapped_column(String(100))
    csv: Mapped[str] = mapped_column(Text)
    """The signed CSV file, byte for byte."""


class StatLedgerEntry(Base):
    """One release's charge against one year's budget."""

    __tablename__ = "stat_budget_ledger"
    __table_args__ = (Index("ix_stat_budget_ledger_period", "period"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("stat_releases.id"))
    period: Mapped[str] = mapped_column(String(4))
    epsilon_micro: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
