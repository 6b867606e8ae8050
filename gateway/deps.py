"""FastAPI dependencies as ``Annotated`` aliases: the context, a session, the calling agency."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from .audit.log import Actor
from .context import GatewayContext
from .errors import Forbidden, Unauthenticated
from .registry.models import Agency, AgencyKind, VettingStatus


def get_context(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[GatewayContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    """One session per request. Handlers open their own transaction with ``session.begin()``."""
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Caller:
    """The authenticated agency behind a request."""

    agency_id: str
    kind: str
    jurisdiction: str
    scopes: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return self.kind == AgencyKind.GATEWAY_OPERATOR

    def actor(self) -> Actor:
        return Actor(agency_id=self.agency_id, role=self.kind)


def get_caller(request: Request, ctx: ContextDep) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing_token", "A Bearer access token is required.")
    claims = ctx.tokens.verify(token.strip(), ctx.clock.now())
    # Its own short session, so the handler's session starts with no transaction open.
    with ctx.sessions() as session:
        agency = session.get(Agency, claims.agency_id)
        # Suspension takes effect on the very next request, not when the token expires.
        if agency is None or agency.vetting_status != VettingStatus.VETTED:
            raise Unauthenticated("client_suspended", "This agency may not use the gateway now.")
    request.scope.setdefault("state", {})["agency_id"] = agency.id
    return Caller(
        agency_id=agency.id,
        kind=agency.kind,
        jurisdiction=agency.jurisdiction,
        scopes=claims.scopes & frozenset(agency.scopes),
    )


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_scope(scope: str) -> Callable[[Caller], Caller]:
    """A dependency that demands ``scope`` of the caller's token (function-level authorisation)."""

    def check(caller: CallerDep) -> Caller:
        if scope not in caller.scopes:
            raise Forbidden("insufficient_scope", f"This call needs the scope {scope}.")
        return caller

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return check


def require_operator(caller: CallerDep) -> Caller:
    if not caller.is_operator or "registry:admin" not in caller.scopes:
        raise Forbidden("operator_only", "Only the gateway operator may do this.")
    return caller


OperatorDep = Annotated[Caller, Depends(require_operator)]
