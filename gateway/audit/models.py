"""The audit entry table. Rows are only ever inserted; a Merkle tree over them proves it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from consent.orm import Base


class CompactJSON(TypeDecorator[Any]):
    """JSON that SQLite stores compactly, keys sorted (what canonical JSON writes for most values).

    The stored text then needs no rewriting when the verifier rebuilds an entry's canonical
    document from it (gateway.audit.leaves), which keeps full verification fast. The values
    read back are the same as with plain JSON; PostgreSQL keeps its own JSON handling.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(Text() if dialect.name == "sqlite" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "sqlite" or value is None:
            return value
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return json.loads(value) if isinstance(value, str) else value


_PAIRED = "action IN ('exchange:envelope:submit', 'exchange:envelope:ack')"


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_subject_seq", "subject_id", "seq"),
        Index("ix_audit_entries_action_seq", "action", "seq"),
        Index("ix_audit_entries_actor_seq", "actor_agency_id", "seq"),
        Index("ix_audit_entries_recipient_seq", "recipient_agency_id", "seq"),
        Index("ix_audit_entries_at", "at"),  # the console's charts count a window of days
        # Submissions and acknowledgements by envelope id (gateway.audit.tallies pairs them); on
        # PostgreSQL only (migration 0022).
        Index("ix_audit_entries_envelope", text("(details ->> 'envelope_id')"), "action", "seq",
              postgresql_where=text(_PAIRED)).ddl_if(dialect="postgresql"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Leaf index in the Merkle tree, gapless from 0."""
    entry_id: Mapped[str] = mapped_column(String(40), unique=True)
    at: Mapped[datetime]
    request_id: Mapped[str | None] = mapped_column(String(64))
    actor_agency_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(40))
    actor_user: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(40))
    recipient_agency_id: Mapped[str | None] = mapped_column(String(64))
    classes_requested: Mapped[list[str]] = mapped_column(CompactJSON(), default=list)
    classes_released: Mapped[list[str]] = mapped_column(CompactJSON(), default=list)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    basis: Mapped[dict[str, Any]] = mapped_column(CompactJSON(), default=dict)
    decision: Mapped[str] = mapped_column(String(10))
    """allow | deny | info"""
    reason: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(CompactJSON(), default=dict)
    """Ids, counts and codes only: never a payload value or personal data."""
    leaf_hash: Mapped[str] = mapped_column(String(64))
    """Hex RFC 9162 leaf hash of the canonical JSON of every other column."""


class AuditTreeNode(Base):
    """The hash of one complete (perfect) subtree of the Merkle tree over ``audit_entries``.

    Node ``(level, idx)`` covers leaves ``[idx * 2**level, (idx + 1) * 2**level)``; level 0 is
    the leaf level and lives in ``audit_entries.leaf_hash``, so only levels >= 1 are stored
    here. Appending leaf ``n`` completes one node per trailing 1-bit of ``n`` (one on
    average, at most log2(n)), written in the same transaction as the entry. Every root and
    proof of RFC 9162 is a fold of O(log n) of these nodes.
    """

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    """SHA-256 interior-node hash (RFC 9162 §2.1.1), 32 raw bytes."""


class AuditCheckpoint(Base):
    """A signed tree head: tree size and root hash, signed by the gateway's Ed25519 key.

    Several checkpoints may share a size (re-signed later with a newer timestamp), but
    they must share its root too: two roots for one size is a split view.
    """

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_tree_size", "tree_size"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    """Hex."""
    timestamp: Mapped[str] = mapped_column(String(40))
    """RFC 3339 UTC with milliseconds, exactly as signed."""
    origin: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))
    """Base64url Ed25519 signature over the canonical checkpoint document."""
    created_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    """The same tree head as a C2SP checkpoint note signed with the checkpoint key (not the token key)."""


class AuditCosignature(Base):
    """A witness's tlog-cosignature/v1 on one checkpoint note, as the witness sent it (insert-only)."""

    __tablename__ = "audit_cosignatures"
    __table_args__ = (UniqueConstraint("checkpoint_id", "witness", "key_id"),
                      Index("ix_audit_cosignatures_checkpoint", "checkpoint_id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    checkpoint_id: Mapped[int] = mapped_column(BigInteger)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    witness: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(8))
    """Hex of the 4-byte note key id."""
    line: Mapped[str] = mapped_column(Text)
    """The signature line, exactly as the witness sent it."""
    cosigned_at: Mapped[int] = mapped_column(BigInteger)
    """The witness's POSIX timestamp inside the cosignature."""
    created_at: Mapped[datetime]


class AuditVerification(Base):
    """The outcome of one full verification of the log (``gateway audit verify`` or the console)."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool]
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    checkpoints_checked: Mapped[int]
    problem_count: Mapped[int]
    problems: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    """The first problems found (kind, seq, detail): no entry content."""
    source: Mapped[str] = mapped_column(String(40))
    """``cli``, ``console:<username>`` or ``api``."""


class AuditTally(Base):
    """How many entries each DPO dashboard holds among ``seq < upto`` (:mod:`gateway.audit.tallies`).

    Entries never change, so a count over a prefix of the log stays true: the console adds the
    entries appended since, then moves ``upto`` on. Not evidence (the entries are); a convenience
    that keeps the console's overview from reading the whole log on every visit.
    """

    __tablename__ = "audit_tallies"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    """What was counted (the dashboards' conditions that depend on policy data): a change starts over."""
    upto: Mapped[int] = mapped_column(BigInteger)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
