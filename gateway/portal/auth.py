"""Signing the person in: access code + PIN, throttled as NIST SP 800-63B rev 4 asks.

One answer for every failure (unknown code, wrong code, wrong PIN, no PIN set yet): the
same status and the same page. A code nobody holds costs the same work as a wrong secret
(one Argon2id verification against a dummy hash). Only an attempt that presents the code's
correct secret goes on to the PINs (always both, the PIN and the duress PIN) and, when the PIN
is wrong, counts against the code: a decaying count with exponential back-off
(:mod:`gateway.web.throttle`), so the public locator alone slows nobody down, and nothing is
ever locked (waiting always helps; no lock only the advocate could lift). At
``portal_alert_after`` failures the advocate's agency gets an alert and a notice: someone
holds the card and is guessing. Every attempt spends the client address's budget of hash work
(:mod:`gateway.web.work_budget`); the address is the one ``GATEWAY_TRUSTED_PROXIES`` vouches
for, never a header anyone may write.

A duress PIN signs in to a session flagged ``duress``: the pages show an empty account and
an alert for the advocate is written in the same transaction (:class:`PortalAlert`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from consent.portal_access import (
    PortalAccess,
    code_secret_matches,
    find_by_code,
    match_pins,
    record_sign_in_failure,
    record_sign_in_success,
)
from consent.subjects import Subject
from crypto.passwords import SecretHasher
from kernel.ids import SHORT, new_id

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..exceptions.models import AgencyNotice
from ..web.models import WebSession
from ..web.sessions import SessionPolicy, SessionStore
from ..web.throttle import Throttle, ThrottleKey
from ..web.work_budget import WORK_REALM, spend, work_budget_key
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


@cache
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return SecretHasher(time_cost=time_cost, memory_cost=memory_kib).hash("nobody's secret at all")


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
        self.throttle = Throttle(REALM, ctx.clock)
        self.work = Throttle(WORK_REALM, ctx.clock)
        self.hasher = ctx.secret_hasher()
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

    def work_key(self, address: str) -> ThrottleKey:
        """The client's budget of Argon2id verifications (shared with the console's sign-in)."""
        return work_budget_key(self.ctx.settings, address)

    def code_key(self, subject_id: str) -> ThrottleKey:
        """Failed PINs presented with this person's correct code secret (nothing else counts)."""
        s = self.ctx.settings
        return ThrottleKey("code", subject_id, free=s.portal_code_free_failures, decay_s=s.portal_code_decay_s,
                           max_delay_s=s.portal_max_delay_s)

    def sign_in(self, code: str, pin: str, address: str, *, previous_token: str | None,
                lang: str | None) -> SignInOutcome:
        """Check code and PIN and, if they hold, start a new session (its own transactions).

        1. The client's hash budget pays for one verification, the code's secret (against the
           row's hash, or a dummy for a code nobody holds: the same work and the same answer).
        2. Only a correct secret goes on: the code's back-off is checked, the budget pays for two
           more (the PIN and the duress PIN, always both), and a wrong PIN counts against the code.
        """
        clock = self.ctx.clock
        work = self.work_key(address)
        with self.ctx.sessions() as session, session.begin():
            wait = spend(self.work, session, work, 1, room=3)  # the code's secret now, maybe both PINs later
            if wait:
                return SignInOutcome(ok=False, retry_after=wait)
            _locator, row = find_by_code(session, code)
            found = (row.subject_id, row.code_hash, row.pin_hash, row.duress_pin_hash) if row is not None else None
        # The expensive hashes run outside any transaction (they would hold SQLite's write lock).
        code_ok = code_secret_matches(code, found[1] if found else None, hasher=self.hasher, dummy_hash=self._dummy)
        if not code_ok or found is None:
            return self._failed(None)
        subject_id = found[0]
        with self.ctx.sessions() as session, session.begin():
            wait = (self.throttle.retry_after(session, [self.code_key(subject_id)])
                    or spend(self.work, session, work, 2))  # the two PIN verifications below
            if wait:
                return SignInOutcome(ok=False, retry_after=wait)
        match = match_pins(pin=pin, pin_hash=found[2], duress_pin_hash=found[3], subject_id=subject_id,
                           hasher=self.hasher, dummy_hash=self._dummy)
        now = clock.now()
        with self.ctx.sessions() as session, session.begin():
            access = session.get(PortalAccess, subject_id, with_for_update=True)
            if not match.ok or match.subject_id is None or access is None:
                return self._failed(subject_id, session=session, access=access)
            self.throttle.success(session, [self.code_key(subject_id)])
            record_sign_in_success(access)
            self.end(session, previous_token)  # the pre-sign-in session: a new id from here on
            self._purge_orphans(session)
            token, web = self.store.start(session, match.subject_id)
            session.add(PortalSessionState(id_hash=web.id_hash, subject_id=match.subject_id, duress=match.duress,
                                           lang=lang, created_at=now))
            record(session, AuditEvent(AuditTag.PORTAL_SIGN_IN, decision="allow", subject_id=match.subject_id),
                   actor=PERSON, at=now)
            if match.duress:
                self._raise_alert(session, match.subject_id, now, AlertCode.DURESS_SIGN_IN)
            session.flush()
            return SignInOutcome(ok=True, token=token)

    def _failed(self, subject_id: str | None, *, session: Session | None = None,
                access: PortalAccess | None = None) -> SignInOutcome:
        """Audit a failure; with the code's correct secret, count it against the code (and tell the
        advocate's agency once the count reaches ``portal_alert_after``)."""
        now = self.ctx.clock.now()
        if session is None:
            with self.ctx.sessions() as own, own.begin():
                record(own, AuditEvent(AuditTag.PORTAL_SIGN_IN_FAIL, decision="deny", reason="sign_in_failed"),
                       actor=PERSON, at=now)
            return SignInOutcome(ok=False)
        assert subject_id is not None
        [count] = self.throttle.failure(session, [self.code_key(subject_id)])
        if access is not None:
            record_sign_in_failure(access, now=now)
        record(session, AuditEvent(AuditTag.PORTAL_SIGN_IN_FAIL, decision="deny", reason="wrong_pin",
                                   subject_id=subject_id), actor=PERSON, at=now)
        if count == self.ctx.settings.portal_alert_after:
            self._raise_alert(session, subject_id, now, AlertCode.CODE_GUESSED)
        return SignInOutcome(ok=False)

    def _raise_alert(self, session: Session, subject_id: str, now: datetime, code: AlertCode) -> None:
        subject = session.get(Subject, subject_id)
        if subject is None:  # pragma: no cover - portal_access rows reference a subject
            return
        alert = PortalAlert(id=new_id("alr", size=SHORT), owner_agency_id=subject.owner_agency_id,
                            subject_id=subject_id, code=str(code), raised_at=now)
        session.add(alert)
        if code == AlertCode.CODE_GUESSED:  # in the agency's notices too: somebody holds the card and guesses
            session.add(AgencyNotice(id=new_id("ntc", size=SHORT), agency_id=subject.owner_agency_id,
                                     subject_id=subject_id, kind=str(code), details={"alert_id": alert.id},
                                     created_at=now))
        # For the advocate's agency (it reads its own entries) and the DPO; the person never sees
        # the audit log, only disclosures to agencies.
        record(session, AuditEvent(AuditTag.PORTAL_ALERT, decision="info", reason=str(code),
                                   subject_id=subject_id, recipient_agency_id=subject.owner_agency_id,
                                   details={"alert_id": alert.id}),
               actor=Actor.system(), at=now)
