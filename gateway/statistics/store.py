"""Filling the statistics store from the gateway's own records, incrementally and idempotently.

:func:`refresh` reads the audit log from where it stopped (``stat_cursor``), in batches. Each
entry about a subject re-reads that subject's attributes into ``stat_persons`` (coarse codes
only, keyed by the person's unit); each entry that is a counted event becomes one
``stat_events`` row keyed by the entry's sequence number. The cursor moves in the same
transaction as the rows, under a lock (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite),
so two replicas refreshing at once never count an entry twice, and a crash loses nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from consent.age import is_child
from consent.subjects import Subject

from ..audit import subject_keys
from ..audit.models import AuditEntry
from ..audit.tags import AuditTag
from ..nrm.timers import STAGE1_DUE_ADULT, STAGE1_DUE_CHILD
from ..registry.models import Agency
from .dimensions import (
    BASES,
    NONE,
    PURPOSES,
    RECIPIENT_KINDS,
    UNKNOWN,
    Deadline,
    Event,
    NrmStage,
    age_band,
    coded,
    nationality_group,
)
from .models import StatCursor, StatEvent, StatPerson

__all__ = ["UnitKey", "person_row", "refresh", "refresh_all"]

CURSOR = "audit"
UNIT_LABEL = "statistics-unit-v1"


@dataclass(frozen=True)
class UnitKey:
    """Turns a subject id into the person's unit: HMAC-SHA-256 under a key only the gateway holds."""

    key: bytes

    def unit(self, subject_id: str) -> str:
        return hmac.new(self.key, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _month(at: datetime) -> str:
    return at.strftime("%Y-%m")


def _nrm_stage(subject: Subject) -> str:
    if subject.stage2_outcome is not None:
        return str(NrmStage.STAGE2_POSITIVE if subject.stage2_outcome == "positive" else NrmStage.STAGE2_NEGATIVE)
    if subject.stage1_outcome is not None:
        return str(NrmStage.STAGE1_POSITIVE if subject.stage1_outcome == "positive" else NrmStage.STAGE1_NEGATIVE)
    if subject.nrm_referred_at is not None:
        return str(NrmStage.AWAITING_STAGE1)
    return str(NrmStage.NOT_REFERRED)


def _stage1_deadline(subject: Subject, now: datetime) -> str:
    referred = subject.nrm_referred_at
    if referred is None:
        return str(Deadline.NOT_APPLICABLE)
    due = referred + (STAGE1_DUE_CHILD if is_child(subject, referred) else STAGE1_DUE_ADULT)
    decided = subject.stage1_decided_at
    if decided is not None:
        return str(Deadline.MET if decided <= due else Deadline.MISSED)
    return str(Deadline.MISSED if now >= due else Deadline.PENDING)


def person_row(subject: Subject, unit: str, *, home_country: str, now: datetime) -> dict[str, str | datetime]:
    """The person's coarse codes: no id, no date, no free text."""
    return {
        "unit": unit,
        "intake_month": _month(subject.created_at),
        "age_band": age_band(subject.age_band, subject.adult_on, subject.created_at),
        "sex": subject.sex or UNKNOWN,
        "nationality_group": nationality_group(subject.country_of_origin, home_country),
        "exploitation_type": subject.exploitation_type or UNKNOWN,
        "child": "child" if is_child(subject, subject.created_at) else "adult",
        "nrm_stage": _nrm_stage(subject),
        "stage1_deadline": _stage1_deadline(subject, now),
        "refreshed_at": now,
    }


def _event_of(entry: AuditEntry) -> tuple[str, str] | None:
    """(event, basis) for an entry that is counted, else None."""
    action = entry.action
    exception = entry.basis.get("exception") if isinstance(entry.basis, dict) else None
    basis = coded(exception, BASES) if exception else "consent"
    if action == AuditTag.POLICY_DECISION:
        return (Event.DECISION_ALLOWED if entry.decision == "allow" else Event.DECISION_DENIED), (
            basis if entry.decision == "allow" else NONE)
    if action == AuditTag.EXCHANGE_SUBMIT:
        return Event.REFERRAL, basis
    if action == AuditTag.EXCEPTION_USE:
        return Event.EXCEPTION, coded(exception, BASES)
    if action == AuditTag.CONSENT_WITHDRAW:
        return Event.WITHDRAWAL, NONE
    if action == AuditTag.NRM_SLA_ALERT:
        return Event.NRM_DEADLINE_MISSED, NONE
    if action == AuditTag.PORTAL_REQUEST_CREATE:
        kind = entry.details.get("kind") if isinstance(entry.details, dict) else None
        return (Event.COMPLAINT if kind == "complaint" else Event.CORRECTION_REQUEST), NONE
    return None


def _upsert_people(session: Session, subject_ids: Iterable[str], units: UnitKey, *, home_country: str,
                   now: datetime) -> dict[str, StatPerson]:
    ids = sorted(set(subject_ids))
    out: dict[str, StatPerson] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        subjects = list(session.scalars(select(Subject).where(Subject.id.in_(chunk))))
        wanted = {subject.id: units.unit(subject.id) for subject in subjects}
        known = {p.unit: p for p in session.scalars(select(StatPerson).where(StatPerson.unit.in_(wanted.values())))}
        for subject in subjects:
            unit = wanted[subject.id]
            values = person_row(subject, unit, home_country=home_country, now=now)
            person = known.get(unit)
            if person is None:
                person = StatPerson(**values)
                session.add(person)
            else:
                for name, value in values.items():
                    setattr(person, name, value)
            out[subject.id] = person
    return out


def refresh(session: Session, units: UnitKey, *, home_country: str, now: datetime, batch: int = 5000) -> int:
    """Read one batch of new audit entries into the store (the caller's transaction); the count read.

    Call it until it returns less than ``batch``. Idempotent: an entry is read once, whoever calls.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # The first refresh ever creates the cursor; two at once must not both try (the loser waits).
    session.execute(insert(StatCursor).values(name=CURSOR, next_seq=0).on_conflict_do_nothing(index_elements=["name"]))
    cursor = session.get(StatCursor, CURSOR, with_for_update=True, populate_existing=True)
    assert cursor is not None
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.seq >= cursor.next_seq)
                                   .order_by(AuditEntry.seq).limit(batch)))
    if not entries:
        return 0
    # Entries name a subject by its keyed pseudonym; an erased subject resolves to nothing and
    # counts as a person of its own, under its pseudonym.
    named = subject_keys.resolve(session, (e.subject_id for e in entries))
    people = _upsert_people(session, (sid for sid in named.values() if sid), units,
                            home_country=home_country, now=now)
    recipients = {e.recipient_agency_id for e in entries if e.recipient_agency_id}
    kinds = {agency_id: kind for agency_id, kind in session.execute(
        select(Agency.id, Agency.kind).where(Agency.id.in_(sorted(recipients))))} if recipients else {}
    for entry in entries:
        counted = _event_of(entry)
        if counted is None:
            continue
        event, basis = counted
        subject_id = (named.get(entry.subject_id) or entry.subject_id) if entry.subject_id else None
        person = people.get(subject_id) if subject_id else None
        kind = kinds.get(entry.recipient_agency_id) if entry.recipient_agency_id else None
        session.add(StatEvent(
            source_seq=entry.seq,
            # A subject the store cannot read (unknown id) still counts, as a person of its own.
            unit=person.unit if person else (units.unit(subject_id) if subject_id else None),
            month=_month(entry.at), event=str(event),
            purpose=coded(entry.purpose, PURPOSES), recipient_kind=coded(kind, RECIPIENT_KINDS),
            basis=basis, child=person.child if person else UNKNOWN,
        ))
    cursor.next_seq = entries[-1].seq + 1
    session.flush()
    return len(entries)


def refresh_all(sessions: sessionmaker[Session], units: UnitKey, *, home_country: str, now: datetime,
                batch: int = 5000) -> int:
    """Bring the store up to date, one transaction per batch; the number of entries read."""
    total = 0
    while True:
        with sessions() as session, session.begin():
            read = refresh(session, units, home_country=home_country, now=now, batch=batch)
        total += read
        if read < batch:
            return total
