"""Incremental verification: only the entries appended since a checkpoint verified before.

A full verification (:mod:`.verify`) recomputes every leaf of the log, which at national scale
(10 M entries) takes minutes. Once a signed checkpoint of size ``m`` has been verified, what the
entries before ``m`` hash to is fixed by its signed root: the stored perfect subtrees that tile
``[0, m)`` (the tree's *frontier*, at most log2(m) nodes) must fold to exactly that root, and by
collision resistance they then hold the verified content. From that start,
:func:`verify_since` checks, reading only the entries ``[m, n)`` of the current log:

1. the start checkpoint is signed by the gateway key (and names ``origin``, when given), covers no
   more than the log holds, and its root equals the fold of the stored frontier; otherwise the
   start is refused (``start_*`` problems) and nothing else is read;
2. the entries from ``m`` are gapless and each hashes to its stored leaf hash;
3. every tree node those entries complete, rebuilt from the frontier and the *recomputed*
   leaves, equals the stored node, and no stored node lies beyond the last entry;
4. every stored checkpoint of a size from ``m`` on is signed by the gateway key and its root
   equals the rebuilt root at its size (so consecutive checkpoints are consistent, being roots
   of one tree; two roots for one size cannot both match).

What it does not re-check, by design: the entries before ``m`` (a full verification does). The
start is either a checkpoint the verifier kept (``gateway audit verify --since-checkpoint FILE``)
or :func:`last_verified_checkpoint`, the newest stored checkpoint within the last successful
verification recorded (``--incremental``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.errors import CryptoError
from crypto.merkle import node_hash_unchecked

from ..db import READ_ONLY
from .checkpoints import to_checkpoint
from .models import AuditCheckpoint, AuditEntry, AuditTreeNode, AuditVerification
from .redaction import Redactions
from .tree import NodeKey, fold, perfect_subtrees
from .verify import (
    Fetch,
    Problem,
    VerificationReport,
    _fetcher,
    _python_chunks,
    _sqlite_snapshot,
    checkpoint_is_ours,
)

__all__ = ["last_verified_checkpoint", "verify_since"]

_MISSING = b"\x00" * 32  # stands in for the leaf of a deleted entry


def last_verified_checkpoint(session: Session) -> Checkpoint | None:
    """The newest stored checkpoint within the last successful verification, or None.

    When the verification recorded the very size of that checkpoint, their roots must agree too
    (else None: the record and the checkpoint describe two different logs).
    """
    verified = session.scalar(select(AuditVerification).where(AuditVerification.ok.is_(True))
                              .order_by(AuditVerification.id.desc()).limit(1))
    if verified is None:
        return None
    row = session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.tree_size <= verified.tree_size)
                         .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc()).limit(1))
    if row is None:
        return None
    if int(row.tree_size) == int(verified.tree_size) and row.root_hash != verified.root_hash:
        return None
    return to_checkpoint(row)


@contextmanager
def _snapshot(session: Session) -> Iterator[Fetch]:
    """One read snapshot of the log, off the writers' lock (as :func:`.verify.verify_database` reads)."""
    engine = session.get_bind().engine
    if engine.dialect.name == "sqlite":
        with _sqlite_snapshot(engine) as driver:
            yield _fetcher(driver, engine.dialect)
        return
    connection = session.connection(execution_options={"isolation_level": "REPEATABLE READ", READ_ONLY: True})
    yield _fetcher(connection.connection.driver_connection, connection.dialect)


def _stored_nodes(fetch: Fetch, keys: list[NodeKey]) -> dict[NodeKey, bytes]:
    """The stored nodes named (level 0 from the entries' stored leaf hashes); missing ones left out."""
    found: dict[NodeKey, bytes] = {}
    leaves = [idx for level, idx in keys if level == 0]
    if leaves:
        for seq, leaf in fetch(select(AuditEntry.seq, AuditEntry.leaf_hash).where(AuditEntry.seq.in_(leaves))):
            try:
                found[(0, int(seq))] = bytes.fromhex(leaf)
            except (TypeError, ValueError):
                continue
    for level, idx in keys:
        if level == 0:
            continue
        rows = fetch(select(AuditTreeNode.hash).where(AuditTreeNode.level == level, AuditTreeNode.idx == idx))
        if rows and isinstance(rows[0][0], bytes | bytearray | memoryview):
            found[(level, idx)] = bytes(rows[0][0])
    return found


def _refuse(report: VerificationReport, kind: str, detail: str, started: float) -> VerificationReport:
    report.add(Problem(kind, detail))
    report.seconds = time.perf_counter() - started
    return report


def verify_since(session: Session, public_key: bytes, start: Checkpoint, *, origin: str | None = None,
                 batch: int = 20_000) -> VerificationReport:
    """Verify the log from ``start`` on (see the module docstring). Call with no transaction open.

    ``report.entries_checked`` counts only the entries read (those from ``start.tree_size``).
    """
    started = time.perf_counter()
    report = VerificationReport()
    label = f"start checkpoint of size {start.tree_size} signed {start.timestamp}"
    with _snapshot(session) as fetch:
        ((high,),) = fetch(select(func.max(AuditEntry.seq)))
        size = 0 if high is None else int(high) + 1
        report.tree_size = size
        try:
            verify_checkpoint(start, public_key)
        except CryptoError:
            return _refuse(report, "start_signature", f"{label}: not signed by the gateway key", started)
        if origin is not None and start.origin != origin:
            return _refuse(report, "start_origin", f"{label}: names another log ({start.origin})", started)
        m = start.tree_size
        if m > size:
            return _refuse(report, "truncated", f"{label}: covers {m} entries but the log holds {size}: "
                                                f"seq {size}..{m - 1} were removed", started)
        frontier_keys = perfect_subtrees(0, m)
        frontier = _stored_nodes(fetch, frontier_keys)
        if len(frontier) != len(frontier_keys) or fold(frontier_keys, frontier) != start.root:
            return _refuse(report, "start_mismatch", f"{label}: its root is not the stored tree's at that size: "
                                                     "the log before it was changed, or the checkpoint is of "
                                                     "another log", started)
        stored_checkpoints = _checkpoints_from(fetch, m)
        wanted: set[NodeKey] = {key for c in stored_checkpoints if m <= c.tree_size <= size
                                for key in perfect_subtrees(0, c.tree_size)}
        wanted.update(perfect_subtrees(0, size))
        rebuilt: dict[NodeKey, bytes] = {key: frontier[key] for key in frontier_keys}
        stack: list[tuple[int, int, bytes]] = [(level, idx, frontier[(level, idx)]) for level, idx in frontier_keys]
        bad: set[int] = set()
        redactions = Redactions.load(fetch)
        for kind, detail, seq_ in redactions.problems:
            report.add(Problem(kind, detail, seq=seq_))
        expected_seq = m
        for chunk in _python_chunks(fetch, m, size, batch):
            computed: dict[NodeKey, bytes] = {}
            for i, seq in enumerate(chunk.seqs):
                if type(seq) is not int or seq < expected_seq:
                    report.add(Problem("entry_malformed", f"an entry has a duplicate or unreadable seq ({seq!r})"))
                    continue
                while expected_seq < seq:  # a gap: the entry was deleted
                    report.add(Problem("entry_missing", f"seq {expected_seq} is missing: the entry was deleted",
                                       seq=expected_seq))
                    bad.add(expected_seq)
                    _push(stack, expected_seq, _MISSING, computed)
                    expected_seq += 1
                leaf = chunk.leaves[i]
                mismatch = chunk.mismatched.get(i)
                kept = redactions.vouch(mismatch) if mismatch is not None else None
                if kept is not None:  # a proven redaction (see .redaction): its kept leaf stands
                    leaf = kept
                    report.redacted_entries += 1
                    report.entries_checked += 1
                elif mismatch is not None:
                    bad.add(seq)
                    report.add(Problem("entry_altered", f"seq {seq}: its content does not match its leaf hash "
                                                        "(changed after it was written)", seq=seq))
                else:
                    report.entries_checked += 1
                if (0, seq) in wanted:
                    rebuilt[(0, seq)] = leaf
                _push(stack, seq, leaf, computed)
                expected_seq = seq + 1
            _compare_nodes(fetch, computed, bad, report)
            rebuilt.update({key: value for key, value in computed.items() if key in wanted})
        _check_beyond(fetch, size, report)
        report.root_hash = fold(perfect_subtrees(0, size), rebuilt).hex() if size >= m else ""
        _check_checkpoints(stored_checkpoints, rebuilt, public_key, origin, m, size, bad, report)
    report.seconds = time.perf_counter() - started
    return report


def _checkpoints_from(fetch: Fetch, m: int) -> list[Checkpoint]:
    """The stored checkpoints of ``m`` entries or more, in the order they were signed."""
    rows = fetch(select(AuditCheckpoint.origin, AuditCheckpoint.tree_size, AuditCheckpoint.root_hash,
                        AuditCheckpoint.timestamp, AuditCheckpoint.key_id, AuditCheckpoint.signature)
                 .where(AuditCheckpoint.tree_size >= m).order_by(AuditCheckpoint.id))
    return [Checkpoint(origin=origin, tree_size=int(tree_size), root_hash=root, timestamp=timestamp, key_id=key_id,
                       signature=signature) for origin, tree_size, root, timestamp, key_id, signature in rows]


def _push(stack: list[tuple[int, int, bytes]], seq: int, leaf: bytes, computed: dict[NodeKey, bytes]) -> None:
    """Append leaf ``seq`` to the binary-counter frontier; record each node it completes."""
    level, idx, value = 0, seq, leaf
    while stack and stack[-1][0] == level:
        _, left_idx, left = stack.pop()
        value = node_hash_unchecked(left, value)
        level, idx = level + 1, left_idx >> 1
        computed[(level, idx)] = value
    stack.append((level, idx, value))


def _compare_nodes(fetch: Fetch, computed: dict[NodeKey, bytes], bad: set[int], report: VerificationReport) -> None:
    """Compare the nodes a chunk of leaves completed with the stored ones, one range read a level."""
    by_level: dict[int, dict[int, bytes]] = {}
    for (level, idx), value in computed.items():
        by_level.setdefault(level, {})[idx] = value
    for level, mine in sorted(by_level.items()):
        first, last = min(mine), max(mine)
        rows = fetch(select(AuditTreeNode.idx, AuditTreeNode.hash).where(
            AuditTreeNode.level == level, AuditTreeNode.idx >= first, AuditTreeNode.idx <= last))
        stored = {int(idx): bytes(value) if isinstance(value, bytes | bytearray | memoryview) else b""
                  for idx, value in rows}
        report.nodes_checked += len(stored)
        for idx, value in mine.items():
            if stored.get(idx) == value:
                continue
            low, high = idx << level, ((idx + 1) << level) - 1
            if any(low <= seq <= high for seq in bad):
                continue  # explained by the entries below it
            what = "is missing from" if idx not in stored else "differs in"
            report.add(Problem("node_mismatch", f"the Merkle node over seq {low}..{high} {what} the stored tree: "
                                                "entries in that range were changed", seq=low, last_seq=high))


def _check_beyond(fetch: Fetch, size: int, report: VerificationReport) -> None:
    """A stored node past the last entry means entries at the end were removed."""
    for level in range(1, max(size, 1).bit_length() + 2):
        ((top,),) = fetch(select(func.max(AuditTreeNode.idx)).where(AuditTreeNode.level == level))
        if top is not None and ((int(top) + 1) << level) > size:
            first, last = int(top) << level, ((int(top) + 1) << level) - 1
            report.add(Problem("truncated", f"a stored Merkle node covers seq {first}..{last}, beyond the last "
                                            "entry: entries at the end of the log were removed",
                               seq=max(first, size), last_seq=last))


def _check_checkpoints(stored: list[Checkpoint], rebuilt: dict[NodeKey, bytes], public_key: bytes,
                       origin: str | None, m: int, size: int, bad: set[int], report: VerificationReport) -> None:
    first_bad = min(bad) if bad else None
    for checkpoint in stored:
        report.checkpoints_checked += 1
        label = f"checkpoint of size {checkpoint.tree_size} signed {checkpoint.timestamp}"
        if not checkpoint_is_ours(checkpoint, public_key, origin, label, report):
            continue
        if checkpoint.tree_size > size:
            report.add(Problem("truncated", f"{label}: covers {checkpoint.tree_size} entries but the log holds "
                                            f"{size}: seq {size}..{checkpoint.tree_size - 1} were removed",
                               seq=size, last_seq=checkpoint.tree_size - 1))
            continue
        if fold(perfect_subtrees(0, checkpoint.tree_size), rebuilt).hex() != checkpoint.root_hash:
            seq = first_bad if first_bad is not None and first_bad < checkpoint.tree_size else None
            why = f"first changed entry: seq {seq}" if seq is not None else \
                "a second root for a size already signed (split view), or entries rewritten with their tree"
            report.add(Problem("checkpoint_root", f"{label}: its root differs from the log's ({why})", seq=seq))
    covered = max((c.tree_size for c in stored), default=m)
    if covered < size:
        report.warnings.append(f"seq {covered}..{size - 1} are not yet covered by a signed checkpoint")

