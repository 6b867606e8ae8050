"""``/console/retention``: the DPO's page of sealing and erasure notices and staleness warnings.

Every notice with its recipient, action, classes and state (acknowledged, waiting, **overdue**
past its deadline); active legal holds and court orders (counts, no reference); the warnings
raised to holding agencies (stale key details, deletions coming). No subject is shown: the DPO
follows an entry to the log. Looking is itself recorded (``audit:log:view``) in the read's
transaction, as on every console page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from .audit.log import AuditEvent, record
from .audit.tags import AuditTag
from .console.routes import _require
from .console.views import render
from .deps import ContextDep
from .retention_models import RetentionNotice, RetentionWarning, SubjectOrder
from .sealing import HOLDS, active_holds

router = APIRouter(prefix="/console", include_in_schema=False)


@dataclass(frozen=True)
class NoticeRow:
    id: str
    agency_id: str
    action: str
    classes: str
    created_at: datetime
    ack_due: datetime
    acknowledged_at: datetime | None
    state: str


def _state(notice: RetentionNotice, now: datetime) -> str:
    if notice.acknowledged_at is not None:
        return "acknowledged late" if notice.acknowledged_at > notice.ack_due else "acknowledged"
    return "overdue" if notice.ack_due <= now else "waiting"


@router.get("/retention")
def retention_page(request: Request, ctx: ContextDep) -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        now = ctx.clock.now()
        notices = [NoticeRow(id=n.id, agency_id=n.agency_id, action=n.action, classes=", ".join(n.classes) or "all",
                             created_at=n.created_at, ack_due=n.ack_due, acknowledged_at=n.acknowledged_at,
                             state=_state(n, now))
                   for n in session.scalars(select(RetentionNotice).order_by(RetentionNotice.created_at.desc(),
                                                                             RetentionNotice.id).limit(500))]
        holds = {kind: 0 for kind in HOLDS}
        for hold in active_holds(session, now):
            holds[hold.kind] += 1
        access_orders = int(session.scalar(select(func.count()).select_from(SubjectOrder).where(
            SubjectOrder.kind == "access_order", SubjectOrder.lifted_at.is_(None))) or 0)
        warnings = list(session.execute(
            select(RetentionWarning.agency_id, RetentionWarning.kind, func.count(), func.min(RetentionWarning.due_at))
            .group_by(RetentionWarning.agency_id, RetentionWarning.kind)
            .order_by(RetentionWarning.agency_id, RetentionWarning.kind)))
        overdue = sum(1 for n in notices if n.state == "overdue")
        record(session, AuditEvent(AuditTag.AUDIT_VIEW, decision="allow", purpose="oversight",
                                   details={"view": "retention", "results": len(notices), "overdue": overdue}),
               actor=staff.actor(), at=now)
        return render("retention.html", staff=staff, notices=notices, overdue=overdue, holds=holds,
                      access_orders=access_orders, warnings=warnings)
