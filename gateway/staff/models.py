"""Tables behind staff sign-in: passkeys, one-time enrolment codes, WebAuthn challenges, and the
deferral maximum an agency publishes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class StaffCredential(Base):
    """One passkey of one staff account (the public key only; the private key never leaves the device)."""

    __tablename__ = "staff_credentials"
    __table_args__ = (Index("ix_staff_credentials_account", "account_id"),)

    id: Mapped[str] = mapped_column(String(700), primary_key=True)
    """The credential id, base64url."""
    account_id: Mapped[str] = mapped_column(ForeignKey("staff_accounts.id"))
    public_key: Mapped[str] = mapped_column(Text)
    """COSE public key, base64url."""
    sign_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class StaffEnrolment(Base):
    """A one-time code the agency administrator hands to a person to register a passkey (a new
    account, or recovery after a lost device). Only its SHA-256 is stored."""

    __tablename__ = "staff_enrolments"
    __table_args__ = (Index("ix_staff_enrolments_account", "account_id"),)

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("staff_accounts.id"))
    purpose: Mapped[str] = mapped_column(String(12))
    """``enrol`` or ``recovery``."""
    issued_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffChallenge(Base):
    """A WebAuthn challenge, bound to the browser session it was issued to; used once."""

    __tablename__ = "staff_challenges"

    challenge: Mapped[str] = mapped_column(String(100), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(12))
    session_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class AgencyStaffSettings(Base):
    """What an agency publishes about its staff rules: the longest it may defer telling a person."""

    __tablename__ = "agency_staff_settings"

    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    deferral_max_days: Mapped[int | None]
    plans_need_person: Mapped[bool] = mapped_column(default=False)
    """Referral plans only for a signed-in person: the agency's system alone may not plan (so the
    policy always decides with a real person's role). Read when a token is issued."""
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
