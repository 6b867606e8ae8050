"""Encryption at rest for the little free text the gateway itself must keep: the person's own
words in a correction request or complaint, and staff notes on it.

The key is derived from the gateway's signing seed with BLAKE2b under a label per use, so a copy
of the database (a backup, a dump, a stolen disk) without the key file reads nothing. The
associated data names the row, so a ciphertext moved to another row does not open. Rotating the
signing seed makes older texts unreadable unless the old seed is kept to read them.

Texts are stored as ``sr1.`` followed by base64url of ``nonce || ciphertext``.
"""

from __future__ import annotations

import hashlib

from crypto import _nacl
from crypto.encoding import b64u_decode, b64u_encode
from crypto.errors import DecryptionFailed

PREFIX = "sr1."


def derive_key(seed: bytes, label: str) -> bytes:
    """A 32-byte key for one use (``label``) from a 32-byte secret seed."""
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise ValueError("seed must be 32 bytes")
    return hashlib.blake2b(label.encode("utf-8"), key=seed, digest_size=32, person=b"sr-at-rest-v1").digest()


def seal_text(key: bytes, text: str, *, where: str) -> str:
    """``text`` encrypted under ``key``, bound to ``where`` (e.g. the row id)."""
    return PREFIX + b64u_encode(_nacl.aead_encrypt(key, text.encode("utf-8"), where.encode("utf-8")))


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
