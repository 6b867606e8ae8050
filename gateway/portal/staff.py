"""``/console/requests``: correction requests and complaints from the portal, for the DPO and the
monitoring body. English only, like the rest of the console; the console's own sign-in.

A request is shown to a console user only if their role is one it is routed to, and never
to a user of the agency the request is about (a complaint about agency X does not reach X,
whoever at X signs in). Each status change is appended to the request's history, audited,
and visible to the person in the portal (the status and outcome, not staff notes).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse

from crypto.errors import DecryptionFailed
from kernel.ids import SHORT, new_id

from ..at_rest import AtRest
from ..audit import subject_keys
from ..audit.log import AuditEvent, record
from ..audit.tags import AuditTag
from ..console.auth import ConsoleAuth, Staff
from ..deps import ContextDep
from ..settings import PACKAGE_ROOT
from ..web.csrf import csrf_token_matches
from ..web.headers import apply_html_headers
from .content import agency_names
from .models import MESSAGE_KEY, OUTCOMES_BY_KIND, PortalRequest, PortalRequestEvent, RequestKind, RequestStatus

router = APIRouter(prefix="/console/requests", include_in_schema=False)
log = logging.getLogger("gateway.portal")

_env = Environment(loader=FileSystemLoader(PACKAGE_ROOT / "templates"),
                   autoescape=select_autoescape(["html"]), undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True)
_env.filters["utc"] = lambda v: v.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if v else "—"


def _render(name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return apply_html_headers(HTMLResponse(_env.get_template(f"portal/{name}").render(**context),
                                           status_code=status))


def visible_to(staff: Staff, row: PortalRequest) -> bool:
    """Routed to the user's role, and not about the user's own agency."""
    if staff.role not in (row.routed_to or []):
        return False
    return not (row.about_agency_id and staff.agency_id and row.about_agency_id == staff.agency_id)


def _readable(at_rest: AtRest, sealed: str, where: str, subject_key: bytes | None) -> str:
    """Open with the subject's key (erased: gone) and the ring's, or the ring's alone for older texts."""
    try:
        return at_rest.open(MESSAGE_KEY, sealed, where=where, subject_key=subject_key)
    except DecryptionFailed:
        # Moved from another row, altered, or written under another key: never show a wrong text.
        log.warning("stored text does not open", extra={"row": where})
        return "[this text cannot be decrypted]"


def _staff(ctx: Any, request: Request, session: Session) -> Staff | Response:
    staff, _row = ConsoleAuth(ctx).current(session, request)
    if staff is None:
        return apply_html_headers(RedirectResponse("/console/login", status_code=303))
    return staff


def _not_found(staff: Staff) -> HTMLResponse:
    return _render("staff_message.html", status=404, staff=staff, title="Not found",
                   message="No such request, or it is not routed to you.")


@router.get("")
def list_requests(request: Request, ctx: ContextDep, status: str = "open") -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _staff(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        query = select(PortalRequest).order_by(PortalRequest.created_at.desc(), PortalRequest.id).limit(500)
        if status == "open":
            query = query.where(PortalRequest.status != RequestStatus.RESOLVED)
        rows = [r for r in session.scalars(query) if visible_to(staff, r)]
        names = agency_names(session, (r.about_agency_id or "" for r in rows))
        return _render("staff_list.html", staff=staff, rows=rows, names=names, showing=status)


@router.get("/{request_id}")
def show_request(request_id: str, request: Request, ctx: ContextDep) -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _staff(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        row = session.get(PortalRequest, request_id[:64])
        if row is None or not visible_to(staff, row):
            return _not_found(staff)
        events = list(session.scalars(select(PortalRequestEvent).where(PortalRequestEvent.request_id == row.id)
                                      .order_by(PortalRequestEvent.at, PortalRequestEvent.id)))
        names = agency_names(session, [row.about_agency_id or ""])
        record(session, AuditEvent(AuditTag.AUDIT_VIEW, decision="allow", subject_id=row.subject_id,
                                   purpose="oversight", details={"view": "portal_request", "request_id": row.id}),
               actor=staff.actor(), at=ctx.clock.now())
        key = ctx.at_rest()
        subject_key = subject_keys.existing_text_key(session, row.subject_id)
        notes = {e.id: _readable(key, e.note, e.id, subject_key) for e in events if e.note}
        return _render("staff_request.html", staff=staff, row=row, events=events, names=names,
                       message=_readable(key, row.message, row.id, subject_key), notes=notes,
                       statuses=[s.value for s in RequestStatus],
                       outcomes=[o.value for o in OUTCOMES_BY_KIND[RequestKind(row.kind)]])


Field = Annotated[str, Form()]


@router.post("/{request_id}")
def update_request(request_id: str, request: Request, ctx: ContextDep, csrf_token: Field = "", status: Field = "",
                   outcome: Field = "", note: Field = "") -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _staff(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        if not csrf_token_matches(staff.csrf_token, csrf_token):
            return _render("staff_message.html", status=403, staff=staff, title="Request refused",
                           message="This form has expired or did not come from the console. Reload and try again.")
        row = session.get(PortalRequest, request_id[:64], with_for_update=True)
        if row is None or not visible_to(staff, row):
            return _not_found(staff)
        allowed = [o.value for o in OUTCOMES_BY_KIND[RequestKind(row.kind)]]
        if status not in [s.value for s in RequestStatus] or (status == RequestStatus.RESOLVED
                                                               and outcome not in allowed):
            return _render("staff_message.html", status=422, staff=staff, title="Not changed",
                           message="Choose a status, and an outcome when the request is resolved.")
        now: datetime = ctx.clock.now()
        row.status = status
        row.outcome = outcome if status == RequestStatus.RESOLVED else None
        row.updated_at = now
        event_id = new_id("rqe", size=SHORT)
        text = note.strip()[:2000]
        session.add(PortalRequestEvent(id=event_id, request_id=row.id, status=status,
                                       outcome=row.outcome, at=now, by_role=staff.role, by_user=staff.username,
                                       note=ctx.at_rest().seal(MESSAGE_KEY, text, where=event_id,
                                                               subject_key=subject_keys.text_key(
                                                                   session, row.subject_id, at=now))
                                       if text else None))
        record(session, AuditEvent(AuditTag.PORTAL_REQUEST_UPDATE, decision="info", subject_id=row.subject_id,
                                   details={"request_id": row.id, "status": status, "outcome": row.outcome}),
               actor=staff.actor(), at=now)
    return apply_html_headers(RedirectResponse(f"/console/requests/{row.id}", status_code=303))
