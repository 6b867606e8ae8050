"""What the person's pages show, read fresh from the database on every request.

Everything here returns codes, ids, dates and agency names; the templates turn codes into
plain sentences in the person's language. Nothing returns a name of the person, an address
or free text. In a duress session the routes never call these functions: the account looks
empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.age import is_child
from consent.models import ConsentEnding, ConsentRecord
from consent.notices import notices_for
from consent.service import status_at
from consent.subjects import Subject

from ..audit import subject_keys
from ..audit.models import AuditEntry
from ..audit.tags import AuditTag
from ..registry.models import Agency, AgencyKind
from ..retention_models import RetentionNotice
from .models import PortalRequest, PortalRequestEvent

__all__ = [
    "BASIS_CODES",
    "ConsentView",
    "Disclosure",
    "ExceptionView",
    "NoticeView",
    "RequestView",
    "agency_names",
    "consents",
    "disclosures",
    "exceptions_that_apply",
    "involved_agencies",
    "notices",
    "requests",
]

BASIS_CODES: tuple[str, ...] = (
    "L1", "L2", "L3", "L4", "L4b", "L5", "L5b", "L5c", "L5d", "L6", "L7", "L7b", "L8", "L9", "L9b", "L10", "L10b",
    "L11", "L12", "L13", "L14", "L15",
)
"""Every lawful-exception basis of the digest (§4); the templates hold one plain sentence each."""


@dataclass(frozen=True)
class ConsentView:
    id: str
    purpose: str
    scope: str
    classes: tuple[str, ...]
    recipients: tuple[str, ...]
    obtained_at: datetime
    expires_at: datetime
    status: str
    ended_at: datetime | None
    cj_option: str | None


@dataclass(frozen=True)
class Disclosure:
    at: datetime
    recipient: str
    purpose: str | None
    classes: tuple[str, ...]
    exception: str | None
    """The lawful exception (L3, ...) this went on, if any."""
    consent: bool = True
    """A consent of the person was (part of) the basis."""
    safety_summary: bool = False
    """The risk summary went on the safety basis (L9): a service taking the person in must know the risks."""


@dataclass(frozen=True)
class ExceptionView:
    basis: str
    agencies: tuple[str, ...]
    automatic: bool


@dataclass(frozen=True)
class NoticeView:
    kind: str
    at: datetime
    purpose: str | None = None
    agencies: tuple[str, ...] = ()
    requester: str | None = None
    """The agency that did the thing (e.g. wanted to send), when it is not the one in ``agencies``."""


@dataclass(frozen=True)
class RequestView:
    id: str
    kind: str
    status: str
    outcome: str | None
    created_at: datetime
    updated_at: datetime
    about: str | None
    steps: tuple[tuple[str, datetime], ...] = field(default=())


def agency_names(session: Session, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {a.id: a.name for a in session.scalars(select(Agency).where(Agency.id.in_(wanted)))}


def _name(names: dict[str, str], agency_id: str) -> str:
    return names.get(agency_id, agency_id)


def consents(session: Session, subject_id: str, now: datetime) -> tuple[list[ConsentView], list[ConsentView]]:
    """(in force now, history: withdrawn, expired and replaced), each newest first."""
    records = list(session.scalars(select(ConsentRecord).where(ConsentRecord.subject_id == subject_id)
                                   .order_by(ConsentRecord.obtained_at.desc(), ConsentRecord.id)))
    if not records:
        return [], []
    endings = {e.consent_id: e for e in session.scalars(
        select(ConsentEnding).where(ConsentEnding.consent_id.in_([r.id for r in records])))}
    names = agency_names(session, (a for r in records for a in r.recipient_ids))
    live: list[ConsentView] = []
    past: list[ConsentView] = []
    for record in records:
        ending = endings.get(record.id)
        status = status_at(record, ending, now)
        if status == "not_yet_in_force":
            continue
        view = ConsentView(
            id=record.id, purpose=record.purpose, scope=record.scope, classes=tuple(record.data_classes),
            recipients=tuple(_name(names, a) for a in record.recipient_ids), obtained_at=record.obtained_at,
            expires_at=record.expires_at, status=status,
            ended_at=ending.at if ending is not None else (record.expires_at if status == "expired" else None),
            cj_option=record.cj_option,
        )
        (live if status == "in_force" else past).append(view)
    return live, past


def _parse_moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def is_deferred(entry: AuditEntry, now: datetime) -> bool:
    """Hidden for now: a future ``deferred_until`` *and* a recorded ``defer_reason``. A deferral
    without a reason or with an unreadable end date is not a deferral: the entry is shown."""
    details = entry.details or {}
    until = _parse_moment(details.get("deferred_until"))
    reason = details.get("defer_reason")
    return until is not None and until > now and isinstance(reason, str) and bool(reason.strip())


def disclosures(session: Session, subject_id: str, now: datetime) -> list[Disclosure]:
    """Who received which classes, when and on what basis: accepted envelopes and lawful-exception
    uses from the audit log, newest first; deferred entries stay hidden until their end date."""
    entries = list(session.scalars(
        select(AuditEntry)
        .where(subject_keys.matches(AuditEntry.subject_id, subject_id), AuditEntry.decision == "allow",
               AuditEntry.action.in_([str(AuditTag.EXCHANGE_SUBMIT), str(AuditTag.EXCEPTION_USE)]))
        .order_by(AuditEntry.seq.desc())
    ))
    def envelope_of(entry: AuditEntry) -> str | None:
        value = (entry.details or {}).get("envelope_id")
        return str(value) if value else None

    envelopes = {envelope_of(e) for e in entries if e.action == AuditTag.EXCHANGE_SUBMIT} - {None}
    # A deferral on either entry of an envelope (the exception's use, or the submit) hides both.
    deferred_envelopes = {envelope_of(e) for e in entries if is_deferred(e, now)} - {None}
    shown: list[AuditEntry] = []
    for entry in entries:
        envelope = envelope_of(entry)
        if entry.recipient_agency_id is None or is_deferred(entry, now) or envelope in deferred_envelopes:
            continue
        if entry.action == AuditTag.EXCEPTION_USE and envelope in envelopes:
            continue  # the same disclosure, already listed from its envelope
        shown.append(entry)
    names = agency_names(session, (e.recipient_agency_id or "" for e in shown))
    out = []
    for entry in shown:
        exception = (entry.basis or {}).get("exception")
        classes = entry.classes_released or entry.classes_requested
        details = entry.details or {}
        out.append(Disclosure(at=entry.at, recipient=_name(names, entry.recipient_agency_id or ""),
                              purpose=entry.purpose, classes=tuple(sorted(set(classes), key=_class_order)),
                              exception=str(exception) if exception else None,
                              consent=bool((entry.basis or {}).get("consent_ids")),
                              safety_summary=details.get("risk_summary_basis") is True))
    return out


@dataclass(frozen=True)
class Sealing:
    """Records about the person that were sealed, vacated or expunged, and the agencies told to do the same."""

    at: datetime
    action: str
    classes: tuple[str, ...]
    told: tuple[str, ...]
    """Names of the agencies that received the notice (every past recipient of those classes)."""


def sealings(session: Session, subject_id: str) -> list[Sealing]:
    """Each seal of the person's records (one per broadcast: the notices sent at one moment for one
    action and the same classes), newest first, with the names of the agencies told."""
    notices = list(session.scalars(select(RetentionNotice).where(RetentionNotice.subject_id == subject_id)
                                   .order_by(RetentionNotice.created_at.desc(), RetentionNotice.id)))
    names = agency_names(session, (n.agency_id for n in notices))
    grouped: dict[tuple[datetime, str, tuple[str, ...]], list[str]] = {}
    for notice in notices:
        key = (notice.created_at, notice.action, tuple(sorted(set(notice.classes), key=_class_order)))
        grouped.setdefault(key, []).append(_name(names, notice.agency_id))
    return [Sealing(at=at, action=action, classes=classes, told=tuple(sorted(set(told))))
            for (at, action, classes), told in grouped.items()]


def _class_order(code: str) -> tuple[int, str]:
    return (int(code[1:]), code) if code[1:].isdigit() else (999, code)


def involved_agencies(session: Session, subject_id: str) -> dict[str, str]:
    """Agency id -> name: the owner, every agency a consent names, every recipient of a disclosure."""
    subject = session.get(Subject, subject_id)
    ids: set[str] = set()
    if subject is not None:
        ids.add(subject.owner_agency_id)
    for record in session.scalars(select(ConsentRecord).where(ConsentRecord.subject_id == subject_id)):
        ids.update(record.recipient_ids)
    ids.update(a for a in session.scalars(
        select(AuditEntry.recipient_agency_id).where(
            subject_keys.matches(AuditEntry.subject_id, subject_id), AuditEntry.decision == "allow",
            AuditEntry.action == str(AuditTag.EXCHANGE_SUBMIT))) if a)
    agencies = session.scalars(select(Agency).where(Agency.id.in_(sorted(ids)),
                                                    Agency.kind != AgencyKind.GATEWAY_OPERATOR))
    return {a.id: a.name for a in sorted(agencies, key=lambda a: a.name.casefold())}


@cache
def _catalogue(path: Path) -> dict[str, dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    return {str(k): dict(v) for k, v in data.get("exceptions", {}).items()}


def exceptions_that_apply(session: Session, subject_id: str, now: datetime, policy_dir: Path) -> list[ExceptionView]:
    """The lawful exceptions the involved agencies published in the registry (plus the ones the
    policy applies to every referral), in the digest's order; child-only ones only for a child."""
    catalogue = _catalogue(policy_dir / "data" / "exceptions.json")
    subject = session.get(Subject, subject_id)
    child = subject is not None and is_child(subject, now)
    involved = involved_agencies(session, subject_id)
    published: dict[str, list[str]] = {}
    for agency in session.scalars(select(Agency).where(Agency.id.in_(sorted(involved)))):
        for entry in agency.exception_policy or []:
            basis = str(entry.get("basis", ""))
            if basis in BASIS_CODES:
                published.setdefault(basis, []).append(agency.name)
    out = []
    for basis in BASIS_CODES:
        spec = catalogue.get(basis, {})
        if spec.get("child_only") and not child:
            continue
        automatic = spec.get("claim") == "automatic" and bool(spec.get("enabled"))
        if basis in published or automatic:
            out.append(ExceptionView(basis=basis, agencies=tuple(sorted(set(published.get(basis, [])))),
                                     automatic=automatic))
    return out


def notices(session: Session, subject_id: str, now: datetime, limit: int = 20) -> list[NoticeView]:
    """The person's notices due by now (deferred ones from their date on), newest first."""
    rows = notices_for(session, subject_id, at=now)[-limit:]
    ids: set[str] = set()
    for row in rows:
        details = row.details or {}
        for key in ("recipient_agency_id", "requester_agency_id"):
            if isinstance(details.get(key), str):
                ids.add(details[key])
        for key in ("recipients", "open_case_recipients"):
            values = details.get(key)
            if isinstance(values, list):
                ids.update(v for v in values if isinstance(v, str))
    names = agency_names(session, ids)
    out = []
    for row in reversed(rows):
        details = row.details or {}
        agencies: list[str] = []
        if isinstance(details.get("recipient_agency_id"), str):
            agencies.append(details["recipient_agency_id"])
        for key in ("recipients", "open_case_recipients"):
            values = details.get(key)
            if isinstance(values, list):
                agencies.extend(v for v in values if isinstance(v, str))
        purpose = details.get("purpose")
        requester = details.get("requester_agency_id")
        out.append(NoticeView(kind=row.kind, at=row.created_at, purpose=purpose if isinstance(purpose, str) else None,
                              agencies=tuple(_name(names, a) for a in agencies),
                              requester=_name(names, requester) if isinstance(requester, str) else None))
    return out


def requests(session: Session, subject_id: str) -> list[RequestView]:
    rows = list(session.scalars(select(PortalRequest).where(PortalRequest.subject_id == subject_id)
                                .order_by(PortalRequest.created_at.desc(), PortalRequest.id)))
    names = agency_names(session, (r.about_agency_id or "" for r in rows))
    steps: dict[str, list[tuple[str, datetime]]] = {}
    if rows:
        for event in session.scalars(select(PortalRequestEvent)
                                     .where(PortalRequestEvent.request_id.in_([r.id for r in rows]))
                                     .order_by(PortalRequestEvent.at, PortalRequestEvent.id)):
            steps.setdefault(event.request_id, []).append((event.status, event.at))
    return [RequestView(id=r.id, kind=r.kind, status=r.status, outcome=r.outcome, created_at=r.created_at,
                        updated_at=r.updated_at, about=_name(names, r.about_agency_id) if r.about_agency_id else None,
                        steps=tuple(steps.get(r.id, ()))) for r in rows]
