"""Finding entries: filters, the DPO dashboards, and exports. Read-only; callers log the access.

Queries use only portable SQL (JSON fields through SQLAlchemy's JSON paths, class lists
through their stored text), so they run unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, false, func, or_, select
from sqlalchemy.orm import Session

from . import subject_keys
from .log import entry_document
from .models import AuditEntry
from .tags import AuditTag

__all__ = [
    "DASHBOARDS",
    "EXPORT_LIMIT",
    "Dashboard",
    "EntryFilter",
    "count_entries",
    "dashboard_summary",
    "export_csv",
    "export_json",
    "find_entries",
    "sensitive_classes",
]

EXPORT_LIMIT = 50_000
"""Most entries one export holds (API6: bulk export has a volume cap)."""

# The S4 classes of seed digest §2, used when policies/data/classes.json is absent.
_S4_FALLBACK = ("D3", "D4", "D9", "D14", "D16", "D17")
#: Every lawful-exception basis of the digest (§4), sub-bases included (L4b, L5c, ...).
EXCEPTION_BASES = ("L1", "L2", "L3", "L4", "L4b", "L5", "L5b", "L5c", "L5d", "L6", "L7", "L7b", "L8", "L9", "L9b",
                   "L10", "L10b", "L11", "L12", "L13", "L14", "L15")


@cache
def sensitive_classes(policy_dir: Path | None = None) -> tuple[str, ...]:
    """The most sensitive data classes (S4), from the policy data when it is there."""
    path = (policy_dir / "data" / "classes.json") if policy_dir else None
    try:
        classes = json.loads(path.read_text())["classes"] if path else None
    except (OSError, ValueError, KeyError):
        classes = None
    if not isinstance(classes, dict):
        return _S4_FALLBACK
    found = tuple(sorted((k for k, v in classes.items() if isinstance(v, dict) and v.get("level") == 4),
                         key=lambda k: (len(k), k)))
    return found or _S4_FALLBACK


def _has_any_class(values: Sequence[str]) -> ColumnElement[bool]:
    # The stored JSON text of a class list holds each class as "Dn", quotes included, so a
    # LIKE on the quoted name matches exactly that class on both databases.
    columns = (cast(AuditEntry.classes_requested, Text), cast(AuditEntry.classes_released, Text))
    return or_(*(col.like(f'%"{value}"%') for col in columns for value in values))


@dataclass(frozen=True)
class EntryFilter:
    """What a DPO (or an agency, for its own entries) searches by. Empty fields match anything."""

    subject_id: str | None = None
    agency_id: str | None = None
    """Entries where this agency acted or received."""
    purpose: str | None = None
    decision: str | None = None
    basis: str | None = None
    """``consent``, ``exception`` or one exception code ``L1``..``L15``."""
    action: str | None = None
    """An exact action, or a prefix ending in ``:`` (``consent:``)."""
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.subject_id:
            out.append(subject_keys.matches(AuditEntry.subject_id, self.subject_id))
        if self.agency_id:
            out.append(or_(AuditEntry.actor_agency_id == self.agency_id,
                           AuditEntry.recipient_agency_id == self.agency_id))
        if self.purpose:
            out.append(AuditEntry.purpose == self.purpose)
        if self.decision:
            out.append(AuditEntry.decision == self.decision)
        if self.basis:
            exception = AuditEntry.basis["exception"].as_string()
            if self.basis == "consent":
                out.append(AuditEntry.basis[("consent_ids", 0)].as_string().is_not(None))
            elif self.basis == "exception":
                out.append(exception.is_not(None))
            elif self.basis in EXCEPTION_BASES:
                out.append(exception == self.basis)
            else:
                out.append(false())
        if self.action:
            if self.action.endswith(":"):
                out.append(AuditEntry.action.startswith(self.action, autoescape=True))
            else:
                out.append(AuditEntry.action == self.action)
        if self.since:
            out.append(AuditEntry.at >= self.since)
        if self.until:
            out.append(AuditEntry.at < self.until)
        return out

    def describe(self) -> dict[str, str]:
        """The filter as recorded in an access entry (no subject: that has its own column)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value and f.name != "subject_id":
                out[f.name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class Dashboard:
    """A standing question a DPO asks of the log, and how its answers are grouped."""

    name: str
    title: str
    description: str
    group_label: str

    def condition(self, policy_dir: Path | None) -> ColumnElement[bool]:
        if self.name == "exceptions":
            return or_(AuditEntry.action.startswith("exception:"),
                       AuditEntry.basis["exception"].as_string().is_not(None))
        if self.name == "denied":
            return AuditEntry.decision == "deny"
        if self.name == "sensitive":
            return _has_any_class(sensitive_classes(policy_dir))
        if self.name == "withdrawals":
            return AuditEntry.action == str(AuditTag.CONSENT_WITHDRAW)
        if self.name == "deadlines":
            return AuditEntry.action == str(AuditTag.NRM_SLA_ALERT)
        if self.name == "unacknowledged":
            envelope = AuditEntry.details["envelope_id"].as_string()
            # NOT IN over a set holding a NULL matches nothing, so leave NULLs out of it.
            acked = (select(envelope).where(AuditEntry.action == str(AuditTag.EXCHANGE_ACK), envelope.is_not(None))
                     .scalar_subquery())
            submitted = and_(AuditEntry.action == str(AuditTag.EXCHANGE_SUBMIT), AuditEntry.decision == "allow",
                             AuditEntry.details["envelope_id"].as_string().not_in(acked))
            return or_(AuditEntry.action == str(AuditTag.EXCHANGE_EXPIRE), submitted)
        raise KeyError(self.name)

    def group_column(self) -> Any:  # a column or a JSON path expression
        if self.name == "exceptions":
            return AuditEntry.basis["exception"].as_string()
        if self.name == "denied":
            return AuditEntry.reason
        if self.name == "withdrawals":
            return AuditEntry.purpose
        if self.name == "deadlines":
            return AuditEntry.reason
        return AuditEntry.recipient_agency_id


DASHBOARDS = {d.name: d for d in (
    Dashboard("exceptions", "Exception use (L1–L15 and their sub-bases)",
              "Every grant, use or refusal of a lawful exception, and every decision made on one.", "basis"),
    Dashboard("denied", "Denied requests", "Every decision that refused a request, by reason.", "reason"),
    Dashboard("sensitive", "Most sensitive classes (S4)",
              "Requests for or releases of the most sensitive data classes, by recipient.", "recipient"),
    Dashboard("withdrawals", "Consent withdrawals", "Every consent the person withdrew, by purpose.", "purpose"),
    Dashboard("unacknowledged", "Referrals never acknowledged",
              "Envelopes that expired unacknowledged, and delivered submissions with no acknowledgement yet.",
              "recipient"),
    Dashboard("deadlines", "NRM deadlines missed (S37, S38)",
              "Stage 1 decisions overdue, children without guardian advocate or accommodation 24 hours after a "
              "positive Stage 1, and the 90-day reminders, by kind.", "kind"),
)}


def _where(filt: EntryFilter, extra: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    conditions = filt.conditions()
    if extra is not None:
        conditions.append(extra)
    return conditions


def find_entries(session: Session, filt: EntryFilter, *, extra: ColumnElement[bool] | None = None,
                 before: int | None = None, after: int | None = None, limit: int = 50,
                 newest_first: bool = True) -> list[AuditEntry]:
    """One page of matching entries (keyset pagination on seq)."""
    statement = select(AuditEntry).where(*_where(filt, extra))
    if before is not None:
        statement = statement.where(AuditEntry.seq < before)
    if after is not None:
        statement = statement.where(AuditEntry.seq > after)
    order = AuditEntry.seq.desc() if newest_first else AuditEntry.seq.asc()
    return list(session.scalars(statement.order_by(order).limit(limit)))


def count_entries(session: Session, filt: EntryFilter, *, extra: ColumnElement[bool] | None = None) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry).where(*_where(filt, extra))) or 0)


def dashboard_summary(session: Session, dashboard: Dashboard, policy_dir: Path | None,
                      filt: EntryFilter = EntryFilter()) -> list[tuple[str, int]]:
    """Counts per group, largest first."""
    group = dashboard.group_column()
    rows = session.execute(
        select(group, func.count()).where(*_where(filt, dashboard.condition(policy_dir)))
        .group_by(group).order_by(func.count().desc())
    ).all()
    return [(str(key) if key is not None else "—", int(n)) for key, n in rows]


def _iter_export(session: Session, filt: EntryFilter, extra: ColumnElement[bool] | None) -> Iterator[AuditEntry]:
    statement = (select(AuditEntry).where(*_where(filt, extra)).order_by(AuditEntry.seq).limit(EXPORT_LIMIT)
                 .execution_options(yield_per=2000))
    yield from session.scalars(statement)


CSV_COLUMNS = (
    "seq", "at", "action", "decision", "reason", "actor_agency_id", "actor_role", "actor_user", "subject_id",
    "purpose", "recipient_agency_id", "classes_requested", "classes_released", "policy_version", "consent_ids",
    "exception", "deferred_until", "defer_reason", "details", "request_id", "entry_id", "leaf_hash",
)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # CSV injection: a spreadsheet must not read a cell as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(session: Session, filt: EntryFilter, *, extra: ColumnElement[bool] | None = None) -> tuple[str, int]:
    """The matching entries as CSV (no payload values exist to export), and how many."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for e in _iter_export(session, filt, extra):
        basis = e.basis or {}
        writer.writerow([_cell(v) for v in (
            e.seq, e.at.isoformat(), e.action, e.decision, e.reason, e.actor_agency_id, e.actor_role, e.actor_user,
            e.subject_id, e.purpose, e.recipient_agency_id, ";".join(e.classes_requested),
            ";".join(e.classes_released), e.policy_version, ";".join(map(str, basis.get("consent_ids") or [])),
            basis.get("exception"), e.details.get("deferred_until"), e.details.get("defer_reason"),
            json.dumps(e.details, sort_keys=True), e.request_id, e.entry_id, e.leaf_hash,
        )])
        count += 1
    return buffer.getvalue(), count


def export_json(session: Session, filt: EntryFilter, *, extra: ColumnElement[bool] | None = None,
                meta: dict[str, Any] | None = None) -> tuple[str, int]:
    """The matching entries as JSON documents (exactly what each leaf hash covers, plus the hash)."""
    entries = [{**entry_document(e), "leaf_hash": e.leaf_hash} for e in _iter_export(session, filt, extra)]
    body = {**(meta or {}), "count": len(entries), "truncated": len(entries) >= EXPORT_LIMIT, "entries": entries}
    return json.dumps(body, indent=1, ensure_ascii=False), len(entries)
