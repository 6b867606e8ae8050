"""Signed audit-log checkpoints (signed tree heads): the format, signing and verification.

A checkpoint says "the gateway's audit log had ``tree_size`` entries and this RFC 9162
Merkle root at ``timestamp``", signed with the gateway's Ed25519 key. Anyone holding the
gateway's public key (``/.well-known/jwks.json``, ``kid`` = ``key_id``) can check it
without trusting the gateway.

The signed bytes are the RFC 8785 canonical JSON of the six body fields, no whitespace,
keys sorted, UTF-8::

    {"key_id":"<kid>","origin":"<gateway issuer URL>","root_hash":"<64 lowercase hex>",
     "timestamp":"2026-11-24T10:00:00.000Z","tree_size":42,
     "type":"safe-referral-gateway/audit-checkpoint/v1"}

(shown wrapped; it is one line). The signature is the detached 64-byte Ed25519
signature of those bytes, base64url without padding. The wire form (API, files) is the
body plus ``"signature"``. To verify by hand: drop ``signature``, canonicalise the rest
with any RFC 8785 implementation, and check the Ed25519 signature with the JWK's ``x``.

``type`` keeps a checkpoint signature from being valid for any other signed document
of the gateway; ``origin`` names the log, so a checkpoint of one gateway is not accepted
for another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crypto.canonical import canonical_json
from crypto.encoding import b64u_decode, b64u_encode
from crypto.errors import InvalidSignature
from crypto.keys import jwk_kid, signing_public_key
from crypto.signing import sign, verify

__all__ = ["CHECKPOINT_TYPE", "Checkpoint", "format_timestamp", "sign_checkpoint", "verify_checkpoint"]

CHECKPOINT_TYPE = "safe-referral-gateway/audit-checkpoint/v1"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_FIELDS = {"type", "origin", "tree_size", "root_hash", "timestamp", "key_id", "signature"}


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``: the one timestamp form a checkpoint carries."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head. Build with :func:`sign_checkpoint` or :meth:`from_json`."""

    origin: str
    tree_size: int
    root_hash: str
    """Lowercase hex of the 32-byte root."""
    timestamp: str
    key_id: str
    signature: str

    def body(self) -> dict[str, Any]:
        """The signed fields."""
        return {
            "type": CHECKPOINT_TYPE,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "key_id": self.key_id,
        }

    def signed_bytes(self) -> bytes:
        """Exactly the bytes the signature covers (see the module docstring)."""
        return canonical_json(self.body())

    def to_json(self) -> dict[str, Any]:
        """The wire form: the body plus ``signature``."""
        return {**self.body(), "signature": self.signature}

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Parse the wire form strictly; :class:`ValueError` on any malformed or unknown field."""
        if not isinstance(data, Mapping):
            raise ValueError("a checkpoint is a JSON object")
        if set(data) != _FIELDS:
            raise ValueError("a checkpoint has exactly the fields " + ", ".join(sorted(_FIELDS)))
        if data["type"] != CHECKPOINT_TYPE:
            raise ValueError("not an audit checkpoint of this format")
        size = data["tree_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("tree_size must be a non-negative integer")
        for name in ("origin", "root_hash", "timestamp", "key_id", "signature"):
            if not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string")
        if not _HEX64.fullmatch(data["root_hash"]):
            raise ValueError("root_hash must be 64 lowercase hex digits")
        if not _TIMESTAMP.fullmatch(data["timestamp"]):
            raise ValueError("timestamp must be RFC 3339 UTC with milliseconds")
        return cls(origin=data["origin"], tree_size=size, root_hash=data["root_hash"],
                   timestamp=data["timestamp"], key_id=data["key_id"], signature=data["signature"])


def sign_checkpoint(seed: bytes, *, origin: str, tree_size: int, root: bytes, at: datetime) -> Checkpoint:
    """Sign a tree head with the gateway's Ed25519 ``seed``."""
    if len(root) != 32:
        raise ValueError("root must be 32 bytes")
    unsigned = Checkpoint(origin=origin, tree_size=tree_size, root_hash=root.hex(), timestamp=format_timestamp(at),
                          key_id=jwk_kid(signing_public_key(seed)), signature="")
    return Checkpoint(**{**unsigned.__dict__, "signature": b64u_encode(sign(seed, unsigned.signed_bytes()))})


def verify_checkpoint(checkpoint: Checkpoint, public_key: bytes) -> None:
    """Check that ``public_key`` signed ``checkpoint``; raise :class:`InvalidSignature` otherwise.

    A ``key_id`` that does not name ``public_key`` fails too: a checkpoint signed by
    another key (a re-signed, rewritten log) is never accepted.
    """
    if checkpoint.key_id != jwk_kid(public_key):
        raise InvalidSignature("checkpoint signed by another key")
    try:
        signature = b64u_decode(checkpoint.signature)
    except ValueError:
        raise InvalidSignature("signature verification failed") from None
    verify(public_key, checkpoint.signed_bytes(), signature)
