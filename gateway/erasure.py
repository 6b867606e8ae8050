"""Erasure of a subject: every row about the person goes, and the audit log forgets who it was.

The audit log cannot lose an entry (it is append-only at database level and its Merkle tree
proves it), so erasure does two things in one transaction:

1. it deletes every row outside the log that names the person or an id the log's entries
   about the person carry (consents and their endings, receipts and recipients; plans,
   envelopes and their parts and attempts; information requests about those envelopes;
   idempotency answers that mention them; portal access, sessions, requests and their
   events; notices, alerts, exception grants and explanations, interviews, best-interests
   decisions; linkage keys, queries and matches; seals, holds and orders, key-detail reviews and
   retention warnings; attribute changes and the subject row; a sealing notice sent to a
   recipient stays, without the subject),
   and unlinks the statistics store (the person's row goes; their counted events lose
   their unit);
2. it writes one ``subject:record:erase`` entry (counts per table, and how many entries from
   before pseudonyms still hold the raw id), then destroys the subject key
   (:func:`gateway.audit.subject_keys.shred`). From then on the pseudonym every entry about
   the person carries links to nothing; every leaf hash, proof and checkpoint still verifies.

The caller owns the transaction (a failure leaves everything as it was).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from consent.models import ConsentEnding, ConsentReceipt, ConsentRecipient, ConsentRecord
from consent.notices import PersonNotice
from consent.portal_access import PortalAccess
from consent.subjects import MandatedReporterNotice, Subject, SubjectAttributeChange

from .audit import subject_keys
from .audit.log import Actor, AuditEvent, record
from .audit.models import AuditEntry
from .audit.tags import AuditTag
from .exceptions.models import (
    AgencyNotice,
    BestInterestsDecision,
    ChildInterview,
    ExceptionGrant,
    ExceptionPolicyExplanation,
)
from .exchange.models import DeliveryAttempt, Envelope, EnvelopePart, IdempotencyRecord, Plan, PreviewApproval
from .linkage.models import LinkageKeyRecord, LinkageMatch, LinkageQuery
from .nrm.models import SlaAlert
from .portal.models import PortalAlert, PortalRequest, PortalRequestEvent, PortalSessionState
from .requests.models import InformationRequest
from .retention_models import RetentionNotice, RetentionWarning, SubjectOrder, SubjectReview
from .statistics.models import StatEvent, StatPerson
from .statistics.store import UnitKey
from .web.models import WebSession

__all__ = ["Erasure", "erase_subject"]

_CHUNK = 500


@dataclass(frozen=True)
class Erasure:
    subject_id: str
    pseudonym: str | None
    deleted: dict[str, int] = field(default_factory=dict)
    """Rows deleted (or, for statistics events, unlinked) per table."""
    legacy_linked_entries: int = 0
    """Entries written before pseudonyms (migration 0016) that still carry the raw subject id."""


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _ids(session: Session, column: Any, *where: Any) -> list[str]:
    return sorted({str(v) for v in session.scalars(select(column).where(*where)) if v is not None})


class _Deleter:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.counts: dict[str, int] = {}

    def run(self, table: str, statement: Any) -> None:
        count = int(getattr(self.session.execute(statement), "rowcount", 0) or 0)
        if count:
            self.counts[table] = self.counts.get(table, 0) + count

    def by_ids(self, model: Any, column: Any, ids: Sequence[str]) -> None:
        for chunk in _chunks(ids):
            self.run(model.__tablename__, delete(model).where(column.in_(chunk)))


def erase_subject(session: Session, subject_id: str, *, actor: Actor, at: datetime,
                  units: UnitKey | None = None) -> Erasure:
    """Erase ``subject_id`` (see the module docstring) in the caller's transaction."""
    d = _Deleter(session)
    consents = _ids(session, ConsentRecord.id, ConsentRecord.subject_id == subject_id)
    plans = _ids(session, Plan.id, Plan.subject_id == subject_id)
    envelopes = set(_ids(session, Envelope.id, Envelope.subject_id == subject_id))
    for chunk in _chunks(plans):
        envelopes.update(_ids(session, Envelope.id, Envelope.plan_id.in_(chunk)))
    requests = _ids(session, PortalRequest.id, PortalRequest.subject_id == subject_id)
    queries = _ids(session, LinkageQuery.id, LinkageQuery.subject_id == subject_id)
    matches = _ids(session, LinkageMatch.id, or_(LinkageMatch.asking_subject_id == subject_id,
                                                 LinkageMatch.holding_subject_id == subject_id,
                                                 LinkageMatch.query_id.in_(queries or [""])))
    portal_sessions = _ids(session, PortalSessionState.id_hash, PortalSessionState.subject_id == subject_id)

    # Answers replayed for retries that mention the person or one of their rows.
    mentioned = [subject_id, *consents, *plans, *envelopes]
    response_text = cast(IdempotencyRecord.response, Text)
    for chunk in _chunks(mentioned):
        d.run(IdempotencyRecord.__tablename__, delete(IdempotencyRecord).where(
            or_(*(response_text.contains(value, autoescape=True) for value in chunk))))

    d.by_ids(ConsentEnding, ConsentEnding.consent_id, consents)
    d.by_ids(ConsentReceipt, ConsentReceipt.consent_id, consents)
    d.by_ids(ConsentRecipient, ConsentRecipient.consent_id, consents)
    d.run(ConsentRecipient.__tablename__, delete(ConsentRecipient).where(ConsentRecipient.subject_id == subject_id))
    d.run(ConsentRecord.__tablename__, delete(ConsentRecord).where(ConsentRecord.subject_id == subject_id))

    for chunk in _chunks(sorted(envelopes)):
        d.run(InformationRequest.__tablename__, delete(InformationRequest).where(
            InformationRequest.envelope_id.in_(chunk)))
    for chunk in _chunks(plans):
        d.run(InformationRequest.__tablename__, delete(InformationRequest).where(
            InformationRequest.plan_id.in_(chunk)))
    d.run(InformationRequest.__tablename__, delete(InformationRequest).where(
        InformationRequest.subject_ref == subject_id))
    d.by_ids(EnvelopePart, EnvelopePart.envelope_id, sorted(envelopes))
    d.by_ids(DeliveryAttempt, DeliveryAttempt.envelope_id, sorted(envelopes))
    d.by_ids(Envelope, Envelope.id, sorted(envelopes))
    d.by_ids(PreviewApproval, PreviewApproval.plan_id, plans)
    d.by_ids(Plan, Plan.id, plans)

    d.by_ids(LinkageMatch, LinkageMatch.id, matches)
    d.by_ids(LinkageQuery, LinkageQuery.id, queries)
    d.run(LinkageKeyRecord.__tablename__, delete(LinkageKeyRecord).where(LinkageKeyRecord.subject_id == subject_id))

    d.by_ids(PortalRequestEvent, PortalRequestEvent.request_id, requests)
    d.by_ids(PortalRequest, PortalRequest.id, requests)
    d.by_ids(WebSession, WebSession.id_hash, portal_sessions)
    d.by_ids(PortalSessionState, PortalSessionState.id_hash, portal_sessions)
    for model in (PortalAlert, PortalAccess, PersonNotice, MandatedReporterNotice, SubjectAttributeChange,
                  AgencyNotice, BestInterestsDecision, ChildInterview, ExceptionPolicyExplanation, ExceptionGrant,
                  SlaAlert):
        d.run(model.__tablename__, delete(model).where(model.subject_id == subject_id))
    for retention_model in (SubjectOrder, SubjectReview, RetentionWarning):
        d.run(retention_model.__tablename__, delete(retention_model).where(retention_model.subject_id == subject_id))
    # A sealing notice outlives the person: the recipient's acknowledgement trail stays, unlinked.
    session.execute(update(RetentionNotice).where(RetentionNotice.subject_id == subject_id).values(subject_id=None))
    d.run(Subject.__tablename__, delete(Subject).where(Subject.id == subject_id))

    legacy = int(session.scalar(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.subject_id == subject_id)) or 0)
    entry = record(session, AuditEvent(AuditTag.SUBJECT_ERASE, decision="allow", subject_id=subject_id,
                                       details={"deleted": dict(sorted(d.counts.items())),
                                                "legacy_linked_entries": legacy}),
                   actor=actor, at=at)
    name = entry.subject_id
    if units is not None:
        # The statistics store counts the person under a unit the gateway could recompute from
        # the id; the person's row goes and their events keep counting, as no one.
        held = [units.unit(subject_id)] + ([units.unit(name)] if name else [])
        d.run(StatPerson.__tablename__, delete(StatPerson).where(StatPerson.unit.in_(held)))
        d.run(StatEvent.__tablename__, update(StatEvent).where(StatEvent.unit.in_(held)).values(unit=None))
    subject_keys.shred(session, subject_id)
    return Erasure(subject_id=subject_id, pseudonym=name, deleted=dict(sorted(d.counts.items())),
                   legacy_linked_entries=legacy)
