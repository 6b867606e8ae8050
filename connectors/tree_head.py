"""The SDK's view of the gateway's audit log: witnessed tree heads, checked for consistency.

An agency configures the gateway's checkpoint key and the witnesses it trusts (their
verifier keys, obtained out of band, e.g. from the monitoring body), and how many of
those must have cosigned a tree head (``quorum``, default 1). :class:`WitnessedLog`
then accepts a checkpoint note only if

* the checkpoint key signed it,
* at least ``quorum`` trusted witnesses cosigned it, and
* it is consistent with the last head this agency accepted (RFC 9162 consistency proof),
  which it keeps in ``state_path`` across runs.

Anything else raises :class:`LogNotTrusted` naming the checkpoint (size and root) and why;
``rewritten`` is true when the answer itself proves the log was rewritten or split.
The client sends its last head to the gateway on every call (``Tree-Head`` header, its
gossip), so a gateway showing different agencies different logs is caught there too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crypto import note as notes
from crypto.merkle import verify_consistency

from .errors import VerificationError
from .state_file import write_atomically

__all__ = ["LogNotTrusted", "TreeHead", "WitnessedLog"]


class LogNotTrusted(VerificationError):
    """A tree head was refused. ``reason``: ``malformed``, ``bad_log_signature``, ``no_quorum``,
    ``wrong_origin``, ``rollback``, ``split_view`` or ``inconsistent``."""

    def __init__(self, reason: str, detail: str, *, rewritten: bool = False) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.rewritten = rewritten


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes

    def header(self) -> str:
        return f"{self.size} {self.root.hex()}"


class WitnessedLog:
    """Accepts tree heads only with a witness quorum and consistent with the last one accepted."""

    def __init__(self, *, log_key: notes.Verifier, witnesses: Sequence[notes.Verifier], quorum: int = 1,
                 state_path: Path | None = None) -> None:
        if quorum < 1 or quorum > len(witnesses):
            raise ValueError("the quorum is between 1 and the number of trusted witnesses")
        if any(w.kind != notes.COSIGNATURE for w in witnesses):
            raise ValueError("witness keys are cosignature (0x04) verifier keys")
        self.log_key = log_key
        self.witnesses = list(witnesses)
        self.quorum = quorum
        self.state_path = state_path
        self.head: TreeHead | None = None
        self.verifications = 0
        """Signatures checked so far (benchmarks count work, not time)."""
        if state_path is not None and state_path.exists():
            data = json.loads(state_path.read_text())
            self.head = TreeHead(size=int(data["size"]), root=bytes.fromhex(str(data["root"])))

    def _save(self) -> None:
        if self.state_path is None or self.head is None:
            return
        write_atomically(self.state_path, json.dumps({"size": self.head.size, "root": self.head.root.hex()}))

    def accept(self, signed_note: str, proof: Callable[[int, int], list[bytes]]) -> TreeHead:
        """Check ``signed_note`` (a checkpoint with cosignatures); return the new head or raise."""
        try:
            note = notes.parse_note(signed_note)
            head = notes.parse_checkpoint(note.text)
        except ValueError as exc:
            raise LogNotTrusted("malformed", f"not a checkpoint note ({exc})") from None
        where = f"checkpoint of size {head.size} (root {head.root_hex})"
        if head.origin != self.log_key.name:
            raise LogNotTrusted("wrong_origin", f"{where} names log {head.origin!r}, not {self.log_key.name!r}")
        self.verifications += 1
        if not notes.verifies(note, self.log_key):
            raise LogNotTrusted("bad_log_signature", f"{where} is not signed by the gateway's checkpoint key")
        self.verifications += len(self.witnesses)
        cosigners = notes.verified_cosigners(note, self.witnesses)
        if len(cosigners) < self.quorum:
            named = [s.name for s in note.signatures if s.name != self.log_key.name]
            raise LogNotTrusted(
                "no_quorum",
                f"{where} has {len(cosigners)} valid cosignature(s) of the {self.quorum} required from trusted "
                f"witnesses (cosignature lines present from: {', '.join(named) or 'nobody'}); a cosignature that "
                "no longer verifies means the tree head was changed after the witness signed it",
                rewritten=bool(named))
        fresh = TreeHead(size=head.size, root=head.root)
        last = self.head
        if last is not None:
            if fresh.size < last.size:
                # Not proof of a rewrite by itself (a stale cache); keep the pin, refuse to go back.
                raise LogNotTrusted("rollback", f"{where} is older than the head of size {last.size} seen before")
            if fresh.size == last.size and fresh.root != last.root:
                raise LogNotTrusted("split_view", f"{where}: another root for size {last.size} was seen before "
                                                  f"({last.root.hex()})", rewritten=True)
            if fresh.size > last.size and not verify_consistency(last.size, fresh.size, last.root, fresh.root,
                                                                 proof(last.size, fresh.size)):
                raise LogNotTrusted("inconsistent", f"{where} does not extend the head of size {last.size} "
                                                    f"(root {last.root.hex()}) seen before", rewritten=True)
        self.head = fresh
        self._save()
        return fresh
