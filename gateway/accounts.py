"""Staff accounts for the web consoles (DPO, monitoring body, advocates): argon2id + TOTP."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class StaffRole(StrEnum):
    DPO = "dpo"
    MONITORING_BODY = "monitoring_body"
    ADVOCATE = "advocate"
    GUARDIAN_ADVOCATE = "guardian_advocate"
    CASEWORKER = "caseworker"
    VOLUNTEER = "volunteer"
    OPERATOR = "operator"
    RAPPORTEUR = "rapporteur"


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(30))
    agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str] = mapped_column(String(64))
    """Base32 TOTP secret. A second factor is mandatory for every staff account."""
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
