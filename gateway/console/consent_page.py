"""``/console/consents/{consent_id}``: one consent as a DPO needs to see it.

What it was for (purpose, scope, classes), who may receive under it, its state history (every
version of its lineage, how each ended, the receipts the person was given), who recorded it and
who ended it (pseudonymous staff ids and roles, never names), and the audit entries that name it
(actions, decisions, codes and links: no payload values, no entry details). Looking is logged
under the consent's subject, like every console read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from babel import Locale
from fastapi import APIRouter, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ConsentEnding, ConsentReceipt, ConsentRecord
from consent.service import status_at

from .. import i18n
from ..audit import subject_keys
from ..audit.models import AuditEntry
from ..audit.tags import AuditTag
from ..deps import ContextDep
from ..web.headers import apply_html_headers
from .insight import _legend
from .routes import _log_access, _require
from .views import EntryView, render, utc

router = APIRouter(prefix="/console", include_in_schema=False)
ConsentId = Annotated[str, FastAPIPath(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
SCAN_LIMIT = 2000
"""The subject's newest entries searched for mentions of the consent (the subject index bounds it)."""
_MENTION_KEYS = ("consent_id", "superseded_by", "supersedes")


@dataclass(frozen=True)
class Version:
    """One record of the consent's lineage and how it stopped being in force."""

    record: ConsentRecord
    status: str
    ending: ConsentEnding | None
    receipts: list[ConsentReceipt]


def mentions(entry: AuditEntry, consent_ids: set[str]) -> bool:
    """Whether an audit entry names one of ``consent_ids`` (in its basis or its id-only details)."""
    basis, details = entry.basis or {}, entry.details or {}
    named = {basis.get("consent_id"), *(details.get(k) for k in _MENTION_KEYS)}
    listed = basis.get("consent_ids")
    if isinstance(listed, list):
        named.update(listed)
    return bool({n for n in named if isinstance(n, str)} & consent_ids)


def _versions(session: Session, record: ConsentRecord, now: Any) -> list[Version]:
    records = list(session.scalars(select(ConsentRecord).where(ConsentRecord.lineage_id == record.lineage_id)
                                   .order_by(ConsentRecord.version)))
    ids = [r.id for r in records]
    endings = {e.consent_id: e for e in session.scalars(select(ConsentEnding)
                                                         .where(ConsentEnding.consent_id.in_(ids)))}
    receipts: dict[str, list[ConsentReceipt]] = {}
    for receipt in session.scalars(select(ConsentReceipt).where(ConsentReceipt.consent_id.in_(ids))
                                   .order_by(ConsentReceipt.issued_at)):
        receipts.setdefault(receipt.consent_id, []).append(receipt)
    return [Version(r, status_at(r, endings.get(r.id), now), endings.get(r.id), receipts.get(r.id, []))
            for r in records]


LANGUAGE_NAMES = tuple((code, Locale.parse(code).get_display_name(code) or code) for code in i18n.LANGUAGES)
"""Each language by its own name (English, français, español, русский, العربية)."""


def page_language(request: Request) -> str:
    """``?lang=`` if it is one of the five, else the browser's first supported language, else English."""
    accepted = [part.split(";")[0].strip() for part in request.headers.get("accept-language", "").split(",")]
    return i18n.negotiate(request.query_params.get("lang"), next((a for a in accepted if
                                                                   a.split("-")[0].lower() in i18n.LANGUAGES), None))


def _render(lang: str, **context: Any) -> HTMLResponse:
    """The page through the language's gettext environment (the console's frame stays as it is)."""
    env = i18n.translations().environments[lang]
    env.filters.setdefault("utc", utc)
    html = env.get_template("console/consent.html").render(
        page_lang=lang, page_dir=i18n.text_direction(lang), languages=LANGUAGE_NAMES, **context)
    return apply_html_headers(HTMLResponse(html, headers={"Content-Language": lang, "Vary": "Accept-Language"}))


@router.get("/consents/{consent_id}")
def consent(consent_id: ConsentId, request: Request, ctx: ContextDep) -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        record = session.get(ConsentRecord, consent_id)
        if record is None:
            _log_access(session, staff, ctx, AuditTag.AUDIT_VIEW, details={"view": "consent", "found": False})
            return render("message.html", status=404, staff=staff, title="Not found", message="No such consent.")
        now = ctx.clock.now()
        versions = _versions(session, record, now)
        lineage = {v.record.id for v in versions}
        about = subject_keys.matches(AuditEntry.subject_id, record.subject_id)
        scanned = list(session.scalars(select(AuditEntry).where(about)
                                       .order_by(AuditEntry.seq.desc()).limit(SCAN_LIMIT)))
        entries = [EntryView(e) for e in scanned if mentions(e, lineage)]
        classes = _legend(ctx.settings.policy_dir, "classes", "classes")
        purposes = _legend(ctx.settings.policy_dir, "purposes", "purposes")
        _log_access(session, staff, ctx, AuditTag.AUDIT_VIEW, subject_id=record.subject_id,
                    details={"view": "consent", "consent_id": record.id, "results": len(entries)})
        current = next(v for v in versions if v.record.id == record.id)
        return _render(page_language(request), staff=staff, consent=record, current=current, versions=versions,
                      recipients=sorted(record.recipients, key=lambda r: r.agency_id), entries=entries,
                      legend=[(c, classes.get(c, "")) for c in record.data_classes],
                      purpose_name=purposes.get(record.purpose, ""), truncated=len(scanned) == SCAN_LIMIT)
