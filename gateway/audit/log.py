"""Appending to the audit log inside the caller's transaction.

Every effect (a consent withdrawal, a stored envelope, a verified key) and its audit
entry commit or roll back together: the caller passes its own session and this module
never commits. Entries get a gapless sequence number, which is their leaf index in the
Merkle tree (RFC 9162) that makes the log tamper-evident.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from crypto.canonical import canonical_json
from crypto.merkle import leaf_hash

from ..db import is_postgres
from .models import AuditEntry
from .tags import AuditTag

# Any constant works; it names the advisory lock that serialises appends on PostgreSQL.
_APPEND_LOCK_ID = 0x5AFE_0A0D


@dataclass(frozen=True)
class Actor:
    """Who did it: an agency client, a staff member, the person, or the system."""

    agency_id: str | None = None
    role: str | None = None
    user: str | None = None

    @staticmethod
    def system() -> Actor:
        return Actor(role="system")


@dataclass(frozen=True)
class AuditEvent:
    """What to write. Never put a payload value or a person's data in any field."""

    action: AuditTag
    decision: str = "info"
    reason: str | None = None
    subject_id: str | None = None
    purpose: str | None = None
    recipient_agency_id: str | None = None
    classes_requested: tuple[str, ...] = ()
    classes_released: tuple[str, ...] = ()
    policy_version: str | None = None
    basis: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def entry_document(entry: AuditEntry) -> dict[str, Any]:
    """The canonical content of an entry: what its leaf hash covers (everything but the hash)."""
    return {
        "seq": entry.seq,
        "entry_id": entry.entry_id,
        "at": entry.at.isoformat(),
        "request_id": entry.request_id,
        "actor": {"agency_id": entry.actor_agency_id, "role": entry.actor_role, "user": entry.actor_user},
        "action": entry.action,
        "subject_id": entry.subject_id,
        "purpose": entry.purpose,
        "recipient_agency_id": entry.recipient_agency_id,
        "classes_requested": list(entry.classes_requested),
        "classes_released": list(entry.classes_released),
        "policy_version": entry.policy_version,
        "basis": entry.basis,
        "decision": entry.decision,
        "reason": entry.reason,
        "details": entry.details,
    }


def compute_leaf_hash(entry: AuditEntry) -> str:
    return leaf_hash(canonical_json(entry_document(entry))).hex()


def record(
    session: Session,
    event: AuditEvent,
    *,
    actor: Actor,
    at: datetime,
    request_id: str | None = None,
) -> AuditEntry:
    """Append ``event`` in the caller's transaction and return the new entry (flushed)."""
    if event.decision not in {"allow", "deny", "info"}:
        raise ValueError(f"unknown decision {event.decision!r}")
    if is_postgres(session):
        # Serialise appenders so sequence numbers stay gapless; the lock ends with the transaction.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK_ID})
    next_seq = session.scalar(select(func.coalesce(func.max(AuditEntry.seq) + 1, 0)))
    entry = AuditEntry(
        seq=int(next_seq or 0),
        entry_id=str(uuid.uuid4()),
        at=at.astimezone(UTC),
        request_id=request_id,
        actor_agency_id=actor.agency_id,
        actor_role=actor.role,
        actor_user=actor.user,
        action=str(event.action),
        subject_id=event.subject_id,
        purpose=event.purpose,
        recipient_agency_id=event.recipient_agency_id,
        classes_requested=sorted(event.classes_requested),
        classes_released=sorted(event.classes_released),
        policy_version=event.policy_version,
        basis=dict(event.basis),
        decision=event.decision,
        reason=event.reason,
        details=dict(event.details),
    )
    entry.leaf_hash = compute_leaf_hash(entry)
    session.add(entry)
    session.flush()
    return entry


def record_refusal(
    sessions: sessionmaker[Session],
    event: AuditEvent,
    *,
    actor: Actor,
    at: datetime,
    request_id: str | None = None,
) -> None:
    """Audit a refused request in its own transaction.

    A refusal rolls back the work it refused, so its audit entry cannot share that
    transaction; it is written on its own, and nothing else is stored.
    """
    with sessions() as session, session.begin():
        record(session, event, actor=actor, at=at, request_id=request_id)
