"""Signing the person in: access code + PIN, throttled, locked after too many failures.

One answer for every failure (unknown code, wrong code, wrong PIN, no PIN set yet): the
same status, the same page and the same work, three Argon2id verifications whatever was
typed (:func:`consent.portal_access.match_sign_in`). Failures are counted per code and per
client address, with exponential back-off (:mod:`gateway.web.throttle`); after
``portal_lockout_after`` consecutive failures a code is locked until the advocate lifts it.
Codes nobody holds lock the same way, so the lock tells nothing about whether a code exists.

A duress PIN signs in to a session flagged ``duress``: the pages show an empty account and
an alert for the advocate is written in the same transaction (:class:`PortalAlert`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from consent.portal_access import (
    PortalAccess,
    find_by_code,
    match_sign_in,
    record_sign_in_failure,
    record_sign_in_success,
)
from consent.subjects import Subject
from crypto.passwords import SecretHasher

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..web.models import LoginThrottle, WebSession
from ..web.sessions import SessionPolicy, SessionStore
from ..web.throttle import Throttle, ThrottleKey
from .models import AlertCode, PortalAlert, PortalSessionState

__all__ = ["COOKIE", "REALM", "Person", "PortalAuth", "SignInOutcome"]

REALM = "portal"
COOKIE = "__Host-sid"
"""A neutral name: the cookie list of a checked phone must not say what this site is."""
PERSON = Actor(role="person")


@dataclass(frozen=True)
class Person:
    """Who is signed in. In a duress session ``subject_id`` is kept (for the language) but no
    page reads anything of theirs."""

    subject_id: str
    duress: bool
    csrf_token: str
    lang: str | None


@dataclass(frozen=True)
class SignInOutcome:
    ok: bool
    token: str | None = None
    retry_after: int = 0
    locked: bool = False


@cache
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return SecretHasher(time_cost=time_cost, memory_cost=memory_kib).hash("nobody's secret at all")


def _code_key_value(code: str, locator: str | None) -> str:
    if locator is not None:
        return locator
    return "".join(code.split()).upper()[:40] or "-"


class PortalAuth:
    """Sessions, throttling and sign-in for the portal, built from the gateway context."""

    def __init__(self, ctx: GatewayContext) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.store = SessionStore(
            SessionPolicy(realm=REALM, cookie_name=COOKIE, idle_s=settings.portal_session_idle_s,
                          absolute_s=settings.portal_session_absolute_s,
                          anonymous_idle_s=settings.portal_session_absolute_s),
            ctx.clock,
        )
        self.throttle = Throttle(REALM, ctx.clock, max_delay_s=settings.portal_max_delay_s)
        self.hasher = SecretHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)
        self._dummy = _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib)

    # -- sessions ---------------------------------------------------------------------

    def current(self, session: Session, request: Request) -> tuple[Person | None, WebSession | None,
                                                                    PortalSessionState | None]:
        """(the signed-in person, the session row, its state) behind the request's cookie."""
        row = self.store.from_request(session, request)
        if row is None:
            return None, None, None
        state = session.get(PortalSessionState, row.id_hash)
        if row.principal_id is None or state is None or state.subject_id != row.principal_id:
            return None, row, state
        return Person(row.principal_id, state.duress, row.csrf_token, state.lang), row, state

    def start_anonymous(self, session: Session, lang: str | None) -> tuple[str, WebSession]:
        """The short pre-sign-in session that carries the sign-in form's CSRF token."""
        token, row = self.store.start(session, None)  # also purges this realm's expired sessions ...
        self._purge_orphans(session)  # ... and so their state rows
        session.add(PortalSessionState(id_hash=row.id_hash, subject_id=None, duress=False, lang=lang,
                                       created_at=self.ctx.clock.now()))
        session.flush()
        return token, row

    def end(self, session: Session, token: str | None) -> str | None:
        """End the session behind ``token`` (and its state); returns the subject it had opened."""
        if not token:
            return None
        row = self.store.load(session, token, touch=False)
        subject_id = row.principal_id if row is not None else None
        if row is not None:
            session.execute(delete(PortalSessionState).where(PortalSessionState.id_hash == row.id_hash))
        self.store.end(session, token)
        return subject_id

    def _purge_orphans(self, session: Session) -> None:
        session.execute(delete(PortalSessionState).where(
            PortalSessionState.id_hash.not_in(select(WebSession.id_hash).where(WebSession.realm == REALM))))

    # -- signing in -------------------------------------------------------------------

    def keys(self, code_value: str, address: str) -> list[ThrottleKey]:
        s = self.ctx.settings
        return [ThrottleKey("code", code_value, free=s.portal_code_free_failures),
                ThrottleKey("address", address, free=s.portal_address_free_failures)]

    def _code_failures(self, session: Session, key: ThrottleKey) -> int:
        row = session.get(LoginThrottle, key.digest(REALM))
        return row.failures if row is not None else 0

    def sign_in(self, code: str, pin: str, address: str, *, previous_token: str | None,
                lang: str | None) -> SignInOutcome:
        """Check code and PIN and, if they hold, start a new session (its own transactions)."""
        settings = self.ctx.settings
        clock = self.ctx.clock
        with self.ctx.sessions() as session, session.begin():
            locator, row = find_by_code(session, code)
            keys = self.keys(_code_key_value(code, locator), address)
            if row is not None:
                locked = row.locked_at is not None
            else:
                locked = self._code_failures(session, keys[0]) >= settings.portal_lockout_after
            if locked:
                return SignInOutcome(ok=False, locked=True)
            wait = self.throttle.retry_after(session, keys)
            if wait:
                return SignInOutcome(ok=False, retry_after=wait)
            found = (row.subject_id, row.code_hash, row.pin_hash, row.duress_pin_hash) if row is not None else None
        # The expensive hashes run outside any transaction (they would hold SQLite's write lock).
        match = match_sign_in(code=code, pin=pin, code_hash=found[1] if found else None,
                              pin_hash=found[2] if found else None, duress_pin_hash=found[3] if found else None,
                              subject_id=found[0] if found else None, hasher=self.hasher, dummy_hash=self._dummy)
        now = clock.now()
        with self.ctx.sessions() as session, session.begin():
            access = session.get(PortalAccess, found[0], with_for_update=True) if found else None
            if not match.ok or match.subject_id is None or access is None:
                self.throttle.failure(session, keys)
                just_locked = access is not None and record_sign_in_failure(
                    access, now=now, lock_after=settings.portal_lockout_after)
                subject_id = found[0] if found else None
                record(session, AuditEvent(AuditTag.PORTAL_SIGN_IN_FAIL, decision="deny", reason="sign_in_failed",
                                           subject_id=subject_id), actor=PERSON, at=now)
                if just_locked:
                    record(session, AuditEvent(AuditTag.PORTAL_LOCK, decision="info", reason="too_many_failures",
                                               subject_id=subject_id,
                                               details={"failures": settings.portal_lockout_after}),
                           actor=Actor.system(), at=now)
                return SignInOutcome(ok=False)
            if access.locked_at is not None:  # locked between the two transactions
                return SignInOutcome(ok=False, locked=True)
            self.throttle.success(session, keys[:1])
            record_sign_in_success(access)
            self.end(session, previous_token)  # the pre-sign-in session: a new id from here on
            self._purge_orphans(session)
            token, web = self.store.start(session, match.subject_id)
            session.add(PortalSessionState(id_hash=web.id_hash, subject_id=match.subject_id, duress=match.duress,
                                           lang=lang, created_at=now))
            record(session, AuditEvent(AuditTag.PORTAL_SIGN_IN, decision="allow", subject_id=match.subject_id),
                   actor=PERSON, at=now)
            if match.duress:
                self._raise_alert(session, match.subject_id, now)
            session.flush()
            return SignInOutcome(ok=True, token=token)

    def _raise_alert(self, session: Session, subject_id: str, now: datetime) -> None:
        subject = session.get(Subject, subject_id)
        if subject is None:  # pragma: no cover - portal_access rows reference a subject
            return
        alert = PortalAlert(id="alr_" + secrets.token_urlsafe(12), owner_agency_id=subject.owner_agency_id,
                            subject_id=subject_id, code=str(AlertCode.DURESS_SIGN_IN),
                            raised_at=now)
        session.add(alert)
        # For the advocate's agency (it reads its own entries) and the DPO; the person never sees
        # the audit log, only disclosures to agencies.
        record(session, AuditEvent(AuditTag.PORTAL_ALERT, decision="info", reason=str(AlertCode.DURESS_SIGN_IN),
                                   subject_id=subject_id, recipient_agency_id=subject.owner_agency_id,
                                   details={"alert_id": alert.id}),
               actor=Actor.system(), at=now)
