"""HTTP plumbing: request ids, body limits, security headers, access logs, problem documents.

Every error leaves as an RFC 9457 problem document with a stable ``reason``; validation
errors never echo the submitted values (they may be personal data), and an unexpected
exception becomes a bare 500 ``internal_error`` with no stack trace.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import GatewayError, PayloadTooLarge
from .outage import database_unavailable, log_outage, outage_in

log = structlog.get_logger("gateway.http")

PROBLEM = "application/problem+json"
DEFAULT_SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
_SECURITY_HEADERS = [(name.encode(), value.encode()) for name, value in DEFAULT_SECURITY_HEADERS.items()]


def problem_response(exc: GatewayError, request: Request | None = None) -> JSONResponse:
    body = exc.problem()
    if request is not None:
        body["request_id"] = getattr(request.state, "request_id", None)
    return JSONResponse(body, status_code=exc.status, media_type=PROBLEM, headers=exc.headers)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413 before any handler parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = PayloadTooLarge("body_too_large", f"Request bodies are limited to {self.max_bytes} bytes.")
        response = JSONResponse(exc.problem(), status_code=413, media_type=PROBLEM)
        await response(scope, receive, send)


class RequestContextMiddleware:
    """Request id, security headers on every response, and one access-log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # The route template, never the raw path or query: no ids of people in access logs.
            path = getattr(route, "path", None) or "<unmatched>"
            if not path.startswith(("/portal", "/p/")):
                log.info(
                    "request",
                    method=scope.get("method"),
                    route=path,
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                    request_id=request_id,
                    agency=scope.get("state", {}).get("agency_id"),
                )


#: Validation error types a request model raises on purpose: each is itself the problem's reason.
PRECISE_REASONS = frozenset({"staff_field_from_person_token"})


def _validation_reason(errors: list[dict[str, Any]]) -> tuple[int, str]:
    types = {str(e.get("type")) for e in errors}
    if "json_invalid" in types:
        return 400, "malformed_json"
    if types & PRECISE_REASONS:
        return 422, sorted(types & PRECISE_REASONS)[0]
    if types and types <= {"extra_forbidden"}:
        return 422, "unknown_field"
    if "missing" in types and any(tuple(e.get("loc", ()))[:1] == ("body",) and len(e.get("loc", ())) == 1
                                  for e in errors):
        return 400, "missing_body"
    return 422, "invalid_request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        outage = outage_in(exc) if exc.status == 500 else None
        if outage is not None:  # a service's 500 raised from a database outage: 503, retry later
            log_outage(outage, getattr(request.state, "request_id", None))
            return problem_response(database_unavailable(), request)
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors())
        status, reason = _validation_reason(raw)
        # Field locations and error kinds only: never the submitted value.
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "type": str(e.get("type")), "msg": str(e.get("msg"))}
            for e in raw
        ]
        err = GatewayError(reason, "The request does not match the schema.", extra={"errors": errors})
        body = err.problem()
        body["status"] = status
        body["title"] = "Malformed request" if status == 400 else "Invalid request"
        body["request_id"] = getattr(request.state, "request_id", None)
        return JSONResponse(body, status_code=status, media_type=PROBLEM)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(
            exc.status_code, "http_error"
        )
        err = GatewayError(reason, reason.replace("_", " "))
        body = err.problem()
        body["status"] = exc.status_code
        body["title"] = reason.replace("_", " ").capitalize()
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        outage = outage_in(exc)
        if outage is not None:  # normally answered by DatabaseOutageMiddleware before it gets here
            log_outage(outage, getattr(request.state, "request_id", None))
            return problem_response(database_unavailable(), request)
        logging.getLogger("gateway.error").error(
            "unhandled error", extra={"request_id": getattr(request.state, "request_id", None),
                                      "error_type": type(exc).__name__}
        )
        err = GatewayError("internal_error", "Something went wrong. Nothing was changed.")
        body = err.problem()
        body["request_id"] = getattr(request.state, "request_id", None)
        return JSONResponse(body, status_code=500, media_type=PROBLEM)


def configure_logging(level: str = "INFO") -> None:
    """JSON log lines on stdout: ids, codes and timings only."""
    logging.basicConfig(level=level, format="%(message)s")
    structlog.configure(
        processors=[
            # First: a line below the level is dropped before it is stamped and rendered.
            structlog.stdlib.filter_by_level,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
