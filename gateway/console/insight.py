"""``/console/people/{subject_id}`` and ``/console/charts``: a person's trail at a glance, and charts.

A person's page answers "who received what about this person, when, on what basis": releases
grouped by recipient, with the classes named (legend) and the basis (consent ids, linked, or the
exception's legal basis); refusals and other events below; portal sign-ins hidden unless asked
for. Looking is logged like every other console read. Authentication is the console's own
(:func:`gateway.console.routes._require`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import Response
from sqlalchemy import select

from ..audit import subject_keys
from ..audit.models import AuditEntry
from ..audit.tags import AuditTag
from ..deps import ContextDep
from ..web.headers import apply_html_headers
from .charts import WINDOW_DAYS, build_charts, render_svg
from .routes import _log_access, _require
from .views import EntryView, render

router = APIRouter(prefix="/console", include_in_schema=False)
NOISE = ("portal:session:",)
"""The person's own sign-ins and sign-outs: hidden from the trail unless asked for."""
TRAIL_LIMIT = 500
SubjectId = Annotated[str, FastAPIPath(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def _legend(policy_dir: Path, name: str, key: str) -> dict[str, str]:
    try:
        data = json.loads((policy_dir / "data" / f"{name}.json").read_text())[key]
    except (OSError, ValueError, KeyError):
        return {}
    out: dict[str, str] = {}
    for code, value in data.items():
        if isinstance(value, dict):
            named = value.get("name") or value.get("text") or value.get("label") or value.get("description")
            out[code] = str(named or code)
    return out


@router.get("/people/{subject_id}")
def person(subject_id: SubjectId, request: Request, ctx: ContextDep, noise: int = 0) -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        rows = list(session.scalars(select(AuditEntry).where(subject_keys.matches(AuditEntry.subject_id, subject_id))
                                    .order_by(AuditEntry.seq.desc()).limit(TRAIL_LIMIT)))
        hidden = sum(1 for e in rows if e.action.startswith(NOISE))
        shown = rows if noise else [e for e in rows if not e.action.startswith(NOISE)]
        released: dict[str, list[EntryView]] = defaultdict(list)
        refused: list[EntryView] = []
        other: list[EntryView] = []
        for entry in shown:
            view = EntryView(entry)
            if entry.decision == "deny":
                refused.append(view)
            elif entry.recipient_agency_id and entry.classes_released:
                released[entry.recipient_agency_id].append(view)
            else:
                other.append(view)
        classes = _legend(ctx.settings.policy_dir, "classes", "classes")
        used = sorted({c for views in released.values() for v in views for c in v.entry.classes_released}
                      | {c for v in refused for c in v.entry.classes_requested}, key=lambda c: (len(c), c))
        reasons = _legend(ctx.settings.policy_dir, "reasons", "reasons")
        _log_access(session, staff, ctx, AuditTag.AUDIT_VIEW, subject_id=subject_id if rows else None,
                    details={"view": "person", "results": len(shown), "subject_matched": bool(rows)})
        return render("person.html", staff=staff, subject_id=subject_id, released=dict(sorted(released.items())),
                      refused=refused, other=other, hidden=hidden, noise=bool(noise),
                      legend=[(c, classes.get(c, "")) for c in used],
                      reason_legend=sorted({(v.entry.reason, reasons.get(v.entry.reason or "", ""))
                                            for v in refused if v.entry.reason}),
                      truncated=len(rows) == TRAIL_LIMIT)


@router.get("/charts")
def charts(request: Request, ctx: ContextDep) -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        built = build_charts(session, ctx.clock.now(), ctx.settings.policy_dir)
        _log_access(session, staff, ctx, AuditTag.AUDIT_VIEW, details={"view": "charts"})
        return render("charts.html", staff=staff, charts=list(built.values()), window=WINDOW_DAYS)


@router.get("/charts/{name}.svg")
def chart_svg(name: str, request: Request, ctx: ContextDep) -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        chart = build_charts(session, ctx.clock.now(), ctx.settings.policy_dir, (name,)).get(name)
        if chart is None:
            return render("message.html", status=404, staff=staff, title="Not found", message="No such chart.")
        body = render_svg(chart)
    return apply_html_headers(Response(body, media_type="image/svg+xml"))
