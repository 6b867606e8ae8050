"""Per-field sealing of referral payloads.

Each field of a referral is sealed separately to the recipient agency's X25519
key, so the gateway relays (and can hash, count and store) ciphertexts without
being able to read any of them.

Plaintext layout, before encryption::

    sodium_pad(canonical_json({"e": envelope_id, "f": field, "v": value}), 256)

* **Binding.** The envelope id and field name travel *inside* the ciphertext
  and are checked on open. A relay that moves a ciphertext to another field
  (say, "notes" into "address") or into another envelope therefore causes a
  :class:`DecryptionFailed` instead of a silently wrong referral.
* **Padding.** ISO/IEC 7816-4 padding to a multiple of :data:`PAD_BLOCK`
  bytes means ciphertext lengths reveal only a coarse size bucket, not e.g.
  the length of a name. A ciphertext is always
  ``k * PAD_BLOCK + 48`` bytes (k >= 1).
* **No sender authentication.** A sealed box is anonymous: anyone who knows
  the recipient's *public* key can produce a ciphertext that opens cleanly.
  Authenticity must come from a signature by the sending agency over the
  envelope, e.g. over the :func:`ciphertext_hash` of every field.
"""

from __future__ import annotations

import hmac

from crypto import _nacl
from crypto.canonical import JSON, canonical_json, parse_json, sha256_hex
from crypto.errors import DecryptionFailed

__all__ = ["PAD_BLOCK", "ciphertext_hash", "open_field", "seal_field"]

#: Padding block size in bytes: plaintext lengths are rounded up to a multiple of this.
PAD_BLOCK = 256


def _plaintext(envelope_id: str, field: str, value: object) -> bytes:
    if not isinstance(envelope_id, str) or not isinstance(field, str):
        raise TypeError("envelope_id and field must be str")
    return canonical_json({"e": envelope_id, "f": field, "v": value})


def seal_field(envelope_id: str, field: str, value: object, recipient_encryption_public: bytes) -> bytes:
    """Seal one JSON ``value`` for the holder of ``recipient_encryption_public``.

    ``value`` is any JSON value accepted by :func:`crypto.canonical.canonical_json`
    (:class:`TypeError`/:class:`ValueError` otherwise). Every call
    uses a fresh ephemeral key, so sealing the same value twice gives
    different ciphertexts.

    (``recipient_encryption_public`` is checked by the sealing wrapper: not
    32 bytes, or a low-order point, raises :class:`~crypto.errors.InvalidKey`.)
    """
    plaintext = _nacl.sodium_pad(_plaintext(envelope_id, field, value), PAD_BLOCK)
    return _nacl.sealed_box_seal(plaintext, recipient_encryption_public)


def open_field(envelope_id: str, field: str, ciphertext: bytes, recipient_encryption_private: bytes) -> JSON:
    """Open a ciphertext made by :func:`seal_field` and return the JSON value.

    Raises :class:`DecryptionFailed` - and nothing else - if the key is wrong
    or malformed, the ciphertext was modified, the padding or plaintext is
    malformed, or the ciphertext was sealed for a different ``envelope_id`` or
    ``field``. Note that JCS turns whole floats into integers (``1.0`` -> ``1``).
    """
    try:
        if (
            not isinstance(envelope_id, str)
            or not isinstance(field, str)
            or not isinstance(ciphertext, bytes)
            # Cheap pre-check: anything seal_field made has exactly this shape.
            or (len(ciphertext) - _nacl.SEALED_BOX_OVERHEAD) % PAD_BLOCK != 0
            or len(ciphertext) < PAD_BLOCK + _nacl.SEALED_BOX_OVERHEAD
        ):
            raise ValueError
        padded = _nacl.sealed_box_open(ciphertext, recipient_encryption_private)
        plaintext = _nacl.sodium_unpad(padded, PAD_BLOCK)
        document = parse_json(plaintext)
        if not isinstance(document, dict) or set(document) != {"e", "f", "v"}:
            raise ValueError
        # Require the canonical encoding: exactly one byte string is valid for a
        # given (envelope, field, value), so no alternative spelling can sneak
        # past checks that other code may do on the plaintext bytes.
        expected = _plaintext(envelope_id, field, document["v"])
        if not hmac.compare_digest(plaintext, expected):
            raise ValueError
        return document["v"]
    except (DecryptionFailed, ValueError, TypeError, RecursionError):
        # One opaque error, context suppressed: which check failed is an oracle.
        raise DecryptionFailed from None


def ciphertext_hash(ciphertext: bytes) -> str:
    """Return ``"sha256:<hex>"`` of a ciphertext, for manifests, signatures and audit logs."""
    return sha256_hex(ciphertext)
