"""Tables behind browser sessions: sessions, sign-in throttling, and spent one-time codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class WebSession(Base):
    """A server-side browser session. The cookie holds a random id; only its hash is stored.

    A stolen copy of this table therefore cannot be replayed as cookies. ``principal_id`` is
    empty for the short pre-sign-in session that carries the sign-in form's CSRF token.
    """

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_realm_principal", "realm", "principal_id"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Hex SHA-256 of the session id in the cookie."""
    realm: Mapped[str] = mapped_column(String(20))
    """Which application the session belongs to (``console``, ``portal``)."""
    principal_id: Mapped[str | None] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Synchroniser token bound to this session; every form posts it back."""
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class LoginThrottle(Base):
    """Consecutive failed sign-ins for one throttling key (a hashed user name or client address)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Hex SHA-256 of ``realm:kind:value``: the submitted user name is never stored as typed."""
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None]


class UsedOneTimeCode(Base):
    """A TOTP time step that was accepted once for a principal and may not be accepted again."""

    __tablename__ = "used_one_time_codes"

    principal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    used_at: Mapped[datetime]
