"""Security headers for server-rendered pages (SecureDrop's landing-page set, ASVS 3.4, 14.3)."""

from __future__ import annotations

from typing import TypeVar

from starlette.responses import Response

R = TypeVar("R", bound=Response)

__all__ = ["CLEAR_SITE_DATA", "HTML_SECURITY_HEADERS", "apply_html_headers"]

HTML_SECURITY_HEADERS = {
    # Same-origin resources only: no inline script or style, no other origin, no framing.
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    ),
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

CLEAR_SITE_DATA = '"cache", "cookies", "storage"'
"""Sent at sign-out: the browser drops everything this origin left behind (ASVS 14.3.1)."""


def apply_html_headers(response: R) -> R:
    for name, value in HTML_SECURITY_HEADERS.items():
        response.headers[name] = value
    return response
