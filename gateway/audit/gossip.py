"""Gossip: every SDK call carries the last tree head the agency accepted (``Tree-Head: <size> <root hex>``).

The gateway checks it against its own log. A head the log does not contain (another root
at that size, or a size the log never reached) means someone was shown another log: the
request is refused with 409 ``split_view`` and the refusal is audited, so the agency, the
witnesses and the DPO all see it. A missing or malformed header is ignored (the header is
the client's statement, not an authorisation).
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import Conflict
from . import tree
from .log import Actor, AuditEvent, record_refusal
from .tags import AuditTag

_HEADER = re.compile(rb"(0|[1-9][0-9]{0,18}) ([0-9a-f]{64})")


def head_on_log(session: Session, size: int, root_hex: str) -> bool:
    """Whether the log has (had) exactly this tree head."""
    if size > tree.tree_size(session):
        return False
    return tree.root_at(session, size).hex() == root_hex


class GossipMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = dict(scope.get("headers", [])).get(b"tree-head")
        match = _HEADER.fullmatch(value) if value is not None else None
        if match is not None:
            ctx = scope["app"].state.ctx
            size, root = int(match.group(1)), match.group(2).decode()
            if not await run_in_threadpool(_check, ctx.sessions, size, root):
                await run_in_threadpool(
                    record_refusal, ctx.sessions, AuditEvent(AuditTag.AUDIT_SPLIT_VIEW, decision="deny",
                                                             reason="split_view", details={"tree_size": size}),
                    actor=Actor(role="agency_sdk"), at=ctx.clock.now())
                problem = Conflict("split_view", f"The tree head of size {size} you accepted is not on this "
                                   "gateway's log: you were shown another log. Report it to the monitoring body.")
                await JSONResponse(problem.problem(), status_code=409, media_type="application/problem+json")(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


def _check(sessions: sessionmaker[Session], size: int, root: str) -> bool:
    with sessions() as session:
        return head_on_log(session, size, root)
