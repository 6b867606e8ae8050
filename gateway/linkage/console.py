"""``/console/linkage``: the DPO's page of linkage questions per agency, probing agencies first.

Like every console page, looking is itself recorded (``audit:log:view``) in the read's transaction.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..audit.log import AuditEvent, record
from ..audit.tags import AuditTag
from ..console.routes import _require
from ..console.views import render
from ..deps import ContextDep
from . import service

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/linkage")
def linkage_activity(request: Request, ctx: ContextDep, days: int = 7) -> Response:
    days = min(max(days, 1), 90)
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        now = ctx.clock.now()
        rows = service.activity(session, now, days=days)
        record(session, AuditEvent(AuditTag.AUDIT_VIEW, decision="allow", purpose="oversight",
                                   details={"view": "linkage", "days": days, "results": len(rows)}),
               actor=staff.actor(), at=now)
        return render("linkage.html", staff=staff, rows=rows, days=days, per_hour=service.QUERIES_PER_HOUR,
                      probing=sum(1 for r in rows if r.probing))
