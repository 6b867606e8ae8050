"""Exception grants and the notices agencies receive about them (codes and ids only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class GrantStatus(StrEnum):
    REQUESTED = "requested"
    """Waiting for a second approver from the same agency (four eyes)."""
    APPROVED = "approved"
    USED = "used"
    """Consumed by exactly one submit, in that submit's transaction."""


class ExceptionGrant(Base):
    """One lawful exception: basis, scenario, one subject, one recipient, named classes, minutes to live."""

    __tablename__ = "exception_grants"
    __table_args__ = (Index("ix_exception_grants_agency_requested", "agency_id", "requested_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    basis: Mapped[str] = mapped_column(String(8))
    scenario: Mapped[str] = mapped_column(String(80))
    justification_code: Mapped[str] = mapped_column(String(80))
    justification_ref: Mapped[str] = mapped_column(String(120))
    """A reference to the justification held by the agency (never the text or personal data)."""
    recipient_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    classes: Mapped[list[str]]
    fields: Mapped[list[str]]
    status: Mapped[str] = mapped_column(String(10), default=GrantStatus.REQUESTED)
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(120))
    approved_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_envelope_id: Mapped[str | None] = mapped_column(String(64))
    best_interests_ref: Mapped[str | None] = mapped_column(String(120))
    """CH2, CH19: reference to the recorded best-interests decision for a child."""
    defer_until: Mapped[datetime | None]
    defer_reason: Mapped[str | None] = mapped_column(String(40))
    """A recorded deferral rule: the person is told at ``defer_until``, not at use."""


class AgencyNotice(Base):
    """Something an agency must be told: an exception used on its case (the person's advocate),
    a suspected guardian (CH7), an age correction (CH20). Rows are only ever inserted."""

    __tablename__ = "agency_notices"
    __table_args__ = (Index("ix_agency_notices_agency_created", "agency_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    kind: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class BestInterestsDecision(Base):
    """CH2, CH19: a recorded best-interests decision for a child (a reference, never its text)."""

    __tablename__ = "best_interests_decisions"
    __table_args__ = (Index("ix_best_interests_subject_recorded", "subject_id", "recorded_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    reference: Mapped[str] = mapped_column(String(120))
    decision_code: Mapped[str] = mapped_column(String(40))
    """e.g. ``return_in_best_interests``, ``stay_in_best_interests``."""
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime]


class ChildInterview(Base):
    """An interview or assessment of a child, scheduled only with the guardian advocate attending (CH10)."""

    __tablename__ = "child_interviews"
    __table_args__ = (Index("ix_child_interviews_subject_scheduled", "subject_id", "scheduled_for"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    kind: Mapped[str] = mapped_column(String(40))
    scheduled_for: Mapped[datetime]
    guardian_advocate_id: Mapped[str] = mapped_column(String(64))
    parent_attending: Mapped[bool] = mapped_column(default=False)
    parent_safety_ref: Mapped[str | None] = mapped_column(String(120))
    """CH8: reference to the recorded assessment that the parent's attendance is safe."""
    interpreter: Mapped[str] = mapped_column(String(20))
    """``none`` or ``child_specialist`` (CH24)."""
    scheduled_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]


class ExceptionPolicyExplanation(Base):
    """L1: the person was told, at the outset, in which predefined situations this agency may share
    without their consent (its published exception policy). Rows are only ever inserted."""

    __tablename__ = "exception_policy_explanations"
    __table_args__ = (Index("ix_exception_policy_explanations_subject_agency", "subject_id", "agency_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    given_at: Mapped[datetime]
    given_by: Mapped[str] = mapped_column(String(120))
    policy_version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(35))
    recorded_at: Mapped[datetime]
