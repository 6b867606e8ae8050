"""``/console/statistics``: the rapporteur's and the monitoring body's statistics page.

Build a table (what to count, breakdowns, period, epsilon), see its privacy cost and expected
error before anything is spent, release it, and see the result as a table and a chart, with
the signed CSV and JSON files to download. Only staff with the role ``rapporteur`` or
``monitoring_body``; a DPO or anyone else gets 403 and the refusal is audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.responses import RedirectResponse

from ..console.auth import ConsoleAuth, Staff
from ..console.views import render
from ..context import GatewayContext
from ..deps import ContextDep
from ..web.csrf import csrf_token_matches
from ..web.headers import apply_html_headers
from .chart import release_chart
from .dimensions import DIMENSIONS, Granularity, Source
from .files import release_json
from .release import StatisticsRefused
from .service import StatisticsService

router = APIRouter(prefix="/console/statistics", include_in_schema=False)

FormField = Annotated[str, Form()]


def _redirect(url: str) -> Response:
    return apply_html_headers(RedirectResponse(url, status_code=303))


def _staff(ctx: GatewayContext, request: Request) -> Staff | Response:
    """The signed-in rapporteur or monitoring-body member, or the response to send instead."""
    auth = ConsoleAuth(ctx)
    with ctx.sessions() as session, session.begin():
        staff, _row = auth.current(session, request)
    if staff is None:
        expired = request.cookies.get(auth.store.policy.cookie_name) is not None
        return _redirect("/console/login" + ("?expired=1" if expired else ""))
    if not StatisticsService(ctx).permitted(staff.actor(), staff.role):
        return render("message.html", status=403, staff=staff, title="Not available to your role",
                      message="Statistics are released only to the national rapporteur and the monitoring body.")
    return staff


def _form_values(ctx: GatewayContext, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    now = ctx.clock.now()
    year_ago = (now.replace(day=1) - timedelta(days=330)).strftime("%Y-%m")
    defaults = {"source": "persons", "dimensions": ["age_band", "sex"], "granularity": "year",
                "period_from": f"{now.year}-01" if now.month > 1 else year_ago,
                "period_to": now.strftime("%Y-%m"), "epsilon": StatisticsService(ctx).policy.default_epsilon}
    return {**defaults, **(raw or {})}


def _page(ctx: GatewayContext, staff: Staff, *, status: int = 200, values: dict[str, Any] | None = None,
          cost: dict[str, Any] | None = None, error: str | None = None) -> Response:
    service = StatisticsService(ctx)
    year = str(ctx.clock.now().year)
    return render("statistics.html", status=status, staff=staff, values=_form_values(ctx, values),
                  dimensions=list(DIMENSIONS.values()), sources=[str(s) for s in Source],
                  granularities=[str(g) for g in Granularity], policy=service.policy, cost=cost, error=error,
                  budget=service.budget([year]), year=year, recent=service.recent())


def _raw(source: str, dimensions: list[str], granularity: str, period_from: str, period_to: str,
         epsilon: str) -> dict[str, Any]:
    return {"source": source, "dimensions": dimensions, "granularity": granularity, "period_from": period_from,
            "period_to": period_to, "epsilon": epsilon}


@router.get("")
def statistics_page(request: Request, ctx: ContextDep) -> Response:
    staff = _staff(ctx, request)
    if isinstance(staff, Response):
        return staff
    return _page(ctx, staff)


def _signed_form(ctx: GatewayContext, request: Request, csrf_token: str) -> Staff | Response:
    """The signed-in statistics user behind a form post, or the page refusing it (no session, no
    role, or an expired form)."""
    staff = _staff(ctx, request)
    if isinstance(staff, Response):
        return staff
    if not csrf_token_matches(staff.csrf_token, csrf_token):
        return render("message.html", status=403, staff=staff, title="Request refused",
                      message="This form has expired. Go back, reload the page and try again.")
    return staff


@router.post("/cost")
def statistics_cost(
    request: Request, ctx: ContextDep, csrf_token: FormField = "", source: FormField = "",
    dimensions: Annotated[list[str] | None, Form()] = None, granularity: FormField = "year",
    period_from: FormField = "", period_to: FormField = "", epsilon: FormField = "",
) -> Response:
    signed = _signed_form(ctx, request, csrf_token)
    if isinstance(signed, Response):
        return signed
    staff = signed
    raw = _raw(source, dimensions or [], granularity, period_from, period_to, epsilon)
    service = StatisticsService(ctx)
    try:
        table = service.parse(raw, staff.actor())
    except StatisticsRefused as exc:
        return _page(ctx, staff, status=422, values=raw, error=exc.detail)
    return _page(ctx, staff, values={**raw, "epsilon": table.epsilon}, cost=service.cost(table).as_dict())


@router.post("/releases")
def statistics_release(
    request: Request, ctx: ContextDep, csrf_token: FormField = "", source: FormField = "",
    dimensions: Annotated[list[str] | None, Form()] = None, granularity: FormField = "year",
    period_from: FormField = "", period_to: FormField = "", epsilon: FormField = "",
) -> Response:
    signed = _signed_form(ctx, request, csrf_token)
    if isinstance(signed, Response):
        return signed
    staff = signed
    raw = _raw(source, dimensions or [], granularity, period_from, period_to, epsilon)
    service = StatisticsService(ctx)
    try:
        table = service.parse(raw, staff.actor())
        released = service.release(table, staff.actor())
    except StatisticsRefused as exc:
        return _page(ctx, staff, status=exc.status, values=raw, error=exc.detail)
    return _redirect(f"/console/statistics/releases/{released.release.id}")


@router.get("/releases/{release_id}")
def statistics_release_page(release_id: str, request: Request, ctx: ContextDep) -> Response:
    staff = _staff(ctx, request)
    if isinstance(staff, Response):
        return staff
    with ctx.sessions() as session, session.begin():
        row = StatisticsService.get(session, release_id)
        document = dict(row.document) if row is not None else None
    if document is None:
        return render("message.html", status=404, staff=staff, title="Not found", message="No such release.")
    labels = [DIMENSIONS[d].label if d in DIMENSIONS else d.capitalize() for d in document["columns"][:-1]]
    return render("statistics_release.html", staff=staff, doc=document, labels=labels,
                  chart=release_chart(document, title=" by ".join(labels)))


@router.get("/releases/{release_id}/download.{fmt}")
def statistics_download(release_id: str, fmt: str, request: Request, ctx: ContextDep) -> Response:
    staff = _staff(ctx, request)
    if isinstance(staff, Response):
        return staff
    with ctx.sessions() as session, session.begin():
        row = StatisticsService.get(session, release_id)
        if row is None or fmt not in ("csv", "json"):
            return render("message.html", status=404, staff=staff, title="Not found", message="No such file.")
        body: bytes | str = row.csv if fmt == "csv" else release_json(row.document, row.signature)
        name = row.id
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    response = Response(body, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="statistics-{name}.{fmt}"'})
    return apply_html_headers(response)
