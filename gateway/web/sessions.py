"""Server-side browser sessions (ASVS 7.2, 7.3, 3.3).

The cookie carries 256 random bits and nothing else; the database stores only their
SHA-256, so a copy of the table cannot be replayed. A session ends when it has been idle
too long, when it reaches its absolute lifetime (both measured with the injected clock),
or at sign-out. Signing in always starts a *new* session, so an id planted before
sign-in (session fixation) is worthless afterwards.

Cookies are ``__Host-`` prefixed (Secure, Path=/, no Domain), HttpOnly and
SameSite=Strict: another site can neither read nor send them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from consent.clock import Clock
from crypto.passwords import random_token

from .csrf import new_csrf_token
from .models import WebSession

__all__ = ["SessionPolicy", "SessionStore"]


@dataclass(frozen=True)
class SessionPolicy:
    """One application's session rules."""

    realm: str
    cookie_name: str
    idle_s: int
    absolute_s: int
    anonymous_idle_s: int = 900
    """How long the pre-sign-in session (it only carries the sign-in form's CSRF token) lives."""

    def __post_init__(self) -> None:
        if not self.cookie_name.startswith("__Host-"):
            raise ValueError("session cookies must be __Host- prefixed")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Create, load and end sessions of one realm; the caller owns the transaction."""

    def __init__(self, policy: SessionPolicy, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock

    def start(self, session: Session, principal_id: str | None) -> tuple[str, WebSession]:
        """A new session with a fresh id and CSRF token. Returns (cookie value, row)."""
        now = self.clock.now()
        self.purge_expired(session, now)
        token = random_token(32)
        row = WebSession(id_hash=_hash(token), realm=self.policy.realm, principal_id=principal_id,
                         csrf_token=new_csrf_token(), created_at=now, last_seen_at=now)
        session.add(row)
        session.flush()
        return token, row

    def _expired(self, row: WebSession, now: datetime) -> bool:
        idle = self.policy.idle_s if row.principal_id else self.policy.anonymous_idle_s
        absolute = self.policy.absolute_s if row.principal_id else self.policy.anonymous_idle_s
        return now - row.last_seen_at > timedelta(seconds=idle) or now - row.created_at > timedelta(seconds=absolute)

    def load(self, session: Session, token: str | None, *, touch: bool = True) -> WebSession | None:
        """The live session for a cookie value, or None (expired sessions are deleted)."""
        if not token or len(token) > 128:
            return None
        row = session.get(WebSession, _hash(token))
        if row is None or row.realm != self.policy.realm:
            return None
        now = self.clock.now()
        if self._expired(row, now):
            session.delete(row)
            session.flush()
            return None
        if touch:
            row.last_seen_at = now
        return row

    def from_request(self, session: Session, request: Request, *, touch: bool = True) -> WebSession | None:
        return self.load(session, request.cookies.get(self.policy.cookie_name), touch=touch)

    def end(self, session: Session, token: str | None) -> None:
        if token:
            session.execute(delete(WebSession).where(WebSession.id_hash == _hash(token)))

    def end_all(self, session: Session, principal_id: str) -> None:
        """Sign a principal out everywhere (e.g. after a password change)."""
        session.execute(delete(WebSession).where(WebSession.realm == self.policy.realm,
                                                 WebSession.principal_id == principal_id))

    def purge_expired(self, session: Session, now: datetime) -> None:
        """Delete this realm's sessions that can no longer be used (keeps the table small)."""
        anonymous = now - timedelta(seconds=self.policy.anonymous_idle_s)
        idle = now - timedelta(seconds=self.policy.idle_s)
        absolute = now - timedelta(seconds=self.policy.absolute_s)
        session.execute(delete(WebSession).where(WebSession.realm == self.policy.realm, or_(
            and_(WebSession.principal_id.is_(None), WebSession.last_seen_at < anonymous),
            WebSession.last_seen_at < idle,
            WebSession.created_at < absolute,
        )))

    # -- cookies -------------------------------------------------------------------------

    def set_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(self.policy.cookie_name, token, path="/", secure=True, httponly=True,
                            samesite="strict", max_age=None)

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.policy.cookie_name, path="/", secure=True, httponly=True, samesite="strict")
