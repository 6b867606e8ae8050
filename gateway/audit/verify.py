"""Full verification of the audit log from what is stored: entries, tree nodes, checkpoints.

:func:`verify_log` is pure: give it the entry rows in seq order, the stored tree nodes,
the stored checkpoints and the gateway's public key, and it reports every problem with
the exact entry (seq) concerned. :func:`verify_database` feeds it with bulk reads.
Checks, in order:

1. ``seq`` is gapless from 0 (a missing seq is a deleted entry);
2. every entry's content hashes to its stored ``leaf_hash`` (an altered byte, or an entry
   moved to another position, since the hash covers ``seq``);
3. the tree rebuilt from the *recomputed* leaves equals every stored node, and no node
   lies beyond the last entry (a truncated tail leaves such nodes behind);
4. every checkpoint is signed by the gateway key and its root equals the recomputed
   root at its size; a checkpoint larger than the log means the tail was cut off;
5. two checkpoints of one size with different roots are a split view; consecutive
   checkpoints must be consistent (RFC 9162 §2.1.4).

It fails closed: an unreadable or malformed value is a problem, never a pass.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import logging
import multiprocessing
import os
import pickle
import selectors
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, Engine, create_engine, func, select
from sqlalchemy.orm import Session

from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.errors import CryptoError
from crypto.merkle import empty_root, parent_level, verify_consistency

from ..db import READ_ONLY
from . import sqlite_leaves
from .leaves import ENTRY_COLUMNS, EntryRow, leaf_matches, select_entry_rows, slow_leaf_hash
from .models import AuditCheckpoint, AuditEntry, AuditTreeNode, AuditVerification
from .redaction import Redactions
from .tree import NodeKey, consistency_plan, fold, perfect_subtrees

__all__ = [
    "HashedChunk",
    "Problem",
    "VerificationReport",
    "count_entries",
    "hash_rows",
    "last_verification",
    "record_verification",
    "verify_database",
    "verify_log",
]

log = logging.getLogger("gateway.audit")

_MAX_LISTED = 1000
_MISSING = b"\x00" * 32  # stands in for the leaf of a deleted entry


@dataclass(frozen=True)
class Problem:
    """One finding. ``seq``/``last_seq`` name the entries concerned, when known."""

    kind: str
    detail: str
    seq: int | None = None
    last_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "last_seq": self.last_seq, "detail": self.detail}


@dataclass
class VerificationReport:
    tree_size: int = 0
    root_hash: str = ""
    entries_checked: int = 0
    nodes_checked: int = 0
    checkpoints_checked: int = 0
    redacted_entries: int = 0
    """Entries checked against their proven redaction record instead of their content (:mod:`.redaction`)."""
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < _MAX_LISTED:
            self.problems.append(problem)

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.entries_checked} entries, root {self.root_hash}, {self.checkpoints_checked} checkpoints"
        return f"FAILED: {self.problem_count} problem(s) in {self.entries_checked} entries"


def _build_levels(leaves: list[bytes], given: Sequence[list[bytes]] = ()) -> list[list[bytes]]:
    """Every perfect subtree, level by level (level 0 = leaves); odd last nodes are not carried.

    ``given`` are levels 1, 2, ... built already (by worker processes); the rest are built here.
    """
    levels = [leaves, *given]
    level = levels[-1]
    while len(level) > 1:
        level = parent_level(level)
        levels.append(level)
    return levels


class _Tree:
    """Recomputed nodes, addressed like the stored ones."""

    def __init__(self, levels: list[list[bytes]]) -> None:
        self.levels = levels
        self.size = len(levels[0])

    def __getitem__(self, key: NodeKey) -> bytes:
        return self.levels[key[0]][key[1]]

    def root(self, size: int) -> bytes:
        group = perfect_subtrees(0, size)
        return fold(group, {k: self[k] for k in group}) if group else empty_root()

    def consistency(self, first: int, second: int) -> list[bytes]:
        plan = consistency_plan(first, second)
        return [fold(g, {k: self[k] for k in g}) for g in plan]


HashedEntry = tuple[Any, bytes, EntryRow | None]
"""``(seq, recomputed leaf hash, the row if its stored leaf hash differs, else None)``."""


@dataclass(frozen=True)
class HashedChunk:
    """Consecutive entries as read, with their recomputed leaf hashes.

    ``mismatched`` maps a position in the chunk to the row whose stored leaf hash differs
    from the recomputed one. ``ordered`` says the seqs come from an ``ORDER BY seq`` on the
    primary key (so sorted and unique), which lets a clean chunk be taken in one step.
    """

    seqs: Sequence[Any]
    leaves: list[bytes]
    mismatched: dict[int, EntryRow]
    ordered: bool = False


def hash_rows(rows: Iterable[EntryRow]) -> Iterator[HashedEntry]:
    """Recompute each row's leaf hash; keep the row only when it does not match the stored one."""
    for row in rows:
        leaf, matches = leaf_matches(row)
        yield row[0], leaf, None if matches else row


def _hash_chunk(rows: Sequence[EntryRow], *, ordered: bool) -> HashedChunk:
    seqs: list[Any] = []
    leaves: list[bytes] = []
    mismatched: dict[int, EntryRow] = {}
    for row in rows:
        leaf, matches = leaf_matches(row)
        if not matches:
            mismatched[len(seqs)] = row
        seqs.append(row[0])
        leaves.append(leaf)
    return HashedChunk(seqs, leaves, mismatched, ordered)


def _chunks_of(rows: Iterable[EntryRow], size: int = 10_000) -> Iterator[HashedChunk]:
    """Rows in caller's order (not trusted to be sorted), hashed in chunks."""
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield _hash_chunk(chunk, ordered=False)


def _check_leaves(chunks: Iterable[HashedChunk], report: VerificationReport,
                  redactions: Redactions | None = None) -> tuple[list[bytes], set[int], bool]:
    """The leaves by position (a placeholder for a deleted entry), the positions that differ, and
    whether every chunk was exactly the next entries, as stored (leaf ``i`` is then seq ``i``'s).

    An entry whose content differs from its leaf counts as intact only when a proven redaction
    record vouches for exactly its current content (:mod:`.redaction`); its kept leaf is used."""
    exact = True
    leaves: list[bytes] = []
    bad: set[int] = set()
    suspects: list[tuple[EntryRow, int]] = []
    missing: list[int] = []
    append = leaves.append
    for chunk in chunks:
        seqs = chunk.seqs
        if not seqs:
            continue
        first, last = seqs[0], seqs[-1]
        if (chunk.ordered and not chunk.mismatched and type(first) is int and type(last) is int
                and first == len(leaves) and last - first == len(seqs) - 1):
            # Sorted, unique, every leaf hash as stored (so every seq an integer, as the hashed
            # document says), first and last where expected: exactly the next len(seqs) entries.
            leaves.extend(chunk.leaves)
            continue
        exact = False
        for i, seq in enumerate(seqs):
            if type(seq) is not int or seq < len(leaves):
                report.add(Problem("entry_malformed",
                                   f"an entry has a duplicate, negative or unreadable seq ({seq!r})"))
                continue
            while seq > len(leaves):  # a gap: the entry was deleted
                missing.append(len(leaves))
                bad.add(len(leaves))
                append(_MISSING)
            append(chunk.leaves[i])
            mismatch = chunk.mismatched.get(i)
            kept = redactions.vouch(mismatch) if mismatch is not None and redactions is not None else None
            if kept is not None:
                leaves[-1] = kept
                report.redacted_entries += 1
            elif mismatch is not None:
                bad.add(seq)
                suspects.append((mismatch, seq))
    for seq in missing:
        report.add(Problem("entry_missing", f"seq {seq} is missing: the entry was deleted", seq=seq))
    _explain_altered(suspects, missing, report)
    report.entries_checked = len(leaves) - len(missing)
    return leaves, bad, exact


def _explain_altered(suspects: list[tuple[EntryRow, int]], missing: list[int], report: VerificationReport) -> None:
    """Report each entry whose content does not match its hash; spot entries moved to another seq."""
    candidates = [seq for _, seq in suspects[:200]] + missing[:200]
    for row, seq in suspects:
        moved_from = None
        if len(suspects) <= 200:
            stored = row[18] if isinstance(row[18], str) else ""
            moved_from = next((c for c in candidates if c != seq and slow_leaf_hash(row, seq=c).hex() == stored), None)
        if moved_from is not None:
            report.add(Problem("entry_moved", f"seq {seq} holds the entry written as seq {moved_from}: "
                                              "entries were reordered", seq=seq))
        else:
            report.add(Problem("entry_altered", f"seq {seq}: its content does not match its leaf hash "
                                                "(changed after it was written)", seq=seq))


StoredLevels = dict[int, list[bytes] | dict[int, bytes]]
"""Stored nodes per level: a list when the level holds exactly indices 0..k-1, else idx -> hash."""


def _group_nodes(stored: Iterable[tuple[int, int, bytes]]) -> StoredLevels:
    levels: dict[int, dict[int, bytes]] = {}
    for level, idx, value in stored:
        levels.setdefault(int(level), {})[int(idx)] = bytes(value)
    return dict(levels)


def _check_nodes(tree: _Tree, levels: StoredLevels, bad_leaves: set[int], report: VerificationReport) -> None:
    report.nodes_checked = sum(len(v) for v in levels.values())
    tainted = set(bad_leaves)
    height = len(tree.levels)
    top = max(height, max(levels, default=0) + 1)
    for level in range(1, top):
        expected = tree.levels[level] if level < height else []
        stored = levels.get(level, {})
        if isinstance(stored, list):
            if stored == expected:  # the common case: one C-level comparison
                tainted = {i >> 1 for i in tainted}
                continue
            stored = dict(enumerate(stored))
        have = stored
        parents = {i >> 1 for i in tainted}
        mismatched: set[int] = set()
        for idx, value in enumerate(expected):
            if have.get(idx) == value:
                continue
            mismatched.add(idx)
            if idx in parents:
                continue  # already explained by the entries below it
            first, last = idx << level, ((idx + 1) << level) - 1
            what = "is missing from" if idx not in have else "differs in"
            report.add(Problem("node_mismatch", f"the Merkle node over seq {first}..{last} {what} the stored "
                                                "tree: entries in that range were changed", seq=first, last_seq=last))
        for idx in sorted(i for i in have if i >= len(expected)):
            first, last = idx << level, ((idx + 1) << level) - 1
            report.add(Problem("truncated", f"a stored Merkle node covers seq {first}..{last}, beyond the last entry: "
                                            "entries at the end of the log were removed",
                               seq=max(first, tree.size), last_seq=last))
        tainted = parents | mismatched


def checkpoint_is_ours(checkpoint: Checkpoint, public_key: bytes, origin: str | None, label: str,
                       report: VerificationReport) -> bool:
    """Whether ``checkpoint`` is signed by the gateway key and names this log; else the problem is reported."""
    try:
        verify_checkpoint(checkpoint, public_key)
    except CryptoError:
        report.add(Problem("checkpoint_signature", f"{label}: not signed by the gateway key"))
        return False
    if origin is not None and checkpoint.origin != origin:
        report.add(Problem("checkpoint_origin", f"{label}: names another log ({checkpoint.origin})"))
        return False
    return True


def _check_checkpoints(tree: _Tree, stored: Sequence[Checkpoint], external: Sequence[Checkpoint],
                       public_key: bytes, origin: str | None, bad_leaves: set[int],
                       report: VerificationReport) -> None:
    roots_by_size: dict[int, set[str]] = {}
    sound: list[Checkpoint] = []
    first_bad = min(bad_leaves) if bad_leaves else None
    for source, checkpoint in [("stored", c) for c in stored] + [("external", c) for c in external]:
        report.checkpoints_checked += 1
        label = f"{source} checkpoint of size {checkpoint.tree_size} signed {checkpoint.timestamp}"
        if not checkpoint_is_ours(checkpoint, public_key, origin, label, report):
            continue
        roots_by_size.setdefault(checkpoint.tree_size, set()).add(checkpoint.root_hash)
        if checkpoint.tree_size > tree.size:
            report.add(Problem("truncated", f"{label}: covers {checkpoint.tree_size} entries but the log holds "
                                            f"{tree.size}: seq {tree.size}..{checkpoint.tree_size - 1} were removed",
                               seq=tree.size, last_seq=checkpoint.tree_size - 1))
            continue
        if tree.root(checkpoint.tree_size).hex() != checkpoint.root_hash:
            if first_bad is not None and first_bad < checkpoint.tree_size:
                why = f"first changed entry: seq {first_bad}"
            else:
                why = "the entries before it were rewritten together with their hashes and tree"
            report.add(Problem("checkpoint_root", f"{label}: its root differs from the log's ({why})",
                               seq=first_bad if first_bad is not None and first_bad < checkpoint.tree_size else None))
            continue
        if source == "stored":
            sound.append(checkpoint)
    for size, roots in sorted(roots_by_size.items()):
        if len(roots) > 1:
            report.add(Problem("split_view", f"{len(roots)} different signed roots for tree size {size}: split view"))
    for older, newer in itertools.pairwise(sound):
        if newer.tree_size < older.tree_size:
            report.add(Problem("checkpoint_order", f"checkpoint of size {newer.tree_size} was signed after one of "
                                                   f"size {older.tree_size}: the log went backwards"))
        elif not verify_consistency(older.tree_size, newer.tree_size, older.root, newer.root,
                                    tree.consistency(older.tree_size, newer.tree_size)):
            report.add(Problem("inconsistent", f"checkpoints of size {older.tree_size} and {newer.tree_size} "
                                               "are not consistent"))
    covered = max((c.tree_size for c in sound), default=0)
    if not stored:
        report.warnings.append("no signed checkpoint yet: nothing proves this log to outsiders")
    elif covered < tree.size:
        report.warnings.append(f"seq {covered}..{tree.size - 1} are not yet covered by a signed checkpoint")


def verify_log(
    rows: Iterable[EntryRow],
    nodes: Iterable[tuple[int, int, bytes]],
    checkpoints: Sequence[Checkpoint],
    public_key: bytes,
    *,
    external: Sequence[Checkpoint] = (),
    origin: str | None = None,
    redactions: Redactions | None = None,
) -> VerificationReport:
    """Verify everything (see the module docstring). ``rows`` must come in seq order."""
    return _verify(_chunks_of(rows), _group_nodes(nodes), checkpoints, public_key, external=external, origin=origin,
                   redactions=redactions)


def _verify(
    hashed: Iterable[HashedChunk],
    nodes: StoredLevels | Callable[[list[list[bytes]] | None], StoredLevels],
    checkpoints: Sequence[Checkpoint],
    public_key: bytes,
    *,
    external: Sequence[Checkpoint],
    origin: str | None,
    built: Callable[[int], list[list[bytes]] | None] = lambda size: None,
    redactions: Redactions | None = None,
) -> VerificationReport:
    """Check the leaves, rebuild the tree, compare it with the stored nodes and checkpoints.

    ``built(size)`` may give levels 1.. built elsewhere from exactly these leaves; they are
    used only when every chunk was exactly the next entries as stored (so leaf ``i`` is seq
    ``i``'s). ``nodes`` may be a function of those levels (None when not used), for a reader
    that has compared some stored levels with them already.
    """
    started = time.perf_counter()
    report = VerificationReport()
    for kind, detail, seq in (redactions.problems if redactions is not None else ()):
        report.add(Problem(kind, detail, seq=seq))
    leaves, bad, exact = _check_leaves(hashed, report, redactions)
    given = built(len(leaves)) if exact else None
    tree = _Tree(_build_levels(leaves, given or ()))
    report.tree_size = tree.size
    report.root_hash = tree.root(tree.size).hex()
    _check_nodes(tree, nodes(given) if callable(nodes) else nodes, bad, report)
    _check_checkpoints(tree, checkpoints, external, public_key, origin, bad, report)
    report.seconds = time.perf_counter() - started
    return report


Fetch = Callable[[Any], list[Any]]
"""Runs a SQLAlchemy statement on one DBAPI connection (inside the run's snapshot) and returns its rows."""


def _fetcher(driver: Any, dialect: Dialect) -> Fetch:
    """Statements compiled with literal values, run on the driver's cursor: plain tuples, no ORM."""

    def fetch(statement: Any) -> list[Any]:
        cursor = driver.cursor()
        try:
            cursor.execute(str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    return fetch


def _read_entries(fetch: Fetch, lo: int, hi: int | None, batch: int) -> Iterator[list[EntryRow]]:
    """Entry rows in seq order, in batches, straight from the driver's cursor (plain tuples)."""
    while True:
        statement = select_entry_rows().where(AuditEntry.seq >= lo)
        if hi is not None:
            statement = statement.where(AuditEntry.seq < hi)
        chunk = fetch(statement.order_by(AuditEntry.seq).limit(batch))
        if not chunk:
            return
        yield chunk
        lo = int(chunk[-1][0]) + 1


def _python_chunks(fetch: Fetch, lo: int, hi: int | None, batch: int) -> Iterator[HashedChunk]:
    for rows in _read_entries(fetch, lo, hi, batch):
        yield _hash_chunk(rows, ordered=True)


def _resolve(fetch: Fetch, chunk: sqlite_leaves.Chunk) -> HashedChunk:
    """A chunk from :mod:`.sqlite_leaves`, its unknown entries checked by :func:`leaf_matches`."""
    seqs, digests, unknown = chunk
    leaves = [digests[i : i + 32] for i in range(0, len(digests), 32)]
    mismatched: dict[int, EntryRow] = {}
    for start in range(0, len(unknown), 500):
        positions = unknown[start : start + 500]
        rows = _full_rows(fetch, [seqs[i] for i in positions])
        for i in positions:
            row = rows.get(seqs[i])
            if row is None:  # not readable as text (not UTF-8): nothing to rebuild it from
                leaves[i] = hashlib.sha256(b"\xffunreadable").digest()
                mismatched[i] = (seqs[i],) + (None,) * (len(ENTRY_COLUMNS) - 1)
                continue
            leaves[i], matches = leaf_matches(row)
            if not matches:
                mismatched[i] = row
    return HashedChunk(seqs, leaves, mismatched, ordered=True)


def _full_rows(fetch: Fetch, seqs: list[Any]) -> dict[Any, EntryRow]:
    try:
        return {row[0]: row for row in fetch(select_entry_rows().where(AuditEntry.seq.in_(seqs)))}
    except sqlite3.OperationalError:  # a value that does not decode: read them one by one
        if len(seqs) == 1:
            return {}
        return {k: v for seq in seqs for k, v in _full_rows(fetch, [seq]).items()}


HashedRange = tuple[list[int], bytes, list[EntryRow]]
"""A worker process's answer: the seqs it read, their leaf hashes concatenated, the rows that did not match."""


def _hash_range(url: str, lo: int, hi: int | None, batch: int) -> HashedRange:
    """Worker process: recompute the leaf hashes of seq [lo, hi) over its own read-only connection."""
    engine = create_engine(url)
    seqs: list[int] = []
    leaves = bytearray()
    mismatched: list[EntryRow] = []
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            for chunk in _python_chunks(_fetcher(driver, connection.dialect), lo, hi, batch):
                for i, seq in enumerate(chunk.seqs):
                    seqs.append(seq)
                    leaves += chunk.leaves[i]
                    if i in chunk.mismatched:
                        mismatched.append(tuple(chunk.mismatched[i]))
    finally:
        engine.dispose()
    return seqs, bytes(leaves), mismatched


def _unpack(answer: HashedRange) -> HashedChunk:
    seqs, leaves, mismatched = answer
    rows = {row[0]: row for row in mismatched}
    return HashedChunk(seqs, [leaves[32 * i : 32 * i + 32] for i in range(len(seqs))],
                       {i: rows[seq] for i, seq in enumerate(seqs) if seq in rows}, ordered=True)


Shape = dict[int, tuple[int, int, int]]
"""Stored nodes per level: ``(count, lowest idx, highest idx)``."""


def _node_shape(fetch: Fetch) -> Shape:
    rows = fetch(select(AuditTreeNode.level, func.count(), func.min(AuditTreeNode.idx),
                        func.max(AuditTreeNode.idx)).group_by(AuditTreeNode.level))
    return {int(level): (int(count), int(low), int(high)) for level, count, low, high in rows}


def _read_level(fetch: Fetch, level: int, shape: tuple[int, int, int], batch: int) -> list[bytes] | dict[int, bytes]:
    """One stored level: a list when it holds exactly indices 0..k-1, else idx -> hash."""
    count, low, high = shape
    where = AuditTreeNode.level == level
    if low == 0 and high == count - 1:
        hashes: list[bytes] = []
        step = max(batch, 100_000)  # 32-byte rows: large batches, few statements
        for lo in range(0, count, step):
            rows = fetch(select(AuditTreeNode.hash).where(where, AuditTreeNode.idx >= lo, AuditTreeNode.idx < lo + step)
                         .order_by(AuditTreeNode.idx))
            hashes.extend(_as_bytes([h for (h,) in rows]))
        return hashes
    rows = fetch(select(AuditTreeNode.idx, AuditTreeNode.hash).where(where))
    return dict(zip([int(i) for i, _ in rows], _as_bytes([h for _, h in rows]), strict=True))


def _stored_levels(fetch: Fetch, batch: int) -> StoredLevels:
    """Every stored tree node, per level."""
    return {level: _read_level(fetch, level, shape, batch) for level, shape in _node_shape(fetch).items()}


def _as_bytes(values: list[Any]) -> list[bytes]:
    """Node hashes as bytes (a driver's memoryview copied; a value of another type, tampered, as b"")."""
    if all(type(value) is bytes for value in values):
        return values
    return [bytes(v) if isinstance(v, bytes | bytearray | memoryview) else b"" for v in values]


def _stored_checkpoints(fetch: Fetch) -> list[Checkpoint]:
    rows = fetch(select(AuditCheckpoint.origin, AuditCheckpoint.tree_size, AuditCheckpoint.root_hash,
                        AuditCheckpoint.timestamp, AuditCheckpoint.key_id, AuditCheckpoint.signature)
                 .order_by(AuditCheckpoint.id))
    return [Checkpoint(origin=origin, tree_size=int(size), root_hash=root, timestamp=timestamp, key_id=key_id,
                       signature=signature) for origin, size, root, timestamp, key_id, signature in rows]


def _bounds(fetch: Fetch) -> tuple[int, int]:
    """``(first, size)``: entries are read from ``min(0, lowest seq)``; the size is the highest seq + 1.

    Two queries: each is one index lookup, where min and max together scan the index.
    """
    ((low,),) = fetch(select(func.min(AuditEntry.seq)))
    ((high,),) = fetch(select(func.max(AuditEntry.seq)))
    return min(0, int(low or 0)), 0 if high is None else int(high) + 1


def _split(first: int, size: int, parts: int) -> list[tuple[int, int]]:
    """At most ``parts`` seq ranges covering [first, size)."""
    step = max(1, -(-(size - first) // parts))
    return [(lo, min(size, lo + step)) for lo in range(first, size, step)]


@contextmanager
def _sqlite_snapshot(engine: Engine) -> Iterator[sqlite3.Connection]:
    """A pooled connection in a deferred (read) transaction: one WAL snapshot, no write lock.

    The engine's own transactions start with BEGIN IMMEDIATE (see gateway.db), which would
    hold the write lock, and so stop every writer, for the whole run.
    """
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        if driver.in_transaction:
            driver.rollback()
        driver.execute("BEGIN DEFERRED")
        try:
            yield driver
        finally:
            driver.rollback()
    finally:
        pooled.close()


def _database_file(engine: Engine) -> str | None:
    """The SQLite database's file, for worker processes (None for an in-memory or URI database)."""
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or engine.url.query.get("uri"):
        return None
    return database


def _launch(database: str) -> subprocess.Popen[bytes] | None:
    """A worker process over the log in ``database`` (see :mod:`.sqlite_leaves`); None if it cannot start."""
    # -I: nothing from the environment or the working directory; -S: no site packages (stdlib only).
    command = [sys.executable, "-I", "-S", sqlite_leaves.__file__, database]
    try:
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603 - our own script
                                stderr=subprocess.DEVNULL, bufsize=0)
    except OSError:
        return None


def _pieces(first: int, size: int, workers: int) -> tuple[list[tuple[int, int]], int]:
    """Seq ranges handed out one at a time, and ``top``: each range starts at a multiple of
    2**top (2**top entries long but the last), so its worker builds levels 1..top over it.

    About four ranges a worker, 1 k to 32 k entries each: a worker slowed by whatever else
    runs on the machine takes fewer, and nobody waits for a straggler.
    """
    if first != 0:  # negative seqs (tampered): positions are not seqs, build the tree here
        step = max(1, -(-(size - first) // (4 * workers)))
        return [(lo, min(size, lo + step)) for lo in range(first, size, step)], 0
    top = min(15, max(10, (size // (4 * workers)).bit_length() - 1))
    return [(lo, min(size, lo + (1 << top))) for lo in range(0, size, 1 << top)], top


def _hash_pieces(driver: sqlite3.Connection, database: str | None, pieces: list[tuple[int, int]], *, first: int,
                 size: int, batch: int, top: int, workers: int,
                 meanwhile: Callable[[], None]) -> list[sqlite_leaves.Piece]:
    """Every piece, hashed by worker processes that take the next one as they finish one
    (``meanwhile`` runs here in the meantime); what no worker could do is done here."""
    todo = collections.deque(pieces)
    done: dict[int, sqlite_leaves.Piece] = {}
    running: dict[subprocess.Popen[bytes], collections.deque[int]] = {}
    selector = selectors.DefaultSelector()

    def give(worker: subprocess.Popen[bytes]) -> None:
        if todo:
            lo, hi = todo.popleft()
            running[worker].append(lo)
            try:
                assert worker.stdin is not None
                worker.stdin.write(f"{lo} {hi} {batch} {top}\n".encode())
            except OSError:  # gone: its pieces are picked up by the others (or here)
                drop(worker)

    def drop(worker: subprocess.Popen[bytes]) -> None:
        bounds = dict(pieces)
        todo.extendleft((lo, bounds[lo]) for lo in reversed(running.pop(worker, ())))
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(worker.stdout)  # type: ignore[arg-type]
        worker.kill()

    started = [_launch(database) for _ in range(workers)] if database else []
    launched = [worker for worker in started if worker is not None]
    try:
        for worker in launched:
            running[worker] = collections.deque()
            try:
                worker_first, worker_size = sqlite_leaves.receive(worker.stdout)
            except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                drop(worker)
                continue
            # Entries are only appended: a worker's snapshot, taken after this one, holds this one's.
            if worker_first != first or worker_size < size:
                log.warning("audit verification worker saw another log; verifying its share here")
                drop(worker)
                continue
            selector.register(worker.stdout, selectors.EVENT_READ, worker)  # type: ignore[arg-type]
            give(worker)
            give(worker)  # one queued: no idle gap between pieces
        meanwhile()
        while any(running.values()):
            for key, _ in selector.select():
                worker = key.data
                try:
                    answer: sqlite_leaves.Piece = sqlite_leaves.receive(worker.stdout)
                except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                    log.warning("audit verification worker stopped; verifying its share here")
                    drop(worker)
                    continue
                expected = running[worker].popleft()
                if answer[0] != expected:
                    drop(worker)
                    continue
                done[expected] = answer
                give(worker)
        while todo:  # no worker (none could start, or all stopped)
            lo, hi = todo.popleft()
            done[lo] = sqlite_leaves.piece(driver, lo, hi, batch, top)
    finally:
        selector.close()
        for worker in launched:
            with contextlib.suppress(OSError):
                assert worker.stdin is not None
                worker.stdin.close()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()
    return [done[lo] for lo, _ in pieces]


def _slices(joined: bytes) -> list[bytes]:
    return [joined[i : i + 32] for i in range(0, len(joined), 32)]


def _verify_sqlite(session: Session, public_key: bytes, *, external: Sequence[Checkpoint], origin: str | None,
                   batch: int, workers: int, parallel_from: int) -> VerificationReport:
    engine = session.get_bind().engine
    with _sqlite_snapshot(engine) as driver:
        fetch = _fetcher(driver, engine.dialect)
        first, size = sqlite_leaves.bounds(driver)
        stored_checkpoints = _stored_checkpoints(fetch)
        database = _database_file(engine)
        parallel = database is not None and workers > 1 and size - first >= parallel_from
        pieces, top = _pieces(first, size, workers) if parallel else ([(first, size)] if size > first else [], 0)
        shape: Shape = {}
        upper: StoredLevels = {}

        def read_upper_levels() -> None:
            """The stored nodes above the levels the workers build (all of them without workers)."""
            shape.update(_node_shape(fetch))
            upper.update({level: _read_level(fetch, level, shape[level], batch) for level in shape if level > top})

        done = _hash_pieces(driver, database if parallel else None, pieces, first=first, size=size, batch=batch,
                            top=top, workers=workers, meanwhile=read_upper_levels)
        # Anything beyond the size read (a seq SQLite sorts after every integer: tampered).
        parts = [chunk for _, chunks, _ in done for chunk in chunks]
        parts.extend(sqlite_leaves.chunks(driver, size, None, batch))
        built = [levels for _, _, levels in done]

        def levels(count: int) -> list[list[bytes]] | None:
            """Levels 1..top from the pieces, when they were built over exactly these leaves."""
            if not top or count != size or any(b is None for b in built):
                return None
            return [[node for b in built if b is not None for node in _slices(b[height][0])] for height in range(top)]

        def nodes(given: list[list[bytes]] | None) -> StoredLevels:
            stored: StoredLevels = dict(upper)
            for level in range(1, top + 1):
                if level not in shape:
                    continue
                if given is not None and all(b is not None and b[level - 1][1] for b in built) \
                        and shape[level] == (len(given[level - 1]), 0, len(given[level - 1]) - 1):
                    stored[level] = given[level - 1]  # each stretch compared with the stored nodes by its worker
                else:
                    stored[level] = _read_level(fetch, level, shape[level], batch)
            return stored

        chunks = (_resolve(fetch, chunk) for chunk in parts)
        return _verify(chunks, nodes, stored_checkpoints, public_key, external=external, origin=origin, built=levels,
                       redactions=Redactions.load(fetch))


def _cpus() -> int:
    """The CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def verify_database(session: Session, public_key: bytes, *, external: Sequence[Checkpoint] = (),
                    origin: str | None = None, batch: int = 20_000, workers: int | None = None,
                    parallel_from: int | None = None) -> VerificationReport:
    """Read the whole log in bulk, in one snapshot, and verify it. Call with no transaction open.

    SQLite reads in a deferred transaction: a WAL snapshot, so writers carry on meanwhile
    and appends during the run are not half seen. SQLite itself writes each entry's
    canonical text (:mod:`.sqlite_leaves`); from ``parallel_from`` entries (default 50 k),
    ``workers`` processes (default one per CPU; a bare interpreter running that stdlib-only
    module, started in milliseconds) hash ranges of entries in their own read-only
    snapshots while this process reads the stored tree.

    PostgreSQL reads under REPEATABLE READ; from ``parallel_from`` entries (default 500 k)
    worker processes recompute the leaf hashes in Python, each over its own connection.
    Workers only read entries below the size this run's snapshot holds (entries are only
    ever appended, so later snapshots hold the same ones).
    """
    started = time.perf_counter()
    workers = workers if workers is not None else _cpus()
    engine = session.get_bind().engine
    chunks: Iterable[HashedChunk]
    if engine.dialect.name == "sqlite":
        report = _verify_sqlite(session, public_key, external=external, origin=origin, batch=batch,
                                workers=workers, parallel_from=50_000 if parallel_from is None else parallel_from)
    else:
        threshold = 500_000 if parallel_from is None else parallel_from
        # A reader: REPEATABLE READ is one snapshot, and READ_ONLY keeps it off the writers' lock.
        connection = session.connection(execution_options={"isolation_level": "REPEATABLE READ", READ_ONLY: True})
        fetch = _fetcher(connection.connection.driver_connection, connection.dialect)
        first, size = _bounds(fetch)
        stored_checkpoints = _stored_checkpoints(fetch)
        if workers > 1 and size - first >= threshold:
            url = engine.url.render_as_string(hide_password=False)
            bounds = _split(first, size, workers)
            with ProcessPoolExecutor(max_workers=len(bounds), mp_context=multiprocessing.get_context("spawn")) as pool:
                processes = [pool.submit(_hash_range, url, lo, hi, batch) for lo, hi in bounds]
                nodes = _stored_levels(fetch, batch)
                chunks = (_unpack(f.result()) for f in processes)
                report = _verify(chunks, nodes, stored_checkpoints, public_key, external=external, origin=origin,
                                 redactions=Redactions.load(fetch))
        else:
            report = _verify(_python_chunks(fetch, first, None, batch), _stored_levels(fetch, batch),
                             stored_checkpoints, public_key, external=external, origin=origin,
                             redactions=Redactions.load(fetch))
    report.seconds = time.perf_counter() - started
    return report


def record_verification(session: Session, report: VerificationReport, *, started: datetime, finished: datetime,
                        source: str) -> AuditVerification:
    """Keep the outcome, for the console's "verification status at a glance"."""
    row = AuditVerification(
        started_at=started, finished_at=finished, ok=report.ok, tree_size=report.tree_size,
        root_hash=report.root_hash, checkpoints_checked=report.checkpoints_checked,
        problem_count=report.problem_count, problems=[p.as_dict() for p in report.problems[:50]], source=source[:40],
    )
    session.add(row)
    session.flush()
    return row


def last_verification(session: Session) -> AuditVerification | None:
    return session.scalar(select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1))


def count_entries(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
