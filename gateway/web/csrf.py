"""Synchroniser-token CSRF protection: every form carries the token of the session it was served in."""

from __future__ import annotations

import hmac
import secrets

__all__ = ["CSRF_FIELD", "csrf_token_matches", "new_csrf_token"]

CSRF_FIELD = "csrf_token"


def new_csrf_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def csrf_token_matches(expected: str | None, submitted: object) -> bool:
    """Constant-time comparison; a missing, empty or non-string token never matches."""
    if not expected or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
