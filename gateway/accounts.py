"""Staff accounts: a person, their agency, their roles, their status and their credentials.

One account serves every staff surface: the agency's API work done for a person (person tokens),
the DPO console, the monitoring body's pages. Credentials are passkeys (WebAuthn, see
:mod:`gateway.staff.models`) with argon2id password + TOTP as the fallback; a second factor is
mandatory for every account.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class StaffRole(StrEnum):
    """The fixed vocabulary of staff roles (an account holds one or more)."""

    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    VOLUNTEER = "volunteer"
    INTERPRETER = "interpreter"
    ADVOCATE = "advocate"
    GUARDIAN_ADVOCATE = "guardian_advocate"
    POLICE_FOCAL_POINT = "police_focal_point"
    INVESTIGATOR = "investigator"
    DPO = "dpo"
    MONITORING_BODY = "monitoring_body"
    ADMINISTRATOR = "administrator"
    OPERATOR = "operator"
    RAPPORTEUR = "rapporteur"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """Cannot sign in or act until the agency administrator reinstates (or recovers) the account."""
    REVOKED = "revoked"
    """For good: the person left or the account was compromised. Never reinstated."""


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(30))
    """The account's first role (kept for the console's routing); :attr:`roles` holds them all."""
    agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str] = mapped_column(String(64))
    """Base32 TOTP secret. A second factor is mandatory for every staff account."""
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    roles: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(12), default=AccountStatus.ACTIVE)
    webauthn_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    """The opaque WebAuthn user handle (base64url of 32 random bytes): never the username."""
    generation: Mapped[int] = mapped_column(default=0)
    """Raised by every recovery and revocation. Person tokens and the access tokens exchanged for them
    carry the generation they were issued in (``gen``); a request whose token carries an older one is
    refused at once (``person_token_revoked``), not when the token expires."""

    def all_roles(self) -> frozenset[str]:
        return frozenset(self.roles or [self.role])

    @property
    def usable(self) -> bool:
        return self.status == AccountStatus.ACTIVE and not self.disabled
