"""``/v1/statistics``: the catalogue, the cost of a table, releases and their signed files.

Only agencies of kind ``rapporteur`` or ``monitoring_body`` may call these; any other agency
gets 403 ``statistics_role_required`` (audited).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..deps import Caller, CallerDep, ContextDep, SessionDep
from ..errors import Conflict, Forbidden, NotFound, Unprocessable
from ..responses import StatisticsCatalogueOut, StatisticsCostOut, StatisticsReleaseOut
from .files import release_json
from .release import StatisticsRefused, TableRequest
from .service import StatisticsService

router = APIRouter(prefix="/v1/statistics", tags=["statistics"])


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _statistics_caller(caller: CallerDep, request: Request, ctx: ContextDep) -> Caller:
    allowed = await run_in_threadpool(StatisticsService(ctx).permitted, caller.actor(), caller.kind,
                                      _request_id(request))
    if not allowed:
        raise Forbidden("statistics_role_required",
                        "Only the national rapporteur and the monitoring body may ask for statistics.")
    return caller


StatisticsCaller = Annotated[Caller, Depends(_statistics_caller)]


class TableBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=20)
    dimensions: list[Annotated[str, Field(max_length=40)]] = Field(max_length=8)
    period_from: str = Field(max_length=7)
    period_to: str = Field(max_length=7)
    granularity: str = Field(default="year", max_length=10)
    epsilon: float | None = None


def _parse(service: StatisticsService, body: TableBody, caller: Caller, request: Request) -> TableRequest:
    raw = body.model_dump(exclude_none=True)
    try:
        return service.parse(raw, caller.actor(), _request_id(request))
    except StatisticsRefused as exc:
        raise Unprocessable(exc.reason, exc.detail) from None


@router.get("/catalogue", response_model=StatisticsCatalogueOut,
            summary="What tables may be asked for, and the defaults")
def catalogue(ctx: ContextDep, caller: StatisticsCaller) -> dict[str, Any]:
    del caller
    return StatisticsService(ctx).catalogue()


@router.post("/cost", response_model=StatisticsCostOut,
             summary="The privacy cost and expected error of a table, before releasing it")
def table_cost(body: TableBody, request: Request, ctx: ContextDep, caller: StatisticsCaller) -> dict[str, Any]:
    service = StatisticsService(ctx)
    table = _parse(service, body, caller, request)
    return {"table": table.describe(), **service.cost(table).as_dict()}


@router.post("/releases", status_code=201, response_model=StatisticsReleaseOut,
             summary="Release a table (spends privacy budget; signed JSON)")
def create_release(body: TableBody, request: Request, ctx: ContextDep, caller: StatisticsCaller) -> Response:
    service = StatisticsService(ctx)
    table = _parse(service, body, caller, request)
    try:
        released = service.release(table, caller.actor(), _request_id(request))
    except StatisticsRefused as exc:
        error = Conflict if exc.status == 409 else Unprocessable
        raise error(exc.reason, exc.detail, extra=exc.extra) from None
    return Response(release_json(released.document, released.signature), status_code=201,
                    media_type="application/json",
                    headers={"Location": f"/v1/statistics/releases/{released.release.id}.json"})


@router.get("/releases/{release_id}.json", response_model=StatisticsReleaseOut, summary="A release as signed JSON")
def release_as_json(release_id: str, session: SessionDep, caller: StatisticsCaller) -> Response:
    del caller
    with session.begin():
        row = StatisticsService.get(session, release_id)
        if row is None:
            raise NotFound()
        body = release_json(row.document, row.signature)
    return Response(body, media_type="application/json")


@router.get("/releases/{release_id}.csv", summary="A release as signed CSV",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}, response_class=Response)
def release_as_csv(release_id: str, session: SessionDep, caller: StatisticsCaller) -> Response:
    del caller
    with session.begin():
        row = StatisticsService.get(session, release_id)
        if row is None:
            raise NotFound()
        body = row.csv
    return Response(body, media_type="text/csv; charset=utf-8")
