"""``gateway audit verify --witnessed``: accept the log only as far as witnesses vouch for it.

The operator holds every key the gateway signs with, so a rewritten log can be re-signed
and still pass :func:`gateway.audit.verify.verify_database`. What the operator cannot
forge is a witness's cosignature. This check walks the checkpoint notes oldest first and
names the *first* checkpoint that

* is not signed by the checkpoint key, or whose tree head differs from the log's tree at
  that size (``checkpoint_note_root``), or
* carries witness cosignatures of which fewer than the quorum verify
  (``cosignature_invalid``: the tree head was changed after the witnesses signed it), or
* contradicts a head a witness kept (``witness_head_missing``, from ``--witness-state``).

A log with no witnessed checkpoint at all fails (``no_witnessed_checkpoint``); entries
after the newest witnessed checkpoint are reported as an unwitnessed tail (a warning:
checkpoints are cut every few seconds, so the tail is short).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import note as notes

from . import tree
from .models import AuditCheckpoint
from .notes import note_with_cosignatures
from .verify import Problem, VerificationReport

__all__ = ["WitnessHead", "verify_witnessed"]


@dataclass(frozen=True)
class WitnessHead:
    """The last head a witness cosigned (its state file)."""

    witness: str
    size: int
    root: bytes


def verify_witnessed(session: Session, report: VerificationReport, *, log_key: notes.Verifier,
                     witnesses: Sequence[notes.Verifier], quorum: int,
                     witness_heads: Sequence[WitnessHead] = ()) -> None:
    """Add the witnessed-log findings to ``report`` (problems, warnings)."""
    size = tree.tree_size(session)
    roots: dict[int, bytes] = {}

    def root_at(n: int) -> bytes:
        if n not in roots:
            roots[n] = tree.root_at(session, n)
        return roots[n]

    newest_witnessed: int | None = None
    first_bad: str | None = None
    rows = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.note.is_not(None))
                           .order_by(AuditCheckpoint.id))
    for row in rows:
        where = f"checkpoint #{row.id} of size {row.tree_size}"
        problem: Problem | None = None
        try:
            note = notes.parse_note(note_with_cosignatures(session, row))
            head = notes.parse_checkpoint(note.text)
        except ValueError as exc:
            problem = Problem("checkpoint_note_malformed", f"{where}: {exc}")
        else:
            cosigned_lines = [s for s in note.signatures if s.name != log_key.name]
            valid = notes.verified_cosigners(note, witnesses)
            if not notes.verifies(note, log_key):
                problem = Problem("checkpoint_note_signature", f"{where} is not signed by the checkpoint key")
            elif head.size > size or head.root != root_at(head.size):
                problem = Problem("checkpoint_note_root", f"{where}: its root {head.root_hex} is not the log's "
                                                          f"root at that size")
            elif cosigned_lines and len(valid) < quorum:
                problem = Problem("cosignature_invalid",
                                  f"{where} (root {head.root_hex}): {len(valid)} of the {quorum} required witness "
                                  f"cosignatures verify ({len(cosigned_lines)} stored): the tree head was changed "
                                  "after the witnesses signed it")
            elif len(valid) >= quorum > 0:
                newest_witnessed = head.size
        if problem is not None:
            report.add(problem)
            if first_bad is None:
                first_bad = where
        report.checkpoints_checked += 1
    for kept in witness_heads:
        if kept.size > size or root_at(kept.size) != kept.root:
            report.add(Problem("witness_head_missing",
                               f"witness {kept.witness} cosigned size {kept.size} with root {kept.root.hex()}; "
                               "the log has no such head: its history was rewritten"))
    if quorum > 0 and newest_witnessed is None:
        report.add(Problem("no_witnessed_checkpoint",
                           f"no checkpoint carries {quorum} valid witness cosignature(s): nothing vouches for this "
                           "log outside the operator"))
    elif newest_witnessed is not None and newest_witnessed < size:
        report.warnings.append(f"unwitnessed tail: entries {newest_witnessed} to {size - 1} are after the newest "
                               "witnessed checkpoint")
    if first_bad is not None:
        report.warnings.insert(0, f"first inconsistent checkpoint: {first_bad}")


@dataclass(frozen=True)
class WitnessedHead:
    """The newest checkpoint that the configured witnesses vouch for, as the DPO console shows it."""

    tree_size: int
    root_hash: str
    timestamp: str
    witnesses: list[str]
    """Names of the configured witnesses whose cosignatures verify."""


def newest_witnessed_head(session: Session, *, log_key: notes.Verifier, witnesses: Sequence[notes.Verifier],
                          quorum: int) -> tuple[WitnessedHead | None, list[str]]:
    """The newest checkpoint note with a quorum of valid cosignatures from ``witnesses`` and a valid
    checkpoint-key signature whose root is the log's root at its size, or None and why not.

    The keys are those in configuration (the checkpoint verifier key and the witnesses'), never the
    gateway's token-signing key: a history the operator rewrote and re-signed has no witness behind it.
    """
    rows = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.note.is_not(None))
                           .order_by(AuditCheckpoint.id.desc()).limit(50))
    problems: list[str] = []
    for row in rows:
        note = notes.parse_note(note_with_cosignatures(session, row))
        valid = notes.verified_cosigners(note, witnesses)
        if len(valid) < max(quorum, 1):
            if any(s.name != log_key.name for s in note.signatures):
                problems.append(f"checkpoint #{row.id}: {len(valid)} of the {max(quorum, 1)} required witness "
                                "cosignatures verify: the tree head was changed after the witnesses signed it")
            continue
        head = notes.parse_checkpoint(note.text)
        if not notes.verifies(note, log_key):
            problems.append(f"checkpoint #{row.id} is not signed by the configured checkpoint key")
        elif head.size > tree.tree_size(session) or tree.root_at(session, head.size) != head.root:
            problems.append(f"checkpoint #{row.id} (size {head.size}): the witnessed root {head.root_hex} is not "
                            "the log's root at that size: its history was rewritten")
        else:
            return WitnessedHead(tree_size=head.size, root_hash=head.root_hex, timestamp=row.timestamp,
                                 witnesses=sorted(v.name for v in valid)), problems
    if not witnesses:
        problems.append("no witness is configured (GATEWAY_WITNESSES or witnesses.txt): nothing outside the "
                        "operator vouches for this log")
    return None, problems
