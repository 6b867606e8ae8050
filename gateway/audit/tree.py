"""The Merkle tree over ``audit_entries``, kept in the database so appends and proofs stay O(log n).

Leaf ``i`` is the stored ``leaf_hash`` of the entry with ``seq = i`` (RFC 9162 §2.1.1:
``SHA-256(0x00 || canonical_json(entry_document(entry)))``). Every complete (perfect)
subtree is stored as it completes, in ``audit_tree_nodes`` (see :class:`AuditTreeNode`).

Why this is enough: in an RFC 9162 tree every subtree ``D[lo:hi]`` that a root or a proof
needs starts at a multiple of a power of two at least as large as itself, so it splits
into at most log2(n) *stored* perfect subtrees (the binary digits of its size). The
planning functions below are pure: they name the ``(level, idx)`` nodes to read and how
to fold them; :func:`root_at`, :func:`inclusion_proof` and :func:`consistency_proof`
read those nodes in one query. Their answers equal :mod:`crypto.merkle`'s over all leaves
(the tests check this exhaustively for small trees and against the published vectors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import cast

from sqlalchemy import Select, Table, and_, bindparam, func, insert, or_, select, text
from sqlalchemy.orm import Session

from crypto.merkle import empty_root, node_hash_unchecked

from ..db import APPEND_LOCK_ID, is_postgres
from .models import AuditEntry, AuditTreeNode

__all__ = [
    "NodeKey",
    "append_leaf",
    "completed_nodes",
    "consistency_plan",
    "consistency_proof",
    "fold",
    "inclusion_plan",
    "inclusion_proof",
    "last_leaf",
    "lock_appends",
    "perfect_subtrees",
    "read_nodes",
    "root_at",
    "tree_size",
]

NodeKey = tuple[int, int]
"""``(level, idx)``: the perfect subtree over leaves ``[idx << level, (idx + 1) << level)``."""

_APPEND_LOCK_ID = APPEND_LOCK_ID


# --- pure planning -------------------------------------------------------------------


def perfect_subtrees(lo: int, hi: int) -> list[NodeKey]:
    """The aligned perfect subtrees that tile ``[lo, hi)``, left to right, largest first."""
    if not 0 <= lo <= hi:
        raise ValueError("need 0 <= lo <= hi")
    out: list[NodeKey] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        while lo & ((1 << level) - 1):  # not aligned: a smaller block
            level -= 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def _largest_power_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_plan(index: int, size: int) -> list[list[NodeKey]]:
    """The audit path ``PATH(index, D[size])`` (RFC 9162 §2.1.3.1) as node groups, leaf upwards.

    Each group is folded with :func:`fold` into one proof hash.
    """
    if not 0 <= index < size:
        raise IndexError("leaf index out of range")
    outer_first: list[list[NodeKey]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_below(hi - lo)
        if index - lo < k:
            outer_first.append(perfect_subtrees(lo + k, hi))
            hi = lo + k
        else:
            outer_first.append(perfect_subtrees(lo, lo + k))
            lo += k
    outer_first.reverse()
    return outer_first


def consistency_plan(first: int, second: int) -> list[list[NodeKey]]:
    """The proof ``PROOF(first, D[second])`` (RFC 9162 §2.1.4.1) as node groups."""
    if not 0 <= first <= second:
        raise ValueError("need 0 <= first <= second")
    if first in (0, second):
        return []
    outer_first: list[list[NodeKey]] = []
    m, lo, hi, complete = first, 0, second, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                outer_first.append(perfect_subtrees(lo, hi))
            break
        k = _largest_power_below(n)
        if m <= k:
            outer_first.append(perfect_subtrees(lo + k, hi))
            hi = lo + k
        else:
            outer_first.append(perfect_subtrees(lo, lo + k))
            lo += k
            m -= k
            complete = False
    outer_first.reverse()
    return outer_first


def fold(group: Sequence[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    """``MTH`` of the range that ``group`` (from :func:`perfect_subtrees`) tiles.

    The right-most subtree is the deepest right child, so fold from the right.
    """
    if not group:
        return empty_root()
    result = nodes[group[-1]]
    for key in reversed(group[:-1]):
        result = node_hash_unchecked(nodes[key], result)
    return result


def completed_nodes(seq: int) -> list[tuple[NodeKey, NodeKey]]:
    """The nodes that appending leaf ``seq`` completes, as ``(new node, its left child)``, bottom up."""
    out: list[tuple[NodeKey, NodeKey]] = []
    level, idx = 0, seq
    while idx & 1:
        out.append(((level + 1, idx >> 1), (level, idx - 1)))
        level += 1
        idx >>= 1
    return out


# --- the database ----------------------------------------------------------------------


def lock_appends(session: Session) -> None:
    """Serialise appenders (and checkpoint signers) until the transaction ends.

    SQLite transactions already start with ``BEGIN IMMEDIATE``, and PostgreSQL writers with this
    very lock (see :mod:`gateway.db`): here it is only taken again (it is re-entrant), through the
    connection so that nothing the caller added is flushed, and no row locked, before it.
    """
    if is_postgres(session):
        session.connection().execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK_ID})


def tree_size(session: Session) -> int:
    """The number of leaves: entries are gapless from seq 0."""
    # A bare max() so SQLite answers from the primary-key index instead of scanning.
    last = session.scalar(select(func.max(AuditEntry.seq)))
    return 0 if last is None else int(last) + 1


def read_nodes(session: Session, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """Read stored nodes (level 0 from the entries' leaf hashes); raise LookupError if one is missing."""
    wanted = set(keys)
    leaves = sorted(idx for level, idx in wanted if level == 0)
    inner = sorted(key for key in wanted if key[0] > 0)
    found: dict[NodeKey, bytes] = {}
    if leaves:
        rows = session.execute(select(AuditEntry.seq, AuditEntry.leaf_hash).where(AuditEntry.seq.in_(leaves)))
        for seq, leaf in rows:
            found[(0, int(seq))] = bytes.fromhex(leaf)
    if inner:
        by_level: dict[int, list[int]] = {}
        for level, idx in inner:
            by_level.setdefault(level, []).append(idx)
        # One "level = ? AND idx IN (...)" per level: both databases answer it from the
        # primary key (SQLite scans the table for a row-value IN).
        nodes = session.execute(
            select(AuditTreeNode.level, AuditTreeNode.idx, AuditTreeNode.hash).where(or_(*(
                and_(AuditTreeNode.level == level, AuditTreeNode.idx.in_(idxs)) for level, idxs in by_level.items()
            )))
        )
        for level, idx, value in nodes:
            found[(int(level), int(idx))] = bytes(value)
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"the stored Merkle tree lacks nodes {sorted(missing)[:5]}")
    return found


_ENTRIES = cast(Table, AuditEntry.__table__)
_NODES = cast(Table, AuditTreeNode.__table__)
# Core statements, built once (SQLAlchemy then reuses their compiled SQL) and executed on the
# session's connection: an append pays for its SQL, not for the ORM around it.
_LAST_LEAF = select(_ENTRIES.c.seq, _ENTRIES.c.leaf_hash).order_by(_ENTRIES.c.seq.desc()).limit(1)
_INSERT_NODES = insert(_NODES)


@cache
def _nodes_statement(count: int) -> Select[int, int, bytes]:
    """``count`` nodes by primary key, as ``level = ? AND idx = ?`` pairs (an index lookup each)."""
    return select(_NODES.c.level, _NODES.c.idx, _NODES.c.hash).where(or_(*(
        and_(_NODES.c.level == bindparam(f"l{i}"), _NODES.c.idx == bindparam(f"i{i}")) for i in range(count))))


def last_leaf(session: Session) -> tuple[int, bytes] | None:
    """``(seq, stored leaf hash)`` of the last entry, or None for an empty log: one index lookup.

    Gives the tree size (``seq + 1``) and, for an odd size, the left sibling the next leaf
    completes a node with, in one statement.
    """
    row = session.connection().execute(_LAST_LEAF).first()
    return None if row is None else (int(row[0]), bytes.fromhex(row[1]))


def append_leaf(session: Session, seq: int, leaf: bytes, *, previous_leaf: bytes | None = None) -> None:
    """Store the nodes that leaf ``seq`` completes. Call with the append lock held, after the entry.

    ``previous_leaf`` is the stored hash of leaf ``seq - 1`` when the caller has it already
    (see :func:`last_leaf`); the deeper left siblings (needed by one append in four) are read
    in one query, and the new nodes are written in one statement.
    """
    completed = completed_nodes(seq)
    if not completed:
        return
    connection = session.connection()
    lefts: dict[NodeKey, bytes] = {}
    if previous_leaf is None:
        lefts = read_nodes(session, (left for _, left in completed))
    else:
        lefts[(0, seq - 1)] = previous_leaf
        deeper = [left for _, left in completed[1:]]
        if deeper:
            params = {}
            for i, (level, idx) in enumerate(deeper):
                params[f"l{i}"], params[f"i{i}"] = level, idx
            for level, idx, value in connection.execute(_nodes_statement(len(deeper)), params):
                lefts[(int(level), int(idx))] = bytes(value)
            missing = set(deeper) - lefts.keys()
            if missing:
                raise LookupError(f"the stored Merkle tree lacks nodes {sorted(missing)[:5]}")
    right = leaf
    rows = []
    for (level, idx), left in completed:
        right = node_hash_unchecked(lefts[left], right)
        rows.append({"level": level, "idx": idx, "hash": right})
    connection.execute(_INSERT_NODES, rows)


_LAST_SEQ = select(func.max(_ENTRIES.c.seq)).scalar_subquery()


def _nodes_within(session: Session, size: int, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """The stored nodes ``keys`` of the tree of ``size`` leaves; ValueError if the log holds fewer.

    The size is checked in the statement that reads the leaves (the last entry comes with them),
    so a proof costs two statements, not three: at national scale a proof's time is its round
    trips (``bench/national.py``).
    """
    wanted = set(keys)
    leaves = {idx for level, idx in wanted if level == 0}
    found: dict[NodeKey, bytes] = {}
    current = 0
    rows = session.connection().execute(select(_ENTRIES.c.seq, _ENTRIES.c.leaf_hash).where(
        or_(_ENTRIES.c.seq.in_(sorted(leaves)), _ENTRIES.c.seq == _LAST_SEQ)))
    for seq, leaf in rows:
        current = max(current, int(seq) + 1)
        if int(seq) in leaves:
            found[(0, int(seq))] = bytes.fromhex(leaf)
    if not 0 <= size <= current:
        raise ValueError(f"tree size {size} is beyond the log ({current} entries)")
    missing = {(0, idx) for idx in leaves} - found.keys()
    if missing:
        raise LookupError(f"the stored Merkle tree lacks nodes {sorted(missing)[:5]}")
    inner = sorted(key for key in wanted if key[0] > 0)
    if inner:
        # Core, with a statement cached per node count (as appends read): a proof pays for its
        # SQL, not for the ORM around it.
        params: dict[str, int] = {}
        for i, (level, idx) in enumerate(inner):
            params[f"l{i}"], params[f"i{i}"] = level, idx
        for level, idx, value in session.connection().execute(_nodes_statement(len(inner)), params):
            found[(int(level), int(idx))] = bytes(value)
        missing = set(inner) - found.keys()
        if missing:
            raise LookupError(f"the stored Merkle tree lacks nodes {sorted(missing)[:5]}")
    return found


def root_at(session: Session, size: int) -> bytes:
    """``MTH(D[size])`` from at most log2(size) stored nodes."""
    group = perfect_subtrees(0, size) if size >= 0 else []
    return fold(group, _nodes_within(session, size, group))


def _groups(session: Session, size: int, plan: list[list[NodeKey]]) -> list[bytes]:
    nodes = _nodes_within(session, size, (key for group in plan for key in group))
    return [fold(group, nodes) for group in plan]


def inclusion_proof(session: Session, seq: int, size: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``seq`` in the tree of ``size`` leaves."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    return _groups(session, size, inclusion_plan(seq, size))


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    """The RFC 9162 consistency proof from the tree of ``first`` leaves to that of ``second``."""
    return _groups(session, second, consistency_plan(first, second))
