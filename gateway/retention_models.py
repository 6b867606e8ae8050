"""Tables of sealing, erasure broadcasts, legal holds and staleness (issue 22, migration 0030).

* :class:`RetentionNotice`: one agency's copy of a sealing or erasure broadcast. It holds no
  personal data: the classes concerned and a reference sealed to the agency's own encryption
  key (the envelope ids it received; only the agency can open it), signed by the gateway. It
  outlives an erasure (its ``subject_id`` is cleared then), so the acknowledgement trail stays.
* :class:`SubjectOrder`: what a court or the law says about a subject's data: a seal (sealed,
  vacated, expunged; per class), a legal hold or court order that preserves the data (blocks
  erasure and the retention purge), or a court order that opens sealed classes to one recipient.
* :class:`SubjectReview`: when the subject's key details were last re-checked.
* :class:`RetentionWarning`: one warning (stale key details, a purge coming) to the holding agency.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base

__all__ = ["RetentionNotice", "RetentionWarning", "SubjectOrder", "SubjectReview"]


class RetentionNotice(Base):
    __tablename__ = "retention_notices"
    __table_args__ = (Index("ix_retention_notices_agency_created", "agency_id", "created_at"),
                      Index("ix_retention_notices_subject", "subject_id"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    """The subject while it exists (a seal); None for an erasure, and cleared when the subject is erased."""
    action: Mapped[str] = mapped_column(String(12))
    """``sealed``, ``vacated``, ``expunged`` or ``erased``."""
    classes: Mapped[list[str]]
    reference: Mapped[bytes | None] = mapped_column(LargeBinary)
    """``{"envelope_ids": [...]}`` sealed to ``key_id`` (None when the agency has no usable key)."""
    key_id: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    ack_due: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    overdue_at: Mapped[datetime | None]
    """When the missing acknowledgement was audited as overdue (once)."""


class SubjectOrder(Base):
    __tablename__ = "subject_orders"
    __table_args__ = (Index("ix_subject_orders_subject", "subject_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    kind: Mapped[str] = mapped_column(String(20))
    """``sealed``/``vacated``/``expunged`` (a seal), ``legal_hold``/``court_order`` (preserve),
    ``access_order`` (opens sealed classes to ``recipient_agency_id`` until ``ends_at``)."""
    classes: Mapped[list[str]]
    """The classes concerned; empty = every class."""
    reference: Mapped[str] = mapped_column(Text)
    """The court order's or hold's reference, sealed at rest under the subject's key
    (``gateway.sealing.REFERENCE_KEY``): a docket code names a case, and so a person."""
    recipient_agency_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(120))
    ends_at: Mapped[datetime | None]
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(120))


class SubjectReview(Base):
    __tablename__ = "subject_reviews"

    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_verified_at: Mapped[datetime]
    verified_by: Mapped[str | None] = mapped_column(String(120))


class RetentionWarning(Base):
    __tablename__ = "retention_warnings"
    __table_args__ = (UniqueConstraint("subject_id", "kind", "due_at"),
                      Index("ix_retention_warnings_agency_created", "agency_id", "created_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(30))
    """``key_details_stale`` or ``purge_due:<kind>``."""
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
