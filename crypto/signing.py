"""Ed25519 signatures over raw bytes and over canonical JSON documents.

Document signatures cover ``canonical_json(doc)`` (RFC 8785), so signer and
verifier agree on the bytes regardless of how each side serialises JSON.
Callers should put a type/purpose field in every signed document (e.g.
``{"type": "referral-manifest/v1", ...}``): the signature itself does not say
what kind of document it is, and without such a field a signature made for
one purpose could be presented as valid for another.
"""

from __future__ import annotations

from collections.abc import Mapping

from crypto import _nacl
from crypto.canonical import canonical_json
from crypto.encoding import b64u_decode, b64u_encode
from crypto.errors import CryptoError, InvalidSignature
from crypto.keys import fingerprint

__all__ = ["sign", "sign_document", "verify", "verify_document", "verify_statement"]


def sign(seed: bytes, message: bytes) -> bytes:
    """Return the detached 64-byte Ed25519 signature of ``message`` under ``seed``.

    Raises :class:`~crypto.errors.InvalidKey` if ``seed`` is not 32 bytes.
    """
    return _nacl.ed25519_sign(seed, message)


def verify(public: bytes, message: bytes, signature: bytes) -> None:
    """Verify a detached Ed25519 signature; raise :class:`InvalidSignature` on any failure.

    A malformed public key or signature is reported as :class:`InvalidSignature`
    too: from the verifier's point of view it is simply not a valid signature.
    """
    _nacl.ed25519_verify(public, message, signature)


def sign_document(seed: bytes, doc: Mapping[str, object]) -> str:
    """Sign ``canonical_json(doc)`` and return the signature as base64url text.

    Raises :class:`TypeError`/:class:`ValueError` if ``doc`` is not
    canonicalisable JSON (see :mod:`crypto.canonical`).
    """
    if not isinstance(doc, Mapping):
        raise TypeError("doc must be a JSON object (a mapping)")
    return b64u_encode(sign(seed, canonical_json(doc)))


def verify_document(public: bytes, doc: Mapping[str, object], signature_b64: str) -> None:
    """Verify a signature made by :func:`sign_document`; raise :class:`InvalidSignature` on failure.

    A malformed signature string, or a ``doc`` holding values JCS cannot
    represent (which therefore cannot have been signed), also raises
    :class:`InvalidSignature`. ``doc`` not being a mapping, or containing
    non-JSON types, is a programming error and raises :class:`TypeError`.
    """
    if not isinstance(doc, Mapping):
        raise TypeError("doc must be a JSON object (a mapping)")
    if not isinstance(signature_b64, str):
        raise InvalidSignature("signature verification failed")
    try:
        message = canonical_json(doc)
        signature = b64u_decode(signature_b64)
    except ValueError:
        raise InvalidSignature("signature verification failed") from None
    verify(public, message, signature)


def verify_statement(document: Mapping[str, object], signature_b64: str, signer_public: bytes, *,
                     statement_type: str, fields: frozenset[str]) -> bool:
    """Whether ``document`` is a well-formed statement of ``statement_type`` (exactly ``fields``) that
    names ``signer_public`` in ``signed_by`` and is signed by it (key bindings, key revocations)."""
    if not isinstance(document, Mapping) or set(document) != fields or document.get("type") != statement_type:
        return False
    if document.get("signed_by") != fingerprint(signer_public, "ed25519"):
        return False
    try:
        verify_document(signer_public, document, signature_b64)
    except (CryptoError, TypeError, ValueError):
        return False
    return True
