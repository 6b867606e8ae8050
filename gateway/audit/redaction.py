"""Redacting audit entries without breaking the Merkle tree.

Some old entries hold what must go: before issue 17, an ``exchange:submit`` entry's details held
the unkeyed ``preview_hash`` (SHA-256 of the language and the values the person approved: a
dictionary over names, languages and risk levels confirms a guess). Rewriting the tree would
invalidate every signed checkpoint and witness cosignature, so a redaction keeps the leaf hash
and proves, in a later entry, what was removed.

**Why the entry id goes too.** The stored leaf hash is ``SHA-256(0x00 || canonical(document))``,
and every other field of the document sits in the row: with the preview hash replaced by a
marker, a guesser could still rebuild the original document around each guessed hash and compare
its leaf with the stored one. The document's only high-entropy field is its ``entry_id`` (a random
UUID, 122 bits); a redaction replaces it as well, so the kept leaf commits to a secret nobody
holds any more (the id is a salt, crypto-shredded) and confirms no guess.

**How verification still holds.** Each redaction batch is one ``audit:log:redact`` entry whose
details carry the SHA-256 of the batch's records, and one :class:`AuditRedaction` row per
redacted entry: its seq, the leaf hash it keeps, the SHA-256 of its redacted document, the fields
removed. ``gateway audit verify`` accepts an entry whose recomputed leaf differs from the stored
one only when (:class:`Redactions`):

1. a redaction record names it, with the stored leaf hash, and the SHA-256 of the entry's
   current (redacted) document equals the record's, so nothing else in the entry may change;
2. the record's batch is recorded by a *later* entry whose details hold the digest of exactly
   that batch's records (and that entry's own leaf is checked as any other).

The tree nodes and checkpoints are checked over the kept leaves as before. Tampering with a
redacted entry, a redaction record or the batch entry is reported, as is a record without its
entry. An entry that does not verify is never redacted (it would launder the change).

The redaction rewrites rows the gateway's role may not touch (``gateway.audit.guard``): it runs as
the tables' owner (``gateway audit redact-preview-hashes`` with the owner's database URL). On
SQLite it lifts the UPDATE trigger of ``audit_entries`` for its own transaction and puts it back.

API for other redactions (e.g. crypto-shredding a subject link)::

    batch = redact_entries(session, [Redaction(seq, details_keys=("preview_hash",))],
                           reason="unkeyed_preview_hash", actor=Actor.system(), at=now)
    # columns=("subject_id",) replaces a column's value with the marker instead
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, Text, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from consent.orm import Base
from crypto.audit_leaf import entry_leaf_data
from crypto.canonical import canonical_json
from kernel.ids import SHORT, new_id

from .leaves import ENTRY_COLUMNS, EntryRow, document_of_row, leaf_matches
from .log import Actor, AuditEvent, record
from .models import AuditEntry, CompactJSON
from .tags import AuditTag

__all__ = [
    "PREVIEW_HASH_REASON",
    "REDACTABLE_COLUMNS",
    "REDACTED",
    "AuditRedaction",
    "Redaction",
    "RedactionBatch",
    "RedactionRefused",
    "Redactions",
    "preview_hash_redactions",
    "redact_entries",
    "redacted_digest",
]

REDACTED = "(redacted)"
"""What a removed value is replaced with."""
PREVIEW_HASH_REASON = "unkeyed_preview_hash"
REDACTABLE_COLUMNS = ("subject_id", "purpose", "recipient_agency_id", "actor_user", "request_id")
"""Columns whose value may be replaced by the marker (``entry_id`` is always replaced)."""
_COLUMN_INDEX = {"request_id": 3, "actor_user": 6, "subject_id": 8, "purpose": 9, "recipient_agency_id": 10}
_ENTRY_UPDATE_TRIGGER = "audit_entries_refuse_update"


class AuditRedaction(Base):
    """One redacted entry: the leaf it keeps and the digest of what it now holds. Only inserted."""

    __tablename__ = "audit_redactions"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """The redacted entry."""
    batch_id: Mapped[str] = mapped_column(String(40), index=True)
    recorded_seq: Mapped[int] = mapped_column(BigInteger)
    """The ``audit:log:redact`` entry that records the batch (always later than ``seq``)."""
    leaf_hash: Mapped[str] = mapped_column(String(64))
    redacted_digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of the canonical document of the entry as redacted."""
    fields: Mapped[list[str]] = mapped_column(CompactJSON(), default=list)
    """What was removed: ``details.<key>`` and column names (``entry_id`` always)."""
    reason: Mapped[str] = mapped_column(String(40))
    redacted_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)


class RedactionRefused(Exception):
    """A redaction that cannot be made (an entry missing, altered, or not the caller's to change)."""


@dataclass(frozen=True)
class Redaction:
    """What to remove from one entry: keys of its details and/or whole columns."""

    seq: int
    details_keys: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(REDACTABLE_COLUMNS)
        if unknown:
            raise ValueError(f"columns that cannot be redacted: {sorted(unknown)}")

    @property
    def fields(self) -> list[str]:
        return sorted({"entry_id", *(f"details.{k}" for k in self.details_keys), *self.columns})


@dataclass(frozen=True)
class RedactionBatch:
    batch_id: str
    recorded_seq: int
    seqs: tuple[int, ...]


def redacted_digest(row: EntryRow) -> str:
    """SHA-256 (hex) of the canonical document of ``row`` as it is stored."""
    return hashlib.sha256(entry_leaf_data(document_of_row(row))).hexdigest()


def _record_document(r: AuditRedaction) -> list[Any]:
    return [r.seq, r.leaf_hash, r.redacted_digest, sorted(r.fields), r.reason]


def batch_digest(records: Iterable[AuditRedaction]) -> str:
    """What the batch's ``audit:log:redact`` entry commits to: its records, in seq order."""
    documents = [_record_document(r) for r in sorted(records, key=lambda r: r.seq)]
    return hashlib.sha256(canonical_json(documents)).hexdigest()


def _entry_row(session: Session, seq: int) -> EntryRow | None:
    found = session.execute(select(*ENTRY_COLUMNS).where(AuditEntry.seq == seq)).first()
    return None if found is None else tuple(found)


def _redacted_values(row: EntryRow, redaction: Redaction) -> dict[str, Any]:
    details = json.loads(row[17])
    if not isinstance(details, dict):
        raise RedactionRefused(f"seq {redaction.seq}: details are not an object")
    for key in redaction.details_keys:
        if key in details:
            details[key] = REDACTED
    values: dict[str, Any] = {"entry_id": f"redacted-{uuid.uuid4().hex}"[:40],
                              "details": {k: details[k] for k in sorted(details)}}
    for column in redaction.columns:
        values[column] = None if row[_COLUMN_INDEX[column]] is None else REDACTED
    return values


def _lift_sqlite_guard(session: Session) -> Callable[[], None]:
    """On SQLite, drop the UPDATE trigger of ``audit_entries`` for this transaction; returns its reinstatement."""
    if session.get_bind().dialect.name != "sqlite":
        return lambda: None
    found = session.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
                            {"n": _ENTRY_UPDATE_TRIGGER}).scalar()
    if found is None:
        return lambda: None
    session.execute(text(f"DROP TRIGGER {_ENTRY_UPDATE_TRIGGER}"))

    def reinstate() -> None:
        session.execute(text(str(found)))

    return reinstate


def redact_entries(session: Session, redactions: Sequence[Redaction], *, reason: str, actor: Actor,
                   at: datetime, note: str | None = None) -> RedactionBatch | None:
    """Redact the entries in the caller's transaction (run as the tables' owner) and record the
    batch as a new audit entry. Nothing to do (empty list) records nothing and returns None.

    Refused (:class:`RedactionRefused`, nothing changed once the caller rolls back) when an entry is
    missing, already redacted, or does not verify as stored.
    """
    if not redactions:
        return None
    if len({r.seq for r in redactions}) != len(redactions):
        raise RedactionRefused("an entry is named twice")
    batch_id = new_id("rdb", size=SHORT)
    records: list[AuditRedaction] = []
    changes: list[tuple[int, dict[str, Any]]] = []
    for redaction in sorted(redactions, key=lambda r: r.seq):
        row = _entry_row(session, redaction.seq)
        if row is None:
            raise RedactionRefused(f"seq {redaction.seq}: no such entry")
        if session.get(AuditRedaction, redaction.seq) is not None:
            raise RedactionRefused(f"seq {redaction.seq}: already redacted")
        if not leaf_matches(row)[1]:
            raise RedactionRefused(f"seq {redaction.seq}: the entry does not match its leaf hash")
        values = _redacted_values(row, redaction)
        redacted = list(row)
        redacted[1] = values["entry_id"]
        redacted[17] = json.dumps(values["details"], separators=(",", ":"), sort_keys=True)
        for column in redaction.columns:
            redacted[_COLUMN_INDEX[column]] = values[column]
        changes.append((redaction.seq, values))
        records.append(AuditRedaction(seq=redaction.seq, batch_id=batch_id, leaf_hash=str(row[18]),
                                      redacted_digest=redacted_digest(tuple(redacted)), fields=redaction.fields,
                                      reason=reason, redacted_at=at, note=note))
    reinstate = _lift_sqlite_guard(session)
    try:
        for seq, values in changes:
            session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(**values))
    finally:
        reinstate()
    fields = sorted({f for r in records for f in r.fields})
    entry = record(session, AuditEvent(AuditTag.AUDIT_REDACT, decision="info", reason=reason,
                                       details={"batch_id": batch_id, "count": len(records),
                                                "digest": batch_digest(records), "fields": fields,
                                                "first_seq": records[0].seq, "last_seq": records[-1].seq}),
                   actor=actor, at=at)
    for r in records:
        r.recorded_seq = entry.seq
    session.add_all(records)
    session.flush()
    return RedactionBatch(batch_id=batch_id, recorded_seq=entry.seq, seqs=tuple(r.seq for r in records))


def preview_hash_redactions(session: Session) -> list[Redaction]:
    """Every entry still holding an unkeyed ``preview_hash`` (or the language beside it) in its details."""
    done = select(AuditRedaction.seq)
    rows = session.execute(select(AuditEntry.seq, AuditEntry.details)
                           .where(AuditEntry.action == str(AuditTag.EXCHANGE_SUBMIT), AuditEntry.seq.not_in(done))
                           .order_by(AuditEntry.seq)).all()
    found: list[Redaction] = []
    for seq, details in rows:
        if not isinstance(details, dict):
            continue
        keys = tuple(k for k in ("preview_hash", "language") if details.get(k) not in (None, REDACTED))
        if keys:
            found.append(Redaction(int(seq), details_keys=keys))
    return found


# ------------------------------------------------------------------------------ verification


@dataclass
class Redactions:
    """What verification needs: the records by seq and, per batch, whether its recording entry proves it."""

    records: dict[int, AuditRedaction]
    problems: list[tuple[str, str, int | None]] = field(default_factory=list)
    """(kind, detail, seq) for the verification report."""
    proven_batches: set[str] = field(default_factory=set)

    @staticmethod
    def load(fetch: Callable[[Any], list[Any]]) -> Redactions:
        """Read the records and their batch entries through the verifier's snapshot (``fetch``)."""
        rows = fetch(select(AuditRedaction.seq, AuditRedaction.batch_id, AuditRedaction.recorded_seq,
                            AuditRedaction.leaf_hash, AuditRedaction.redacted_digest,
                            AuditRedaction.fields, AuditRedaction.reason))
        records: dict[int, AuditRedaction] = {}
        batches: dict[str, list[AuditRedaction]] = defaultdict(list)
        for seq, batch_id, recorded_seq, leaf, digest, fields, reason in rows:
            parsed = json.loads(fields) if isinstance(fields, str) else fields
            r = AuditRedaction(seq=int(seq), batch_id=batch_id, recorded_seq=int(recorded_seq), leaf_hash=leaf,
                               redacted_digest=digest, fields=list(parsed or []), reason=reason)
            records[r.seq] = r
            batches[batch_id].append(r)
        found = Redactions(records)
        recorders = {r.recorded_seq for r in records.values()}
        entries = {int(seq): (action, details) for seq, action, details in fetch(
            select(AuditEntry.seq, AuditEntry.action, AuditEntry.details).where(AuditEntry.seq.in_(recorders)))
        } if recorders else {}
        for batch_id, members in sorted(batches.items()):
            recorded = {m.recorded_seq for m in members}
            seq = next(iter(recorded))
            action, details = entries.get(seq, (None, None))
            details = json.loads(details) if isinstance(details, str) else details
            if (len(recorded) != 1 or action != str(AuditTag.AUDIT_REDACT) or not isinstance(details, dict)
                    or details.get("batch_id") != batch_id or details.get("count") != len(members)
                    or details.get("digest") != batch_digest(members)
                    or any(m.seq >= seq for m in members)):
                found.problems.append(("redaction_unproven", f"redaction batch {batch_id} is not the one its "
                                       f"audit entry (seq {seq}) records", seq))
                continue
            found.proven_batches.add(batch_id)
        return found

    def vouch(self, row: EntryRow) -> bytes | None:
        """The kept leaf hash of a redacted entry whose content is exactly what its proven record says."""
        r = self.records.get(row[0]) if type(row[0]) is int else None
        if r is None or r.batch_id not in self.proven_batches or row[18] != r.leaf_hash:
            return None
        try:
            if redacted_digest(row) != r.redacted_digest:
                return None
        except (TypeError, ValueError, RecursionError):
            return None
        return bytes.fromhex(r.leaf_hash)
