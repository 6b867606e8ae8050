"""Encryption at rest for the little free text the gateway itself must keep: the person's own
words in a correction request or complaint, and staff notes on it.

The key is derived from the gateway's signing seed with BLAKE2b under a label per use, so a copy
of the database (a backup, a dump, a stolen disk) without the key file reads nothing. The
associated data names the row, so a ciphertext moved to another row does not open. Rotating the
signing seed makes older texts unreadable unless the old seed is kept to read them.

Texts are stored as ``sr2.<key id>.`` followed by base64url of ``nonce || ciphertext`` (the key id
is also bound into the associated data), so the key can rotate and each row says which key opens
it. Texts written before (``sr1.``, no key id) still open with the key they were sealed under.
"""

from __future__ import annotations

import hashlib

from crypto import _nacl
from crypto.encoding import b64u_decode, b64u_encode
from crypto.errors import DecryptionFailed

PREFIX = "sr1."
PREFIX_V2 = "sr2."


def derive_key(seed: bytes, label: str) -> bytes:
    """A 32-byte key for one use (``label``) from a 32-byte secret seed."""
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise ValueError("seed must be 32 bytes")
    return hashlib.blake2b(label.encode("utf-8"), key=seed, digest_size=32, person=b"sr-at-rest-v1").digest()


def seal_text(key: bytes, text: str, *, where: str) -> str:
    """``text`` encrypted under ``key``, bound to ``where`` (e.g. the row id)."""
    return PREFIX + b64u_encode(_nacl.aead_encrypt(key, text.encode("utf-8"), where.encode("utf-8")))


def seal_text_with_id(key: bytes, key_id: str, text: str, *, where: str) -> str:
    """``text`` encrypted under ``key``, bound to ``where`` and to ``key_id``, which the stored text names."""
    if not key_id or "." in key_id:
        raise ValueError("a key id is non-empty and has no dot")
    aad = f"{where}\x00{key_id}".encode()
    return f"{PREFIX_V2}{key_id}." + b64u_encode(_nacl.aead_encrypt(key, text.encode("utf-8"), aad))


def key_id_of(sealed: str) -> str | None:
    """The key id a stored text names (None for a text sealed before key ids, ``sr1.``)."""
    if not sealed.startswith(PREFIX_V2):
        return None
    kid, dot, _rest = sealed[len(PREFIX_V2):].partition(".")
    return kid if dot else None


def open_text_with_id(key: bytes, sealed: str, *, where: str) -> str:
    """The text :func:`seal_text_with_id` sealed for ``where``; :class:`DecryptionFailed` otherwise."""
    kid = key_id_of(sealed)
    if kid is None:
        raise DecryptionFailed
    try:
        data = b64u_decode(sealed[len(PREFIX_V2) + len(kid) + 1:])
        return _nacl.aead_decrypt(key, data, f"{where}\x00{kid}".encode()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise DecryptionFailed from None


def open_text(key: bytes, sealed: str, *, where: str) -> str:
    """The text :func:`seal_text` sealed for ``where``; :class:`DecryptionFailed` otherwise."""
    if not sealed.startswith(PREFIX):
        raise DecryptionFailed
    try:
        data = b64u_decode(sealed[len(PREFIX):])
    except ValueError:
        raise DecryptionFailed from None
    try:
        return _nacl.aead_decrypt(key, data, where.encode("utf-8")).decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionFailed from None
