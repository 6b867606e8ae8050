"""The audit entry table. Rows are only ever inserted; a Merkle tree over them proves it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_subject_seq", "subject_id", "seq"),
        Index("ix_audit_entries_action_seq", "action", "seq"),
        Index("ix_audit_entries_actor_seq", "actor_agency_id", "seq"),
        Index("ix_audit_entries_recipient_seq", "recipient_agency_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Leaf index in the Merkle tree, gapless from 0."""
    entry_id: Mapped[str] = mapped_column(String(40), unique=True)
    at: Mapped[datetime]
    request_id: Mapped[str | None] = mapped_column(String(64))
    actor_agency_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(40))
    actor_user: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(40))
    recipient_agency_id: Mapped[str | None] = mapped_column(String(64))
    classes_requested: Mapped[list[str]] = mapped_column(default=list)
    classes_released: Mapped[list[str]] = mapped_column(default=list)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    basis: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision: Mapped[str] = mapped_column(String(10))
    """allow | deny | info"""
    reason: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Ids, counts and codes only: never a payload value or personal data."""
    leaf_hash: Mapped[str] = mapped_column(String(64))
    """Hex RFC 9162 leaf hash of the canonical JSON of every other column."""
