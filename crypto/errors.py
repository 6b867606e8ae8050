"""Exceptions raised by the ``crypto`` package.

Every exception the recipes raise on purpose derives from :class:`CryptoError`,
so callers can catch the whole family at once::

    Exception
     └── CryptoError          base class; never raised directly
          ├── DecryptionFailed   any failure to open a ciphertext (one opaque error)
          ├── InvalidSignature   a signature, signed document or JWS did not verify
          └── InvalidKey         key material has the wrong type, length or format

Messages are deliberately terse. In particular :class:`DecryptionFailed` never
says *why* decryption failed (wrong key, tampering, bad padding, malformed
plaintext, wrong envelope or field): distinguishing them would hand an attacker
an oracle, and none of them is actionable for a legitimate caller anyway.
"""

from __future__ import annotations

__all__ = ["CryptoError", "DecryptionFailed", "InvalidKey", "InvalidSignature"]


class CryptoError(Exception):
    """Base class of every error raised deliberately by ``crypto``."""


class DecryptionFailed(CryptoError):
    """A ciphertext could not be opened, for whatever reason.

    Raised with no message and with the underlying cause suppressed
    (``raise DecryptionFailed from None``), so that logs and error responses
    cannot reveal which check failed.
    """


class InvalidSignature(CryptoError):
    """A signature (raw, document or JWS) failed to verify."""


class InvalidKey(CryptoError):
    """Key material is malformed: wrong type or length, bad encoding, corrupt key file."""
