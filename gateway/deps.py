"""FastAPI dependencies as ``Annotated`` aliases: the context, a session, the calling agency.

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in the
thread pool, a hop per dependency per request. Only :func:`get_caller` (a database read) and
the handlers themselves run there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from . import db
from .accounts import AccountStatus, StaffAccount
from .audit.log import Actor, AuditEvent, record_refusal
from .audit.tags import AuditTag
from .auth.permission import Permission
from .context import GatewayContext
from .errors import Forbidden, Unauthenticated
from .registry.models import Agency, AgencyKind, VettingStatus
from .staff.roles import Entitlement, entitled, policy_role


async def get_context(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[GatewayContext, Depends(get_context)]


async def get_session(ctx: ContextDep) -> AsyncIterator[Session]:
    """One session per request. Handlers open their own transaction with ``session.begin()``.

    Making a session touches no database; closing one whose transactions all ended touches
    none either, so only a session left inside a transaction is closed in the thread pool.
    """
    session = ctx.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Person:
    """The signed-in staff member an agency's client acts for (proven by an exchanged person token,
    RFC 8693). Roles are the account's, read on every request: a client cannot raise them."""

    account_id: str
    roles: frozenset[str]

    @property
    def policy_role(self) -> str | None:
        return policy_role(self.roles)


@dataclass(frozen=True)
class Caller:
    """The authenticated agency behind a request, and the person it acts for, if any."""

    agency_id: str
    kind: str
    jurisdiction: str
    scopes: frozenset[str]
    person: Person | None = None

    @property
    def is_operator(self) -> bool:
        return self.kind == AgencyKind.GATEWAY_OPERATOR

    @property
    def user(self) -> str | None:
        """The person's account id (what the audit log names), or None for the agency's system."""
        return self.person.account_id if self.person is not None else None

    def actor(self) -> Actor:
        return Actor(agency_id=self.agency_id, role=self.kind, user=self.user)


_PERSON = select(StaffAccount.agency_id, StaffAccount.status, StaffAccount.disabled, StaffAccount.roles,
                 StaffAccount.role, StaffAccount.generation).where(StaffAccount.id == bindparam("account_id"))

_CALLER_AGENCY = select(Agency.id, Agency.kind, Agency.jurisdiction, Agency.vetting_status, Agency.scopes).where(
    Agency.id == bindparam("agency_id"))


def get_caller(request: Request, ctx: ContextDep) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing_token", "A Bearer access token is required.")
    claims = ctx.tokens.verify(token.strip(), ctx.clock.now())
    # Read now, on every request (no cache): suspension takes effect on the very next request,
    # not when the token expires. Its own short read transaction, so the handler's session
    # starts with none open.
    person: Person | None = None
    superseded = False
    with db.read_connection(ctx.engine) as conn:
        agency = conn.execute(_CALLER_AGENCY, {"agency_id": claims.agency_id}).first()
        if claims.person_id is not None:
            # The person's account, now: revocation or suspension takes effect on the next request.
            account = conn.execute(_PERSON, {"account_id": claims.person_id}).first()
            if (account is None or account.agency_id != claims.agency_id or account.disabled
                    or account.status != AccountStatus.ACTIVE):
                raise Unauthenticated("person_not_active", "The person this token acts for cannot act now.")
            superseded = account.generation != claims.person_generation
            person = Person(claims.person_id, frozenset(account.roles or [account.role]))
    if superseded:
        # Recovered (or revoked) since the person signed in: every older token ends now. Audited: it
        # may be the lost device itself still being used.
        record_refusal(ctx.sessions, AuditEvent(AuditTag.STAFF_PERSON_REFUSE, decision="deny",
                                                reason="person_token_revoked",
                                                details={"token_generation": claims.person_generation}),
                       actor=Actor(agency_id=claims.agency_id, role="agency", user=claims.person_id),
                       at=ctx.clock.now())
        raise Unauthenticated("person_token_revoked", "The person's account was recovered or revoked after this "
                              "token was issued; the person must sign in again.")
    if agency is None or agency.vetting_status != VettingStatus.VETTED:
        raise Unauthenticated("client_suspended", "This agency may not use the gateway now.")
    request.scope.setdefault("state", {})["agency_id"] = agency.id
    return Caller(
        agency_id=agency.id,
        kind=agency.kind,
        jurisdiction=agency.jurisdiction,
        scopes=claims.scopes & frozenset(agency.scopes),
        person=person,
    )


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_scope(scope: Permission) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that demands ``scope`` of the caller's token (function-level authorisation)."""

    async def check(caller: CallerDep) -> Caller:
        if scope not in caller.scopes:
            raise Forbidden("insufficient_scope", f"This call needs the scope {scope}.")
        return caller

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return check


def person_token(entitlement: Entitlement) -> dict[str, object]:
    """``openapi_extra`` for an operation that needs a person's token (an RFC 8693 exchanged token
    acting for a signed-in staff member holding a role with ``entitlement``)."""
    return {"x-person-token": {
        "required": True, "entitlement": entitlement.value,
        "description": "Send an access token acting for a signed-in staff member: the agency's client exchanges "
                       "the person token from /staff (RFC 8693 token exchange at /oauth/token). The person's "
                       f"roles must allow {entitlement.value}.",
    }}


def require_person(scope: Permission, entitlement: Entitlement) -> Callable[[Caller, Request], Caller]:
    """A dependency for person-bound actions: ``scope`` on the token, and the token acts for a
    signed-in staff member whose account holds a role entitled to ``entitlement``."""
    def check(caller: CallerDep, request: Request) -> Caller:
        # A plain def (the thread pool): a refusal is audited, which is a database write.
        if scope not in caller.scopes:
            raise Forbidden("insufficient_scope", f"This call needs the scope {scope}.")
        error: Forbidden | None = None
        if caller.person is None:
            error = Forbidden("person_token_required",
                              "This action is a person's: use a token exchanged for the signed-in staff member.")
        elif not entitled(caller.person.roles, entitlement):
            error = Forbidden("role_not_entitled", f"The signed-in person's roles do not allow {entitlement.value}.")
        if error is None:
            return caller
        ctx: GatewayContext = request.app.state.ctx
        route = request.scope.get("route")
        record_refusal(ctx.sessions, AuditEvent(AuditTag.STAFF_PERSON_REFUSE, decision="deny", reason=error.reason,
                                                details={"entitlement": entitlement.value,
                                                         "operation": getattr(route, "path", "")}),
                       actor=caller.actor(), at=ctx.clock.now())
        raise error

    check.__name__ = f"require_person_{entitlement.value}"
    return check


async def require_operator(caller: CallerDep) -> Caller:
    if not caller.is_operator or Permission.REGISTRY_ADMIN not in caller.scopes:
        raise Forbidden("operator_only", "Only the gateway operator may do this.")
    return caller


OperatorDep = Annotated[Caller, Depends(require_operator)]


def require_operator_person(entitlement: Entitlement) -> Callable[[Caller, Request], Caller]:
    """The gateway operator's client acting for one of the operator's signed-in staff members."""
    person_check = require_person(Permission.REGISTRY_ADMIN, entitlement)

    def check(caller: OperatorDep, request: Request) -> Caller:
        return person_check(caller, request)

    check.__name__ = f"require_operator_person_{entitlement.value}"
    return check
