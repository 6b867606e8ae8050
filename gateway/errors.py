"""The gateway's error tree and its single mapping to RFC 9457 problem documents.

::

    GatewayError                      (500 internal_error — never shown with detail)
    ├── BadRequest                    400
    ├── Unauthenticated               401  (WWW-Authenticate: Bearer)
    ├── Forbidden                     403  (function-level: wrong scope or role)
    ├── NotFound                      404  (also for objects owned by someone else)
    ├── Conflict                      409
    ├── Gone                          410
    ├── PayloadTooLarge               413
    ├── Unprocessable                 422  (a domain rule refused the request)
    ├── TooManyRequests              429
    └── ServiceUnavailable            503

Every error carries a stable snake_case ``reason`` that clients may branch on, and a
human ``detail`` that never contains personal data or payload values.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error the API deliberately answers with."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        reason: str,
        detail: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason.replace("_", " ")
        self.extra = extra or {}
        self.headers = headers or {}

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body."""
        body: dict[str, Any] = {
            "type": f"urn:safe-referral:problem:{self.reason}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "reason": self.reason,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(GatewayError):
    status = 400
    title = "Bad request"


class Unauthenticated(GatewayError):
    status = 401
    title = "Unauthenticated"

    def __init__(self, reason: str = "invalid_token", detail: str | None = None) -> None:
        super().__init__(reason, detail, headers={"WWW-Authenticate": f'Bearer error="{reason}"'})


class Forbidden(GatewayError):
    status = 403
    title = "Forbidden"


class NotFound(GatewayError):
    status = 404
    title = "Not found"

    def __init__(self, reason: str = "not_found", detail: str | None = None) -> None:
        super().__init__(reason, detail or "No such object, or it is not yours to see.")


class Conflict(GatewayError):
    status = 409
    title = "Conflict"


class Gone(GatewayError):
    status = 410
    title = "Gone"


class PayloadTooLarge(GatewayError):
    status = 413
    title = "Payload too large"


class Unprocessable(GatewayError):
    status = 422
    title = "Request refused by a rule"


class TooManyRequests(GatewayError):
    status = 429
    title = "Too many requests"


class ServiceUnavailable(GatewayError):
    status = 503
    title = "Service unavailable"
