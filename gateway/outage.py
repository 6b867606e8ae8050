"""A database that cannot be reached is a 503 the client may retry, never a 500.

PostgreSQL restarting, shutting down (``admin_shutdown``), refusing connections or not yet
accepting them, a connection dropped mid-request, a pool with no connection to give, and a lock
or statement timeout all reach the gateway as SQLAlchemy's ``OperationalError``,
``InterfaceError``, ``TimeoutError`` or a ``DBAPIError`` that invalidated its connection. Each is
answered with an RFC 9457 problem document, ``reason: database_unavailable``, and a
``Retry-After`` header; the log gets one line with the exception's type and the request id,
never a traceback, a statement or its bound parameters. The transaction that met the outage is
rolled back with its connection, so nothing is half-written.

:class:`DatabaseOutageMiddleware` catches these wherever they are raised (a route, a dependency,
a middleware that reads the database) before Starlette's last-resort handler would turn them into
a 500 and print a traceback; :func:`outage_in` also finds one behind a ``GatewayError`` that a
service raised from it.
"""

from __future__ import annotations

import logging

from sqlalchemy import exc as sa_exc
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServiceUnavailable

__all__ = ["RETRY_AFTER_S", "DatabaseOutageMiddleware", "database_unavailable", "log_outage", "outage_in"]

RETRY_AFTER_S = 5
"""What ``Retry-After`` says: about how long PostgreSQL takes to restart or fail over."""

log = logging.getLogger("gateway.database")


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def outage_in(exc: BaseException) -> BaseException | None:
    """The database outage ``exc`` is, or was raised from (``__cause__`` / ``__context__``), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _is_outage(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def database_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "database_unavailable",
        "The database is not reachable right now. Nothing was changed; retry later.",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def log_outage(outage: BaseException, request_id: object) -> None:
    """One line: the kind of failure and the request, never the statement, its parameters or a traceback."""
    log.warning("database unavailable", extra={"request_id": request_id, "error_type": type(outage).__name__})


class DatabaseOutageMiddleware:
    """Answers a database outage raised anywhere inside it with 503 ``database_unavailable``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            outage = outage_in(exc)
            if outage is None or started:
                raise
            request_id = scope.get("state", {}).get("request_id")
            log_outage(outage, request_id)
            problem = database_unavailable()
            body = problem.problem()
            body["request_id"] = request_id
            response = JSONResponse(body, status_code=problem.status, media_type="application/problem+json",
                                    headers=problem.headers)
            await response(scope, receive, send)
