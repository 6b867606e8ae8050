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

import hashlib
import itertools
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, create_engine, func, select
from sqlalchemy.orm import Session

from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.errors import CryptoError
from crypto.merkle import empty_root, verify_consistency

from ..db import is_postgres
from . import checkpoints as checkpoint_store
from .leaves import EntryRow, leaf_matches, select_entry_rows, slow_leaf_hash
from .models import AuditEntry, AuditTreeNode, AuditVerification
from .tree import NodeKey, consistency_plan, fold, perfect_subtrees, tree_size

__all__ = [
    "Problem",
    "VerificationReport",
    "count_entries",
    "hash_rows",
    "last_verification",
    "record_verification",
    "verify_database",
    "verify_log",
]

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


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _build_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every perfect subtree, level by level (level 0 = leaves); odd last nodes are not carried."""
    levels = [leaves]
    level = leaves
    sha = hashlib.sha256
    while len(level) > 1:
        it = iter(level)
        level = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=False)]
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


def hash_rows(rows: Iterable[EntryRow]) -> Iterator[HashedEntry]:
    """Recompute each row's leaf hash; keep the row only when it does not match the stored one."""
    for row in rows:
        leaf, matches = leaf_matches(row)
        yield row[0], leaf, None if matches else row


def _check_leaves(hashed: Iterable[HashedEntry], report: VerificationReport) -> tuple[list[bytes], set[int]]:
    leaves: list[bytes] = []
    bad: set[int] = set()
    suspects: list[tuple[EntryRow, int]] = []
    missing: list[int] = []
    append = leaves.append
    for seq, leaf, mismatch in hashed:
        if type(seq) is not int or seq < len(leaves):
            report.add(Problem("entry_malformed", f"an entry has a duplicate, negative or unreadable seq ({seq!r})"))
            continue
        while seq > len(leaves):  # a gap: the entry was deleted
            missing.append(len(leaves))
            bad.add(len(leaves))
            append(_MISSING)
        append(leaf)
        if mismatch is not None:
            bad.add(seq)
            suspects.append((mismatch, seq))
    for seq in missing:
        report.add(Problem("entry_missing", f"seq {seq} is missing: the entry was deleted", seq=seq))
    _explain_altered(suspects, missing, report)
    report.entries_checked = len(leaves) - len(missing)
    return leaves, bad


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


def _check_checkpoints(tree: _Tree, stored: Sequence[Checkpoint], external: Sequence[Checkpoint],
                       public_key: bytes, origin: str | None, bad_leaves: set[int],
                       report: VerificationReport) -> None:
    roots_by_size: dict[int, set[str]] = {}
    sound: list[Checkpoint] = []
    first_bad = min(bad_leaves) if bad_leaves else None
    for source, checkpoint in [("stored", c) for c in stored] + [("external", c) for c in external]:
        report.checkpoints_checked += 1
        label = f"{source} checkpoint of size {checkpoint.tree_size} signed {checkpoint.timestamp}"
        try:
            verify_checkpoint(checkpoint, public_key)
        except CryptoError:
            report.add(Problem("checkpoint_signature", f"{label}: not signed by the gateway key"))
            continue
        if origin is not None and checkpoint.origin != origin:
            report.add(Problem("checkpoint_origin", f"{label}: names another log ({checkpoint.origin})"))
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
) -> VerificationReport:
    """Verify everything (see the module docstring). ``rows`` must come in seq order."""
    return _verify(hash_rows(rows), _group_nodes(nodes), checkpoints, public_key, external=external, origin=origin)


def _verify(
    hashed: Iterable[HashedEntry],
    nodes: StoredLevels,
    checkpoints: Sequence[Checkpoint],
    public_key: bytes,
    *,
    external: Sequence[Checkpoint],
    origin: str | None,
) -> VerificationReport:
    started = time.perf_counter()
    report = VerificationReport()
    leaves, bad = _check_leaves(hashed, report)
    tree = _Tree(_build_levels(leaves))
    report.tree_size = tree.size
    report.root_hash = tree.root(tree.size).hex()
    _check_nodes(tree, nodes, bad, report)
    _check_checkpoints(tree, checkpoints, external, public_key, origin, bad, report)
    report.seconds = time.perf_counter() - started
    return report


def _read_entries(connection: Connection, lo: int, hi: int | None, batch: int) -> Iterator[EntryRow]:
    """Entry rows in seq order, in batches, straight from the driver's cursor (plain tuples)."""
    driver = connection.connection.driver_connection
    assert driver is not None
    while True:
        statement = select_entry_rows().where(AuditEntry.seq >= lo)
        if hi is not None:
            statement = statement.where(AuditEntry.seq < hi)
        sql = str(statement.order_by(AuditEntry.seq).limit(batch)
                  .compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        cursor = driver.cursor()
        try:
            cursor.execute(sql)
            chunk = cursor.fetchall()
        finally:
            cursor.close()
        if not chunk:
            return
        yield from chunk
        lo = int(chunk[-1][0]) + 1


HashedRange = tuple[list[int], bytes, list[EntryRow]]
"""A worker's answer: the seqs it read, their leaf hashes concatenated, the rows that did not match."""


def _hash_range(url: str, lo: int, hi: int, batch: int) -> HashedRange:
    """Worker process: recompute the leaf hashes of seq [lo, hi) over its own read-only connection."""
    engine = create_engine(url)
    seqs: list[int] = []
    leaves = bytearray()
    mismatched: list[EntryRow] = []
    try:
        with engine.connect() as connection:
            for seq, leaf, row in hash_rows(_read_entries(connection, lo, hi, batch)):
                seqs.append(seq)
                leaves += leaf
                if row is not None:
                    mismatched.append(tuple(row))
    finally:
        engine.dispose()
    return seqs, bytes(leaves), mismatched


def _unpack(answer: HashedRange) -> Iterator[HashedEntry]:
    seqs, leaves, mismatched = answer
    rows = {row[0]: row for row in mismatched}
    for i, seq in enumerate(seqs):
        yield seq, leaves[32 * i : 32 * i + 32], rows.get(seq)


def _stored_levels(session: Session, batch: int) -> StoredLevels:
    """Every stored tree node, per level; a level holding exactly 0..k-1 is read as hashes only."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None

    def fetch(statement: Any) -> list[Any]:
        cursor = driver.cursor()
        try:
            cursor.execute(str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    shape = session.execute(select(AuditTreeNode.level, func.count(), func.min(AuditTreeNode.idx),
                                   func.max(AuditTreeNode.idx)).group_by(AuditTreeNode.level)).all()
    levels: StoredLevels = {}
    for level_value, count_value, low, high in shape:
        level, count = int(level_value), int(count_value)
        where = AuditTreeNode.level == level
        if low == 0 and high == count - 1:
            hashes: list[bytes] = []
            for lo in range(0, count, batch):
                rows = fetch(select(AuditTreeNode.hash).where(where, AuditTreeNode.idx >= lo,
                                                              AuditTreeNode.idx < lo + batch)
                             .order_by(AuditTreeNode.idx))
                hashes.extend(bytes(h) for (h,) in rows)
            levels[level] = hashes
        else:
            rows = fetch(select(AuditTreeNode.idx, AuditTreeNode.hash).where(where))
            levels[level] = {int(i): bytes(h) for i, h in rows}
    return levels


def verify_database(session: Session, public_key: bytes, *, external: Sequence[Checkpoint] = (),
                    origin: str | None = None, batch: int = 50_000, workers: int | None = None,
                    parallel_from: int = 500_000) -> VerificationReport:
    """Read the whole log in bulk, in one snapshot, and verify it. Call with no transaction open.

    PostgreSQL reads under REPEATABLE READ, so appends during the run are not half seen;
    SQLite's transaction holds the write lock for the duration instead. From
    ``parallel_from`` entries on, worker processes (``workers``, default: one per CPU)
    recompute the leaf hashes of the entries that existed when the run started, each over
    its own read-only connection, while this process reads the tree nodes.
    """
    started = time.perf_counter()
    if is_postgres(session):
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    connection = session.connection()
    first = min(0, int(session.scalar(select(func.min(AuditEntry.seq))) or 0))
    size = tree_size(session)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    stored_checkpoints = checkpoint_store.list_checkpoints(session)
    hashed: Iterable[HashedEntry]
    if workers > 1 and size - first >= parallel_from:
        url = session.get_bind().engine.url.render_as_string(hide_password=False)
        step = -(-(size - first) // workers)
        bounds = [(lo, min(size, lo + step)) for lo in range(first, size, step)]
        with ProcessPoolExecutor(max_workers=len(bounds), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_hash_range, url, lo, hi, batch) for lo, hi in bounds]
            nodes = _stored_levels(session, batch)
            hashed = itertools.chain.from_iterable(_unpack(f.result()) for f in futures)
            report = _verify(hashed, nodes, stored_checkpoints, public_key, external=external, origin=origin)
    else:
        hashed = hash_rows(_read_entries(connection, first, None, batch))
        report = _verify(hashed, _stored_levels(session, batch), stored_checkpoints, public_key, external=external,
                         origin=origin)
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
