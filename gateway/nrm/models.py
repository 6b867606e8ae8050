"""SLA alerts raised by the NRM timers: one row per (case, kind, deadline), only ever inserted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class SlaAlert(Base):
    __tablename__ = "sla_alerts"
    __table_args__ = (
        UniqueConstraint("subject_id", "kind", "due_at"),
        Index("ix_sla_alerts_raised_at", "raised_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    owner_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    kind: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str] = mapped_column(String(8))
    due_at: Mapped[datetime]
    raised_at: Mapped[datetime]
    missing: Mapped[list[str]]
    """What was not recorded by the deadline (``guardian_advocate``, ``accommodation``)."""
    notified: Mapped[list[str]]
    """The agencies told."""
