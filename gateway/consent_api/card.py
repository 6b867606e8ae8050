"""The person's printable one-page consent card (HTML print view), in their language.

No script and no external resource: the stylesheet is inlined and allowed by its hash in
the page's Content-Security-Policy, so the card prints the same from any browser, offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from consent import ConsentEnding, ConsentRecord

from .. import i18n

TEMPLATE = "consent/card.html"
_CSS = (i18n.TEMPLATE_DIR / "consent" / "card.css").read_text(encoding="utf-8")
# Compiled once when the gateway starts (this module is imported by create_app's routers).
_TRANSLATIONS = i18n.translations()

CARD_CSP = (
    f"default-src 'none'; style-src {i18n.csp_hash(_CSS)}; img-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class CardRecipient:
    agency_id: str
    name: str
    country: str | None


def render_card(
    record: ConsentRecord,
    *,
    status: str,
    ending: ConsentEnding | None,
    recipients: list[CardRecipient],
    lang: str,
    portal_url: str,
    access_code: str | None,
    now: datetime,
    separate: bool = False,
) -> str:
    """The card's HTML in ``lang`` (one of :data:`gateway.i18n.LANGUAGES`)."""
    template = _TRANSLATIONS.template(lang, TEMPLATE)
    return template.render(
        lang=lang,
        direction=i18n.text_direction(lang),
        css=_CSS,
        record=record,
        status=status,
        ended_on=i18n.format_day(ending.at, lang) if ending else "",
        recipients=recipients,
        data_classes=sorted(record.data_classes, key=lambda c: int(c[1:])),
        obtained_on=i18n.format_day(record.obtained_at, lang),
        expires_on=i18n.format_day(record.expires_at, lang),
        portal_url=portal_url,
        access_code=access_code,
        today=i18n.format_day(now, lang),
        separate=separate and access_code is not None,
    )
