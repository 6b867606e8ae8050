"""Rendering the person's pages: the per-language Jinja2 environments of :mod:`gateway.i18n`,
one neutral title, and the strict headers of every portal response.

Templates live in ``gateway/templates/portal``; every user-visible string in them is a
gettext msgid translated in the five catalogues (``tests/portal/test_translations.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .. import i18n
from ..web.headers import apply_html_headers

__all__ = ["LANGUAGE_NAMES", "PORTAL_HEADERS", "apply_portal_headers", "browser_language", "render"]

R = TypeVar("R", bound=Response)

LANGUAGE_NAMES: tuple[tuple[str, str], ...] = (
    ("en", "English"), ("fr", "Français"), ("es", "Español"), ("ru", "Русский"), ("ar", "العربية"),
)
"""Each language named in itself (these are not translated on purpose)."""

PORTAL_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow, noarchive",
    "Cache-Control": "no-store, max-age=0",
}


def apply_portal_headers(response: R) -> R:
    """The HTML security headers (CSP ``default-src 'self'``, no referrer, no-store, no framing,
    nosniff) plus no indexing: on every portal response, pages, redirects and static files."""
    apply_html_headers(response)
    for name, value in PORTAL_HEADERS.items():
        response.headers[name] = value
    return response


def browser_language(request: Request) -> str | None:
    """The first supported language of the browser's Accept-Language, if any."""
    header = request.headers.get("accept-language", "")
    for part in header.split(",")[:10]:
        tag = part.split(";")[0].strip()
        if tag and tag.split("-")[0].lower() in i18n.LANGUAGES:
            return tag.split("-")[0].lower()
    return None


def render(lang: str, name: str, *, status: int = 200, headers: Mapping[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    lang = lang if lang in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE

    def day(moment: datetime | None) -> str:
        return i18n.format_day(moment, lang) if moment is not None else ""

    html = i18n.translations().template(lang, f"portal/{name}").render(
        lang=lang, direction=i18n.text_direction(lang), languages=LANGUAGE_NAMES, day=day, **context)
    return apply_portal_headers(HTMLResponse(html, status_code=status, headers=dict(headers or {})))
