"""Agency-side checks of the gateway's audit log: checkpoint pinning and inclusion proofs.

An agency keeps the latest checkpoint it has seen (``/v1/audit/checkpoints/latest``).
When it sees a newer one it asks for a consistency proof between the two
(``/v1/audit/consistency-proof?first=<old size>&second=<new size>``) and calls
:func:`check_checkpoint_update`. If that says ``rewritten``, the gateway showed it a log
that does not extend the one it saw before: its history was rewritten (or it shows
different agencies different logs). Report it to the monitoring body with both
checkpoints: they are signed, so they prove it.

Pure functions of their arguments: no I/O, no clock. The signed format is documented in
:mod:`crypto.checkpoint`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crypto import audit_leaf
from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.errors import CryptoError
from crypto.merkle import verify_consistency, verify_inclusion

__all__ = [
    "Checkpoint",
    "CheckpointUpdate",
    "check_checkpoint_update",
    "entry_leaf_hash",
    "verify_entry_inclusion",
]

CheckpointLike = Checkpoint | Mapping[str, Any]
HashLike = bytes | str


@dataclass(frozen=True)
class CheckpointUpdate:
    """What :func:`check_checkpoint_update` concluded.

    ``accept``: pin ``checkpoint`` from now on. ``rewritten``: the signed checkpoints
    themselves prove that history was rewritten (or split): keep both as evidence.
    ``reason`` is one of ``first_seen``, ``unchanged``, ``consistent``, ``bad_signature``,
    ``malformed``, ``older``, ``split_view``, ``inconsistent``.
    """

    accept: bool
    rewritten: bool
    reason: str
    checkpoint: Checkpoint | None = None


def _parse(value: CheckpointLike) -> Checkpoint:
    return value if isinstance(value, Checkpoint) else Checkpoint.from_json(value)


def _hash(value: HashLike) -> bytes:
    out = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if len(out) != 32:
        raise ValueError("a proof hash is 32 bytes")
    return out


def check_checkpoint_update(
    previous: CheckpointLike | None,
    new: CheckpointLike,
    public_key: bytes,
    consistency_proof: Sequence[HashLike],
) -> CheckpointUpdate:
    """Decide whether ``new`` extends ``previous`` (both signed by ``public_key``).

    ``consistency_proof`` is the gateway's proof from ``previous.tree_size`` to
    ``new.tree_size`` (hex strings as the API returns them, or bytes). Fails closed:
    anything malformed or unsigned is not accepted.
    """
    try:
        fresh = _parse(new)
        old = _parse(previous) if previous is not None else None
        proof = [_hash(p) for p in consistency_proof]
    except (ValueError, TypeError):
        return CheckpointUpdate(accept=False, rewritten=False, reason="malformed")
    try:
        verify_checkpoint(fresh, public_key)
        if old is not None:
            verify_checkpoint(old, public_key)
    except CryptoError:
        return CheckpointUpdate(accept=False, rewritten=False, reason="bad_signature")
    if old is None:
        return CheckpointUpdate(accept=True, rewritten=False, reason="first_seen", checkpoint=fresh)
    if fresh.origin != old.origin:
        return CheckpointUpdate(accept=False, rewritten=False, reason="malformed")
    if fresh.tree_size < old.tree_size:
        # An older head is no proof of anything by itself; keep the pin.
        return CheckpointUpdate(accept=False, rewritten=False, reason="older")
    if fresh.tree_size == old.tree_size:
        if fresh.root_hash == old.root_hash:
            return CheckpointUpdate(accept=True, rewritten=False, reason="unchanged", checkpoint=fresh)
        return CheckpointUpdate(accept=False, rewritten=True, reason="split_view")
    if verify_consistency(old.tree_size, fresh.tree_size, old.root, fresh.root, proof):
        return CheckpointUpdate(accept=True, rewritten=False, reason="consistent", checkpoint=fresh)
    return CheckpointUpdate(accept=False, rewritten=True, reason="inconsistent")


def entry_leaf_hash(document: Mapping[str, Any]) -> bytes:
    """The RFC 9162 leaf hash of an audit entry as the API returns it (``leaf_hash`` excluded)."""
    body = {k: v for k, v in document.items() if k != "leaf_hash"}
    return audit_leaf.entry_leaf_hash(body)


def verify_entry_inclusion(
    document: Mapping[str, Any],
    proof: Sequence[HashLike],
    checkpoint: CheckpointLike,
    public_key: bytes,
) -> bool:
    """Whether the entry ``document`` is leaf ``document["seq"]`` of the signed ``checkpoint``'s tree.

    Recomputes the leaf hash from the entry's content, so an entry altered after it was
    written fails even if its stored hash was kept.
    """
    try:
        head = _parse(checkpoint)
        verify_checkpoint(head, public_key)
        hashes = [_hash(p) for p in proof]
        seq = document["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            return False
        return verify_inclusion(entry_leaf_hash(document), seq, head.tree_size, hashes, head.root)
    except (CryptoError, ValueError, TypeError, KeyError):
        return False
