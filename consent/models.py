"""Consent tables. Every row is immutable: nothing here is ever updated or deleted.

- ``consent_records``: one record per (subject, purpose) decision. An amendment is a new
  record that ``supersedes`` the old one (same ``lineage_id``, next ``version``).
- ``consent_recipients``: the agencies a record names. ``subject_id`` and ``purpose`` are
  copied from the record (rows are immutable, so the copy can never drift) so that the
  in-force lookup for (subject, purpose, recipient) is one index range scan.
- ``consent_endings``: at most one per record (unique ``consent_id``): withdrawn,
  superseded or expired. A record with an ending is never in force again.
- ``consent_receipts``: the signed receipt issued on every grant and withdrawal.

"In force for (subject, purpose, recipient) at t" = named in ``consent_recipients``, no
ending, ``obtained_at <= t < expires_at`` (see :func:`consent.service.in_force_query`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .orm import Base


class ConsentRecord(Base):
    """One consent decision for one purpose: immutable once written."""

    __tablename__ = "consent_records"
    __table_args__ = (
        UniqueConstraint("lineage_id", "version"),
        Index("ix_consent_records_subject_purpose", "subject_id", "purpose", "obtained_at"),
        Index("ix_consent_records_expires_at", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lineage_id: Mapped[str] = mapped_column(String(64))
    """The id of the first record of this chain of amendments."""
    version: Mapped[int]
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("consent_records.id"), unique=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    purpose: Mapped[str] = mapped_column(String(30))
    scope: Mapped[str] = mapped_column(String(40))
    data_classes: Mapped[list[str]] = mapped_column(default=list)
    explained_items: Mapped[list[str]] = mapped_column(default=list)
    notice_version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(35))
    interpreter_id: Mapped[str | None] = mapped_column(String(64))
    interpreter_relationship: Mapped[str | None] = mapped_column(String(20))
    interpreter_vetted: Mapped[bool | None]
    channel: Mapped[str] = mapped_column(String(10))
    needs_confirmation: Mapped[bool] = mapped_column(default=False)
    """CR13: given by phone for a high-impact purpose; confirm face to face when possible."""
    capacity: Mapped[str] = mapped_column(String(15))
    obtained_by: Mapped[str] = mapped_column(String(120))
    """Opaque staff id at the obtaining agency."""
    obtained_by_role: Mapped[str] = mapped_column(String(40))
    obtaining_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    obtained_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    recorded_for_child: Mapped[bool]
    """Whether the subject was processed as a child when this was recorded (CH1)."""
    guardian_id: Mapped[str | None] = mapped_column(String(64))
    guardian_consent_given_at: Mapped[datetime | None]
    child_views_recorded_by: Mapped[str | None] = mapped_column(String(120))
    child_views_recorded_at: Mapped[datetime | None]
    child_views_reference: Mapped[str | None] = mapped_column(String(120))
    """Where the child's views are kept (the text itself never reaches the gateway, CH9)."""
    cj_option: Mapped[str | None] = mapped_column(String(40))
    duty_to_share_acknowledged: Mapped[list[str]] = mapped_column(default=list)

    recipients: Mapped[list[ConsentRecipient]] = relationship(
        order_by="ConsentRecipient.agency_id", lazy="selectin", viewonly=True
    )

    @property
    def recipient_ids(self) -> list[str]:
        """The named agencies' ids, sorted."""
        return [r.agency_id for r in self.recipients]


class ConsentRecipient(Base):
    """An agency a record names; the in-force lookup reads these rows first."""

    __tablename__ = "consent_recipients"
    __table_args__ = (
        # The in-force lookup: (subject, purpose, recipient) -> a handful of rows.
        Index("ix_consent_recipients_lookup", "subject_id", "purpose", "agency_id", "consent_id"),
    )

    consent_id: Mapped[str] = mapped_column(ForeignKey("consent_records.id"), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(30))
    country: Mapped[str | None] = mapped_column(String(2))
    """CR25: named explicitly for a recipient in another jurisdiction."""
    organisation: Mapped[str | None] = mapped_column(String(200))


class ConsentEnding(Base):
    """Why and when a record stopped being in force (at most one per record)."""

    __tablename__ = "consent_endings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consent_records.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime]
    by_kind: Mapped[str] = mapped_column(String(10))
    """person | agency | system"""
    by_agency_id: Mapped[str | None] = mapped_column(String(64))
    by_user: Mapped[str | None] = mapped_column(String(120))
    channel: Mapped[str | None] = mapped_column(String(10))
    superseded_by_id: Mapped[str | None] = mapped_column(String(64))


class ConsentReceipt(Base):
    """A signed receipt issued to the person on a grant or a withdrawal."""

    __tablename__ = "consent_receipts"
    __table_args__ = (Index("ix_consent_receipts_consent_id", "consent_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consent_records.id"))
    kind: Mapped[str] = mapped_column(String(12))
    issued_at: Mapped[datetime]
    jws: Mapped[str] = mapped_column(Text)
    """Compact JWS signed by the gateway: ids and codes only, verifiable with its public key."""
