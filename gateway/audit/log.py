"""Appending to the audit log inside the caller's transaction.

Every effect (a consent withdrawal, a stored envelope, a verified key) and its audit
entry commit or roll back together: the caller passes its own session and this module
never commits. Entries get a gapless sequence number, which is their leaf index in the
Merkle tree (RFC 9162) that makes the log tamper-evident; the tree nodes that the new
leaf completes are stored in the same transaction (:mod:`gateway.audit.tree`).

How other modules write entries::

    with ctx.sessions() as session, session.begin():
        ...  # the effect: rows added or changed
        record(session, AuditEvent(AuditTag.CONSENT_WITHDRAW, subject_id=subject.id,
                                   purpose=purpose, details={"consent_id": consent.id}),
               actor=caller.actor(), at=ctx.clock.now(), request_id=request_id)

A refused request rolls its transaction back, so write its entry with
:func:`record_refusal` (its own transaction). Fields hold ids, codes, counts and class
names only: never a payload value, a name, an address or free text typed by a person.
Conventions the console relies on: ``basis = {"consent_ids": [...], "exception": "L3" | None}``
(the policy decision's basis); ``details["envelope_id"]`` on every ``exchange:envelope:*``
entry (to pair submits with acknowledgements); ``details["deferred_until"]`` (RFC 3339)
and ``details["defer_reason"]`` (a code) on an entry the person's portal must hide for now.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session, sessionmaker

from crypto.audit_leaf import entry_leaf_hash

from . import subject_keys, tree
from .models import AuditEntry
from .tags import AuditTag


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


def document_of_values(values: Sequence[Any]) -> dict[str, Any]:
    """The canonical content of an entry (what its leaf hash covers: everything but the hash).

    ``values`` are the entry's columns in :data:`gateway.audit.leaves.ENTRY_COLUMNS` order, up
    to ``details``, with ``at`` already written as ``datetime.isoformat()`` of the UTC time and
    the JSON columns as values. The one definition of the document's shape: the log, the API,
    exports and the verifier build it here, and :func:`crypto.audit_leaf.entry_leaf_hash` hashes it.
    """
    (seq, entry_id, at, request_id, agency_id, role, user, action, subject_id, purpose, recipient_agency_id,
     classes_requested, classes_released, policy_version, basis, decision, reason, details) = values[:18]
    return {
        "seq": seq,
        "entry_id": entry_id,
        "at": at,
        "request_id": request_id,
        "actor": {"agency_id": agency_id, "role": role, "user": user},
        "action": action,
        "subject_id": subject_id,
        "purpose": purpose,
        "recipient_agency_id": recipient_agency_id,
        "classes_requested": classes_requested,
        "classes_released": classes_released,
        "policy_version": policy_version,
        "basis": basis,
        "decision": decision,
        "reason": reason,
        "details": details,
    }


def entry_document(entry: AuditEntry) -> dict[str, Any]:
    """The canonical content of ``entry`` (see :func:`document_of_values`)."""
    return document_of_values((
        entry.seq, entry.entry_id, entry.at.isoformat(), entry.request_id, entry.actor_agency_id, entry.actor_role,
        entry.actor_user, entry.action, entry.subject_id, entry.purpose, entry.recipient_agency_id,
        list(entry.classes_requested), list(entry.classes_released), entry.policy_version, entry.basis,
        entry.decision, entry.reason, entry.details,
    ))


_INSERT_ENTRY = insert(cast(Table, AuditEntry.__table__))


def compute_leaf_hash(entry: AuditEntry) -> str:
    return entry_leaf_hash(entry_document(entry)).hex()


def _key_sorted(value: Any) -> Any:
    """A copy with every object's keys in sorted order.

    The stored JSON then lists keys as canonical JSON does, which lets the verifier
    recompute leaf hashes from the stored text without re-parsing it (gateway.audit.leaves).
    """
    if isinstance(value, dict):
        return {key: _key_sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_key_sorted(item) for item in value]
    return value


def record(
    session: Session,
    event: AuditEvent,
    *,
    actor: Actor,
    at: datetime,
    request_id: str | None = None,
) -> AuditEntry:
    """Append ``event`` in the caller's transaction and return the new entry (written, not attached).

    Costs about three statements: the last leaf (the size, and the left sibling the new leaf
    pairs with), the INSERT, and the tree nodes the new leaf completes (every other append;
    one in four also reads deeper left siblings). On PostgreSQL the append lock comes first.
    """
    if event.decision not in {"allow", "deny", "info"}:
        raise ValueError(f"unknown decision {event.decision!r}")
    # Serialise appenders so sequence numbers stay gapless; the lock ends with the transaction.
    tree.lock_appends(session)
    session.flush()  # what the caller added first is written first, as before
    last = tree.last_leaf(session)  # the size, and the left sibling an odd-numbered leaf pairs with
    values: dict[str, Any] = {
        "seq": 0 if last is None else last[0] + 1,
        "entry_id": str(uuid.uuid4()),
        "at": at.astimezone(UTC),
        "request_id": request_id,
        "actor_agency_id": actor.agency_id,
        "actor_role": actor.role,
        "actor_user": actor.user,
        "action": str(event.action),
        # The leaf commits to the subject's keyed pseudonym, never the id (gateway.audit.subject_keys).
        "subject_id": None if event.subject_id is None else subject_keys.pseudonym(session, event.subject_id, at=at),
        "purpose": event.purpose,
        "recipient_agency_id": event.recipient_agency_id,
        "classes_requested": sorted(event.classes_requested),
        "classes_released": sorted(event.classes_released),
        "policy_version": event.policy_version,
        "basis": _key_sorted(event.basis),
        "decision": event.decision,
        "reason": event.reason,
        "details": _key_sorted(event.details),
    }
    entry = AuditEntry(**values)
    leaf = entry_leaf_hash(entry_document(entry))
    entry.leaf_hash = values["leaf_hash"] = leaf.hex()
    # One INSERT, without the unit of work's bookkeeping. The entry returned is not attached
    # to the session (a rollback leaves no stale object behind; session.get reads the row).
    session.connection().execute(_INSERT_ENTRY, values)
    tree.append_leaf(session, entry.seq, leaf, previous_leaf=None if last is None else last[1])
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
