"""The information request table: who asks whom, for which fields, about which reference."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class RequestStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    """The holder's referral was allowed by the policy: ``plan_id`` / ``envelope_id`` say which."""
    REFUSED = "refused"
    """The policy refused the holder's referral (``refusal_reasons``)."""
    DECLINED = "declined"
    """The holder declined, with a reason code."""


class DeclineReason(StrEnum):
    """Closed codes (no free text: nothing a person could be named in)."""

    NOT_HELD = "not_held"
    NOT_OUR_CASE = "not_our_case"
    PERSON_DECLINED = "person_declined"
    NO_LAWFUL_BASIS = "no_lawful_basis"
    SAFETY_RISK = "safety_risk"
    DUPLICATE = "duplicate"


class InformationRequest(Base):
    __tablename__ = "information_requests"
    __table_args__ = (Index("ix_information_requests_holder_status", "holder_agency_id", "status"),
                      Index("ix_information_requests_requester", "requester_agency_id"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requester_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    holder_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_ref: Mapped[str] = mapped_column(String(64))
    """The holder's own subject id, given to the requester earlier, or an opaque reference: never a name."""
    purpose: Mapped[str] = mapped_column(String(40))
    fields: Mapped[list[str]]
    basis: Mapped[str] = mapped_column(String(20))
    """``consent`` or a lawful-exception basis id (L1...): what the requester relies on."""
    urgency: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=RequestStatus.OPEN)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(20))
    refusal_reasons: Mapped[list[str] | None]
    plan_id: Mapped[str | None] = mapped_column(String(64))
    envelope_id: Mapped[str | None] = mapped_column(String(64))
