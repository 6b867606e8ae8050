"""Rendering for the console: the Jinja2 environment, filter parsing, and how entries are shown.

Templates live in ``gateway/templates/console``; autoescaping is on for every one, and
pages load nothing but ``/static/console.css`` (no script at all).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse

from ..audit import subject_keys
from ..audit.models import AuditEntry
from ..audit.search import EXCEPTION_BASES, EntryFilter
from ..web.headers import apply_html_headers

__all__ = ["EntryView", "FilterForm", "render"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


_env.filters["utc"] = utc
_env.globals["exception_bases"] = EXCEPTION_BASES


def render(name: str, *, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any) -> HTMLResponse:
    response = HTMLResponse(_env.get_template(f"console/{name}").render(**context), status_code=status,
                            headers=dict(headers or {}))
    return apply_html_headers(response)


_TOKEN = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
DECISIONS = ("allow", "deny", "info")
BASES = ("consent", "exception", *EXCEPTION_BASES)


def _parse_when(text: str, *, end: bool) -> datetime | None:
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start  # an end date includes that day
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        raise ValueError("dates are YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    except OverflowError:
        # 9999-12-31 as an end date, or year 1 at +01:00: no UTC time to compare with.
        raise ValueError("dates must fall between 0001-01-02 and 9999-12-30") from None


@dataclass(frozen=True)
class FilterForm:
    """The search form as submitted (query string or export form), validated."""

    values: dict[str, str]
    filter: EntryFilter
    errors: tuple[str, ...]

    FIELDS = ("subject", "agency", "purpose", "decision", "basis", "action", "from", "to")

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> FilterForm:
        values = {k: str(data.get(k) or "").strip()[:64] for k in cls.FIELDS}
        errors: list[str] = []
        for key in ("subject", "agency", "purpose", "action"):
            if values[key] and not _TOKEN.fullmatch(values[key]):
                errors.append(f"{key}: letters, digits and _ . : - only")
                values[key] = ""
        if values["decision"] and values["decision"] not in DECISIONS:
            errors.append("decision: allow, deny or info")
            values["decision"] = ""
        if values["basis"] and values["basis"] not in BASES:
            errors.append("basis: consent, exception or an exception basis (L1–L15, L4b, L5c, ...)")
            values["basis"] = ""
        since = until = None
        try:
            since = _parse_when(values["from"], end=False)
            until = _parse_when(values["to"], end=True)
        except ValueError as exc:
            errors.append(str(exc))
            values["from"] = values["to"] = ""
        filt = EntryFilter(
            subject_id=values["subject"] or None, agency_id=values["agency"] or None,
            purpose=values["purpose"] or None, decision=values["decision"] or None, basis=values["basis"] or None,
            action=values["action"] or None, since=since, until=until,
        )
        return cls(values=values, filter=filt, errors=tuple(errors))

    def query(self, **extra: Any) -> str:
        pairs = {k: v for k, v in self.values.items() if v}
        pairs.update({k: v for k, v in extra.items() if v is not None})
        return urlencode(pairs)


@dataclass(frozen=True)
class EntryView:
    """An entry as the console shows it: who, why, on what basis, which classes, what outcome."""

    entry: AuditEntry
    subject: str | None = None
    """The subject id behind the entry's pseudonym (None: no subject, or an erased one)."""

    @property
    def erased(self) -> bool:
        """The entry names a subject whose key was destroyed: it links to no one any more."""
        return self.entry.subject_id is not None and self.subject is None

    @property
    def requester(self) -> str:
        return self.entry.actor_user or "—"

    @property
    def consent_ids(self) -> list[str]:
        basis = self.entry.basis or {}
        ids = basis.get("consent_ids") or []
        listed = [str(i) for i in ids] if isinstance(ids, list) else []
        one = basis.get("consent_id")  # a consent's own grant entry
        return [*listed, str(one)] if isinstance(one, str) and one not in listed else listed

    @property
    def exception(self) -> str | None:
        value = (self.entry.basis or {}).get("exception")
        return str(value) if value else None

    @property
    def deferred_until(self) -> str | None:
        value = (self.entry.details or {}).get("deferred_until")
        return str(value) if value else None

    @property
    def defer_reason(self) -> str | None:
        value = (self.entry.details or {}).get("defer_reason")
        return str(value) if value else None

    @property
    def details(self) -> list[tuple[str, str]]:
        return [(str(k), "—" if v is None else str(v)) for k, v in sorted((self.entry.details or {}).items())]


def entry_views(session: Session, entries: Iterable[AuditEntry]) -> list[EntryView]:
    """Entries with the subject behind each pseudonym resolved (one query), erased ones marked."""
    rows = list(entries)
    names = subject_keys.resolve(session, (e.subject_id for e in rows))
    return [EntryView(e, names.get(e.subject_id) if e.subject_id else None) for e in rows]
