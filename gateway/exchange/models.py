"""Exchange tables: plans, the outbox of sealed envelopes, delivery attempts, idempotency keys.

Only field *names*, ciphertext and hashes are stored; a field value never reaches the
gateway in the clear.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.orm import Base


class PlanStatus(StrEnum):
    OPEN = "open"
    USED = "used"


class EnvelopeStatus(StrEnum):
    QUEUED = "queued"
    """Stored, not yet fetched or pushed."""
    DELIVERED = "delivered"
    """The recipient fetched it or its endpoint accepted a push; not yet acknowledged."""
    ACKNOWLEDGED = "acknowledged"
    PURGED = "purged"
    """Acknowledged and past retention: the ciphertext is gone."""
    EXPIRED = "expired"
    """Never acknowledged before the expiry window: the ciphertext is gone, the sender was told."""


class Plan(Base):
    __tablename__ = "exchange_plans"
    __table_args__ = (Index("ix_exchange_plans_sender_created", "sender_agency_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    envelope_id: Mapped[str] = mapped_column(String(64), unique=True)
    """The id the sender seals under; reserved at plan time so it is bound into every ciphertext."""
    sender_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    recipient_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(40))
    requested_fields: Mapped[list[str]]
    permitted_fields: Mapped[list[str]]
    decision: Mapped[dict[str, Any]]
    """The policy answer: reasons, basis, obligations, version. Names and codes only."""
    status: Mapped[str] = mapped_column(String(10), default=PlanStatus.OPEN)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    planner_role: Mapped[str | None] = mapped_column(String(30))
    """The policy role of the signed-in person the plan was made for (from their account); the submit
    decides again with it. None only for plans made before migration 0027: their submit is refused."""
    planner_account_id: Mapped[str | None] = mapped_column(String(64))
    """That person's staff account; the submit is refused once it can no longer act."""


class PreviewApproval(Base):
    """The person approved exactly this preview (by hash), recorded by their advocate (CR18, CR19)."""

    __tablename__ = "preview_approvals"

    plan_id: Mapped[str] = mapped_column(ForeignKey("exchange_plans.id"), primary_key=True)
    preview_hash: Mapped[str] = mapped_column(String(80))
    approved_by: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(20))
    approved_at: Mapped[datetime]


class Envelope(Base):
    __tablename__ = "envelopes"
    __table_args__ = (
        Index("ix_envelopes_recipient_status_created", "recipient_agency_id", "status", "created_at"),
        Index("ix_envelopes_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_envelopes_sender_created", "sender_agency_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("exchange_plans.id"), unique=True)
    sender_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    recipient_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    recipient_key_id: Mapped[str] = mapped_column(ForeignKey("agency_keys.id"))
    sender_key_id: Mapped[str] = mapped_column(ForeignKey("agency_keys.id"))
    endpoint_id: Mapped[str | None] = mapped_column(ForeignKey("agency_endpoints.id"))
    subject_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(40))
    manifest: Mapped[dict[str, Any]]
    signature: Mapped[str] = mapped_column(String(128))
    policy_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(14), default=EnvelopeStatus.QUEUED)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    purge_after: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    purged_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(80))

    parts: Mapped[list[EnvelopePart]] = relationship(cascade="all, delete-orphan", order_by="EnvelopePart.field")


class EnvelopePart(Base):
    """One sealed field. Deleted when the envelope is purged or expires."""

    __tablename__ = "envelope_parts"

    envelope_id: Mapped[str] = mapped_column(ForeignKey("envelopes.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(120), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class IdempotencyRecord(Base):
    """The first answer to a request with a given key, replayed for retries (scoped per agency)."""

    __tablename__ = "idempotency_keys"

    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(80))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_envelope", "envelope_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    envelope_id: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(40))
    status_code: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(Text)
