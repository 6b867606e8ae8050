"""Checkpoint notes (C2SP tlog-checkpoint) and the witness cosignatures the gateway keeps.

Every checkpoint row also carries its tree head as a signed note (:mod:`crypto.note`),
signed by the *checkpoint key*, a key of its own (not the token-signing key). Witnesses
fetch the newest note at ``GET /v1/audit/checkpoint`` (no token, cacheable), check a
consistency proof from the last head they cosigned, and send back their cosignature
(``POST /v1/audit/checkpoint/cosignatures``); only cosignatures by configured witnesses
that verify over a stored note are kept, in the insert-only ``audit_cosignatures``.
Agencies' SDKs read ``GET /v1/audit/checkpoint/witnessed`` and accept it only with a
quorum of witness cosignatures they trust themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import note as notes
from crypto.keys import generate_signing_seed, load_signing_seed, save_signing_seed

from .models import AuditCheckpoint, AuditCosignature

__all__ = [
    "CosignatureRefused",
    "NoteSigner",
    "load_or_create_checkpoint_seed",
    "note_with_cosignatures",
    "parse_witnesses",
    "store_cosignatures",
]


@dataclass(frozen=True)
class NoteSigner:
    """The checkpoint key and the log's name (the note origin, also the key's name)."""

    origin: str
    seed: bytes

    def verifier(self) -> notes.Verifier:
        return notes.signer_verifier(self.origin, self.seed)

    def sign(self, size: int, root: bytes) -> str:
        text = notes.Checkpoint(origin=self.origin, size=size, root=root).text()
        return notes.Note(text, (notes.sign_note(text, self.origin, self.seed),)).render()


def load_or_create_checkpoint_seed(path: Path, *, create: bool) -> bytes:
    if not path.exists():
        if not create:
            raise FileNotFoundError(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_signing_seed(path, generate_signing_seed())
    return load_signing_seed(path)


def parse_witnesses(configured: str, file: Path | None) -> list[notes.Verifier]:
    """Witness verifier keys from the setting (commas or newlines) and the optional file (one a line)."""
    texts = configured.replace(",", "\n").splitlines()
    if file is not None and file.exists():
        texts += file.read_text().splitlines()
    found: list[notes.Verifier] = []
    for line in texts:
        text = line.strip()
        if text and not text.startswith("#"):
            verifier = notes.Verifier.parse(text)
            if verifier.kind != notes.COSIGNATURE:
                raise ValueError(f"{verifier.name}: a witness key has signature type 0x04")
            found.append(verifier)
    return found


class CosignatureRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _cosignatures(session: Session, checkpoint_id: int) -> list[notes.NoteSignature]:
    rows = session.scalars(select(AuditCosignature).where(AuditCosignature.checkpoint_id == checkpoint_id)
                           .order_by(AuditCosignature.id))
    return [notes.parse_note("x\n\n" + row.line).signatures[0] for row in rows]


def note_with_cosignatures(session: Session, row: AuditCheckpoint) -> str:
    """The checkpoint's note with every stored witness cosignature appended."""
    assert row.note is not None
    base = notes.parse_note(row.note)
    return base.with_signatures(_cosignatures(session, row.id)).render()


def latest_noted(session: Session, *, witnessed: bool = False) -> AuditCheckpoint | None:
    """The newest checkpoint with a note (``witnessed``: the newest one with at least one cosignature)."""
    query = select(AuditCheckpoint).where(AuditCheckpoint.note.is_not(None))
    if witnessed:
        query = query.where(AuditCheckpoint.id.in_(select(AuditCosignature.checkpoint_id)))
    return session.scalar(query.order_by(AuditCheckpoint.id.desc()).limit(1))


def store_cosignatures(session: Session, submitted: str, witnesses: Sequence[notes.Verifier], *,
                       at: datetime) -> list[str]:
    """Keep the valid cosignatures of configured ``witnesses`` on a stored note; return the witness names.

    Refuses (:class:`CosignatureRefused`) a note that is not well formed, is not one the gateway
    signed, or carries no valid cosignature by a configured witness.
    """
    try:
        cosigned = notes.parse_note(submitted)
        head = notes.parse_checkpoint(cosigned.text)
    except ValueError as exc:
        raise CosignatureRefused("malformed_note", f"Not a cosigned checkpoint note: {exc}.") from None
    rows = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == head.size,
                                                         AuditCheckpoint.note.is_not(None)))
    row = next((r for r in rows if r.note is not None and notes.parse_note(r.note).text == cosigned.text), None)
    if row is None:
        raise CosignatureRefused("unknown_checkpoint", "The gateway signed no checkpoint with this body.")
    kept: list[str] = []
    existing = {(s.name, s.key_id) for s in _cosignatures(session, row.id)}
    for witness in witnesses:
        stamp = notes.cosignature_timestamp(cosigned, witness)
        if stamp is None:
            continue
        if (witness.name, witness.key_id) not in existing:
            line = next(s for s in cosigned.signatures
                        if s.name == witness.name and s.key_id == witness.key_id).line()
            session.add(AuditCosignature(checkpoint_id=row.id, tree_size=head.size, witness=witness.name,
                                         key_id=witness.key_id.hex(), line=line, cosigned_at=stamp, created_at=at))
        kept.append(witness.name)
    if not kept:
        raise CosignatureRefused("no_valid_cosignature",
                                 "No cosignature on this note is by a configured witness and verifies.")
    session.flush()
    return kept
