"""Who may use the DPO console, and signing them in: argon2id password plus a one-time code.

Unknown user, wrong password, wrong code and a replayed code all get the same answer,
after the same work (a dummy argon2id verification and a dummy code check stand in for
what an unknown account cannot do). Each attempt, failed or not, is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from crypto.passwords import SecretHasher

from ..accounts import StaffAccount, StaffRole
from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..web.models import WebSession
from ..web.sessions import SessionPolicy, SessionStore
from ..web.throttle import Throttle, ThrottleKey
from ..web.totp import matching_step, spend_code
from ..web.work_budget import WORK_REALM, spend, work_budget_key

__all__ = ["CONSOLE_ROLES", "ConsoleAuth", "SignInOutcome", "Staff"]

CONSOLE_ROLES = frozenset({StaffRole.DPO.value, StaffRole.MONITORING_BODY.value, StaffRole.RAPPORTEUR.value})
AUDIT_ROLES = frozenset({StaffRole.DPO.value, StaffRole.MONITORING_BODY.value})
"""Roles that see the audit log itself; the rapporteur sees only statistics (/console/statistics)."""
REALM = "console"
COOKIE = "__Host-gw-console"


@dataclass(frozen=True)
class Staff:
    """A signed-in console user."""

    account_id: str
    username: str
    role: str
    agency_id: str | None
    csrf_token: str

    def actor(self) -> Actor:
        return Actor(agency_id=self.agency_id, role=self.role, user=self.username)


@dataclass(frozen=True)
class SignInOutcome:
    ok: bool
    token: str | None = None
    retry_after: int = 0


@cache
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return SecretHasher(time_cost=time_cost, memory_cost=memory_kib).hash("not a password of anyone")


class ConsoleAuth:
    """Sessions, throttling and sign-in for the console, built from the gateway context."""

    def __init__(self, ctx: GatewayContext) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.store = SessionStore(
            SessionPolicy(realm=REALM, cookie_name=COOKIE, idle_s=settings.console_session_idle_s,
                          absolute_s=settings.console_session_absolute_s),
            ctx.clock,
        )
        self.throttle = Throttle(REALM, ctx.clock)
        self.work = Throttle(WORK_REALM, ctx.clock)
        self.hasher = ctx.secret_hasher()
        self._dummy = _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib)

    # -- sessions ---------------------------------------------------------------------

    def current(self, session: Session, request: Request) -> tuple[Staff | None, WebSession | None]:
        """The signed-in staff member behind the request's cookie (the session is touched)."""
        row = self.store.from_request(session, request)
        if row is None or row.principal_id is None:
            return None, row
        account = session.get(StaffAccount, row.principal_id)
        if account is None or not account.usable or not account.all_roles() & CONSOLE_ROLES:
            return None, None
        role = sorted(account.all_roles() & CONSOLE_ROLES)[0]
        return Staff(account.id, account.username, role, account.agency_id, row.csrf_token), row

    # -- signing in -------------------------------------------------------------------

    @staticmethod
    def keys(username: str) -> list[ThrottleKey]:
        """Failed sign-ins of one user name (hashed; existing or not): a decaying count with back-off up
        to 15 minutes, as for the portal. No per-address count: one proxy or office must not be able
        to keep everyone behind it out. The client's hash work is budgeted separately."""
        return [ThrottleKey("user", username.casefold(), free=5, decay_s=900, max_delay_s=900)]

    def sign_in(self, username: str, password: str, code: str, address: str, *, previous_token: str | None,
                roles: frozenset[str] | None = CONSOLE_ROLES) -> SignInOutcome:
        """Check the credentials and, if they hold, start a new session (its own transactions).

        The fallback to a passkey (see :mod:`gateway.staff.passkeys`): password and a one-time code.
        ``roles``: the account must hold one of them (None: any active staff account)."""
        keys = self.keys(username)
        work = work_budget_key(self.ctx.settings, address)
        clock = self.ctx.clock
        with self.ctx.sessions() as session, session.begin():
            wait = self.throttle.retry_after(session, keys) or spend(self.work, session, work, 1)  # the password
            if wait:
                return SignInOutcome(ok=False, retry_after=wait)
            account = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
            if account is not None and (not account.usable or (roles is not None and not account.all_roles() & roles)):
                account = None
            found = (account.id, account.password_hash, account.totp_secret, account.username, account.role,
                     account.agency_id) if account is not None else None
        # The expensive hash runs outside any transaction (it would hold SQLite's write lock).
        password_ok = self.hasher.verify(found[1] if found else self._dummy, password)
        now = clock.now()
        step = matching_step(found[2] if found else None, code, now)
        with self.ctx.sessions() as session, session.begin():
            ok = found is not None and password_ok and step is not None and spend_code(session, found[0], step, now)
            if not ok or found is None:
                self.throttle.failure(session, keys)
                record(session, AuditEvent(AuditTag.CONSOLE_SIGN_IN_FAIL, decision="deny", reason="sign_in_failed"),
                       actor=Actor(role=found[4], user=found[3], agency_id=found[5]) if found else Actor(),
                       at=now)
                return SignInOutcome(ok=False)
            self.throttle.success(session, keys)
            self.store.end(session, previous_token)  # the pre-sign-in session: a new id from here on
            token, _row = self.store.start(session, found[0])
            record(session, AuditEvent(AuditTag.CONSOLE_SIGN_IN, decision="allow"),
                   actor=Actor(role=found[4], user=found[3], agency_id=found[5]), at=now)
            return SignInOutcome(ok=True, token=token)
