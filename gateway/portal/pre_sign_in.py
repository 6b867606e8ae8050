"""The sign-in form's CSRF protection without a database row: anonymous pages write nothing.

An anonymous visitor gets a signed double-submit token (OWASP CSRF cheat sheet, "signed double
submit cookie"): a cookie ``__Host-pre`` holding 256 random bits, the time it was issued and the
language chosen before signing in, and in the form an HMAC-SHA256 of that cookie under a key
derived from the gateway's seed. The sign-in POST is accepted only when the cookie is younger
than the pre-sign-in lifetime and the form's token is its HMAC. The cookie is ``__Host-``
prefixed, HttpOnly and SameSite=Strict, so another site can neither read, plant nor send it;
without the key nobody can compute a form token for it.

Nothing here touches the database: a visitor who loads ``GET /p/`` a million times grows no
table (issue 17, attack 7). Throttle state is written only on a sign-in POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from crypto.passwords import random_token

__all__ = ["PRE_COOKIE", "PRE_KEY_LABEL", "PreSignIn", "PreSignInTokens"]

PRE_COOKIE = "__Host-pre"
"""A neutral name, like the session cookie's."""
PRE_KEY_LABEL = "portal-pre-sign-in-csrf"
_LANG_MAX = 12


@dataclass(frozen=True)
class PreSignIn:
    """One pre-sign-in cookie: its value, the form token that goes with it, and the chosen language."""

    cookie: str
    csrf_token: str
    lang: str | None


class PreSignInTokens:
    """Issue and check pre-sign-in cookies under one key; ``lifetime_s`` bounds a cookie's age."""

    def __init__(self, key: bytes, lifetime_s: int) -> None:
        if len(key) < 32:
            raise ValueError("a 256-bit key is needed")
        self._key = key
        self.lifetime_s = lifetime_s

    def _mac(self, cookie: str) -> str:
        return hmac.new(self._key, b"portal-pre-sign-in\x00" + cookie.encode(), hashlib.sha256).hexdigest()

    def issue(self, now: datetime, lang: str | None) -> PreSignIn:
        """A fresh cookie (random nonce, issue time, language) and its form token."""
        safe_lang = lang if lang and len(lang) <= _LANG_MAX and lang.replace("-", "").isalnum() else ""
        cookie = f"{random_token(32)}.{int(now.timestamp())}.{safe_lang}"
        return PreSignIn(cookie=cookie, csrf_token=self._mac(cookie), lang=safe_lang or None)

    def load(self, value: str | None, now: datetime) -> PreSignIn | None:
        """The pre-sign-in state a cookie carries, or None when it is missing, malformed or too old."""
        if not value or len(value) > 128 or value.count(".") != 2:
            return None
        _nonce, issued, lang = value.split(".")
        if not issued.isdigit() or not 0 <= now.timestamp() - int(issued) <= self.lifetime_s:
            return None
        return PreSignIn(cookie=value, csrf_token=self._mac(value), lang=lang or None)

    def from_request(self, request: Request, now: datetime) -> PreSignIn | None:
        return self.load(request.cookies.get(PRE_COOKIE), now)

    @staticmethod
    def matches(pre: PreSignIn | None, submitted: object) -> bool:
        """Constant time; a missing cookie or token never matches."""
        if pre is None or not isinstance(submitted, str) or not submitted:
            return False
        return secrets.compare_digest(pre.csrf_token.encode(), submitted.encode())

    @staticmethod
    def set_cookie(response: Response, pre: PreSignIn) -> None:
        response.set_cookie(PRE_COOKIE, pre.cookie, path="/", secure=True, httponly=True, samesite="strict",
                            max_age=None)

    @staticmethod
    def clear_cookie(response: Response) -> None:
        response.delete_cookie(PRE_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
