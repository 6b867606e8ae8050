"""Replay protection for client assertions, shared by every gateway replica through the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class UsedAssertion(Base):
    __tablename__ = "used_assertions"

    jti_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    """``<client_id> <jti>``: a jti is unique per client (RFC 7523 §3 item 7)."""
    expires_at: Mapped[datetime]
