"""Sealing and erasure broadcasts: every agency that received data about a person is told.

The audit log knows who received what: every allowed ``exchange:envelope:submit`` and
``exception:grant:use`` entry about the person names the recipient agency, the classes released
and the envelope. :func:`recipients` reads them (while the subject's key exists, so before an
erasure destroys it). :func:`broadcast` then writes one :class:`RetentionNotice` per agency:

* the action (``sealed``, ``vacated``, ``expunged``, ``erased``) and the classes concerned;
* a *reference* the recipient alone can resolve: ``{"envelope_ids": [...]}`` it received, sealed
  to its own encryption key (a libsodium sealed box bound to the notice id, as an envelope field
  is), so the gateway's database holds no id a dump could join on and nothing a dictionary search
  could confirm;
* the gateway's Ed25519 signature over the notice document (the key its JWKS publishes);
* the day the acknowledgement is due (``broadcast.ack_days`` of the retention policy data).

Each notice is audited as ``retention:notice:send`` naming the recipient agency, the classes and
the notice id, and *no subject*: the entry stays meaningful after the person is erased, and links
to nothing. Acknowledgements (``retention:notice:ack``) and missing ones past the deadline
(``retention:notice:overdue``, once, by the scheduled job) are audited the same way; the DPO
console lists every notice with its state. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.encoding import b64u_decode, b64u_encode
from crypto.envelope import seal_field
from crypto.signing import sign_document
from kernel.ids import SHORT, new_id

from .audit import subject_keys
from .audit.log import Actor, AuditEvent, record
from .audit.models import AuditEntry
from .audit.tags import AuditTag
from .errors import GatewayError, NotFound
from .registry.service import resolve_recipient
from .retention_models import RetentionNotice

__all__ = ["REFERENCE_FIELD", "Recipient", "acknowledge", "broadcast", "notice_document", "notices_for",
           "recipients", "sweep_overdue"]

REFERENCE_FIELD = "reference"
"""The field name the sealed reference is bound to (with the notice id), as an envelope field is."""
_RELEASES = (str(AuditTag.EXCHANGE_SUBMIT), str(AuditTag.EXCEPTION_USE))


@dataclass(frozen=True)
class Recipient:
    agency_id: str
    classes: frozenset[str]
    envelope_ids: tuple[str, ...]


def recipients(session: Session, subject_id: str) -> list[Recipient]:
    """Every agency that received data about the subject through the gateway, from the audit log."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    rows = session.execute(select(AuditEntry.recipient_agency_id, AuditEntry.classes_released, AuditEntry.details)
                           .where(subject_keys.matches(AuditEntry.subject_id, subject_id),
                                  AuditEntry.decision == "allow", AuditEntry.action.in_(_RELEASES),
                                  AuditEntry.recipient_agency_id.is_not(None)).order_by(AuditEntry.seq))
    for agency_id, classes, details in rows:
        classes_of, envelopes = found.setdefault(str(agency_id), (set(), set()))
        classes_of.update(str(c) for c in classes or ())
        envelope = (details or {}).get("envelope_id")
        if envelope:
            envelopes.add(str(envelope))
    return [Recipient(agency_id=a, classes=frozenset(c), envelope_ids=tuple(sorted(e)))
            for a, (c, e) in sorted(found.items())]


def notice_document(notice: RetentionNotice) -> dict[str, Any]:
    """What the gateway signs (and the SDK verifies): everything the recipient needs, no personal data."""
    return {
        "notice_id": notice.id,
        "agency_id": notice.agency_id,
        "action": notice.action,
        "classes": sorted(notice.classes),
        "reference": b64u_encode(notice.reference) if notice.reference is not None else None,
        "key_id": notice.key_id,
        "created_at": notice.created_at.isoformat(),
        "ack_due": notice.ack_due.isoformat(),
    }


def _sealed_reference(session: Session, agency_id: str, notice_id: str,
                      envelope_ids: Sequence[str]) -> tuple[bytes | None, str | None]:
    try:
        key = resolve_recipient(session, agency_id).encryption_key
    except GatewayError:
        return None, None  # no usable key: the notice still goes, without the reference (the DPO sees it)
    public = b64u_decode(key.public_key)
    return seal_field(notice_id, REFERENCE_FIELD, {"envelope_ids": list(envelope_ids)}, public), key.id


def broadcast(session: Session, *, signing_seed: bytes, action: str, told: Iterable[Recipient],
              classes: Iterable[str] | None, subject_id: str | None, actor: Actor, at: datetime,
              ack_days: int) -> list[RetentionNotice]:
    """One signed notice per recipient (``classes`` None: each recipient's own classes), each audited."""
    out = []
    for recipient in told:
        notice_id = new_id("rtn", size=SHORT)
        reference, key_id = _sealed_reference(session, recipient.agency_id, notice_id, recipient.envelope_ids)
        # Only the classes this recipient received: a notice never tells one agency what else is sealed.
        concerned = sorted(set(classes) & set(recipient.classes) if classes is not None else recipient.classes)
        notice = RetentionNotice(id=notice_id, agency_id=recipient.agency_id, subject_id=subject_id, action=action,
                                 classes=concerned, reference=reference, key_id=key_id, signature="",
                                 created_at=at, ack_due=at + timedelta(days=ack_days))
        notice.signature = sign_document(signing_seed, notice_document(notice))
        session.add(notice)
        record(session, AuditEvent(AuditTag.RETENTION_NOTICE_SEND, decision="info", reason=action,
                                   recipient_agency_id=recipient.agency_id, classes_released=tuple(concerned),
                                   details={"notice_id": notice_id, "reference_sealed": reference is not None,
                                            "ack_due": notice.ack_due.isoformat()}),
               actor=actor, at=at)
        out.append(notice)
    session.flush()
    return out


def notices_for(session: Session, agency_id: str, *, pending_only: bool = False) -> list[RetentionNotice]:
    query = select(RetentionNotice).where(RetentionNotice.agency_id == agency_id)
    if pending_only:
        query = query.where(RetentionNotice.acknowledged_at.is_(None))
    return list(session.scalars(query.order_by(RetentionNotice.created_at, RetentionNotice.id).limit(500)))


def acknowledge(session: Session, agency_id: str, notice_id: str, *, actor: Actor, at: datetime) -> RetentionNotice:
    """The recipient confirms it applied the notice. Idempotent; another agency's notice is 404."""
    notice = session.get(RetentionNotice, notice_id)
    if notice is None or notice.agency_id != agency_id:
        raise NotFound("unknown_notice", "No such notice for your agency.")
    if notice.acknowledged_at is None:
        notice.acknowledged_at, notice.acknowledged_by = at, actor.user or actor.agency_id
        record(session, AuditEvent(AuditTag.RETENTION_NOTICE_ACK, decision="info", reason=notice.action,
                                   recipient_agency_id=agency_id, classes_released=tuple(notice.classes),
                                   details={"notice_id": notice.id, "late": at > notice.ack_due}),
               actor=actor, at=at)
    return notice


def sweep_overdue(session: Session, at: datetime) -> int:
    """Audit, once each, the notices whose acknowledgement is past due."""
    late = list(session.scalars(select(RetentionNotice).where(
        RetentionNotice.acknowledged_at.is_(None), RetentionNotice.overdue_at.is_(None),
        RetentionNotice.ack_due <= at).order_by(RetentionNotice.ack_due)))
    for notice in late:
        notice.overdue_at = at
        record(session, AuditEvent(AuditTag.RETENTION_NOTICE_OVERDUE, decision="info", reason=notice.action,
                                   recipient_agency_id=notice.agency_id, classes_released=tuple(notice.classes),
                                   details={"notice_id": notice.id, "ack_due": notice.ack_due.isoformat()}),
               actor=Actor.system(), at=at)
    return len(late)
