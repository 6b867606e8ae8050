"""Thin wrappers over PyNaCl (libsodium): the only module allowed to import ``nacl``.

Everything else in ``crypto`` goes through these functions, so the whole
package's exposure to libsodium is auditable on one screen, and an
import-linter contract (see pyproject.toml) keeps it that way.

The wrappers translate PyNaCl's exceptions into ours:

* opening a sealed box fails only with :class:`~crypto.errors.DecryptionFailed`;
* verifying fails only with :class:`~crypto.errors.InvalidSignature`;
* malformed key material fails with :class:`~crypto.errors.InvalidKey`.

Callers never supply nonces: SealedBox derives its nonce from a fresh
ephemeral X25519 key generated inside libsodium on every call, and Ed25519 is
deterministic.
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.signing
import nacl.utils

from crypto.errors import DecryptionFailed, InvalidKey, InvalidSignature

__all__ = [
    "ED25519_PUBLIC_KEY_BYTES",
    "ED25519_SEED_BYTES",
    "ED25519_SIGNATURE_BYTES",
    "SEALED_BOX_OVERHEAD",
    "X25519_KEY_BYTES",
    "ed25519_generate_seed",
    "ed25519_public_from_seed",
    "ed25519_sign",
    "ed25519_verify",
    "random_bytes",
    "sealed_box_open",
    "sealed_box_seal",
    "sodium_pad",
    "sodium_unpad",
    "x25519_generate",
    "x25519_public_from_private",
]

X25519_KEY_BYTES = 32
ED25519_SEED_BYTES = 32
ED25519_PUBLIC_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
#: Bytes a sealed box adds to the plaintext: 32 (ephemeral public key) + 16 (Poly1305 tag).
SEALED_BOX_OVERHEAD = 48


def _require_key(value: object, length: int, what: str) -> bytes:
    # bytes only (not bytearray/memoryview): key material must be immutable and
    # exactly what the caller thinks it is.
    if not isinstance(value, bytes) or len(value) != length:
        raise InvalidKey(f"{what} must be {length} bytes")
    return value


def random_bytes(n: int) -> bytes:
    """Return ``n`` bytes from libsodium's CSPRNG (``randombytes_buf``)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError("n must be a non-negative int")
    return bytes(nacl.utils.random(n))


# --- X25519 -----------------------------------------------------------------


def x25519_generate() -> tuple[bytes, bytes]:
    """Generate a fresh X25519 key pair; return ``(private, public)``, 32 bytes each."""
    private = nacl.public.PrivateKey.generate()
    return bytes(private), bytes(private.public_key)


def x25519_public_from_private(private: bytes) -> bytes:
    """Derive the X25519 public key (32 bytes) from a 32-byte private key."""
    _require_key(private, X25519_KEY_BYTES, "X25519 private key")
    return bytes(nacl.public.PrivateKey(private).public_key)


def sealed_box_seal(plaintext: bytes, recipient_public: bytes) -> bytes:
    """Encrypt ``plaintext`` anonymously to ``recipient_public`` (libsodium ``crypto_box_seal``).

    Each call generates a fresh ephemeral key pair inside libsodium, so two
    seals of the same plaintext differ. The ciphertext is
    ``len(plaintext) + SEALED_BOX_OVERHEAD`` bytes long. Anyone holding the
    public key can seal: a sealed box authenticates nothing about the sender.
    """
    _require_key(recipient_public, X25519_KEY_BYTES, "X25519 public key")
    if not isinstance(plaintext, bytes):
        raise TypeError("plaintext must be bytes")
    try:
        return bytes(nacl.public.SealedBox(nacl.public.PublicKey(recipient_public)).encrypt(plaintext))
    except nacl.exceptions.CryptoError:
        # libsodium refuses low-order points (e.g. all zeros): the shared
        # secret would be predictable.
        raise InvalidKey("X25519 public key is not usable") from None


def sealed_box_open(ciphertext: bytes, recipient_private: bytes) -> bytes:
    """Decrypt a sealed box with the recipient's 32-byte X25519 private key.

    Raises :class:`DecryptionFailed` for *every* failure, including a
    malformed private key, so that no error detail leaks.
    """
    try:
        _require_key(recipient_private, X25519_KEY_BYTES, "X25519 private key")
        if not isinstance(ciphertext, bytes) or len(ciphertext) < SEALED_BOX_OVERHEAD:
            raise ValueError
        box = nacl.public.SealedBox(nacl.public.PrivateKey(recipient_private))
        return bytes(box.decrypt(ciphertext))
    except (nacl.exceptions.CryptoError, InvalidKey, ValueError, TypeError):
        raise DecryptionFailed from None


# --- XChaCha20-Poly1305 (secret key, for data at rest) ------------------------

AEAD_KEY_BYTES = 32
AEAD_NONCE_BYTES = 24
AEAD_OVERHEAD = AEAD_NONCE_BYTES + 16


def aead_encrypt(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """``nonce || ciphertext`` under ``key`` (XChaCha20-Poly1305-IETF, random 24-byte nonce);
    ``associated`` is authenticated, not encrypted (it binds the ciphertext to its place)."""
    _require_key(key, AEAD_KEY_BYTES, "AEAD key")
    nonce = nacl.utils.random(AEAD_NONCE_BYTES)
    return nonce + bytes(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated, nonce, key))


def aead_decrypt(key: bytes, data: bytes, associated: bytes) -> bytes:
    """The plaintext of :func:`aead_encrypt`'s output; :class:`DecryptionFailed` for every failure."""
    try:
        _require_key(key, AEAD_KEY_BYTES, "AEAD key")
        if not isinstance(data, bytes) or len(data) < AEAD_OVERHEAD:
            raise ValueError
        return bytes(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            data[AEAD_NONCE_BYTES:], associated, data[:AEAD_NONCE_BYTES], key))
    except (nacl.exceptions.CryptoError, InvalidKey, ValueError, TypeError):
        raise DecryptionFailed from None


# --- Ed25519 ----------------------------------------------------------------


def ed25519_generate_seed() -> bytes:
    """Generate a fresh 32-byte Ed25519 seed (the private key in RFC 8032 form)."""
    return random_bytes(ED25519_SEED_BYTES)


def ed25519_public_from_seed(seed: bytes) -> bytes:
    """Derive the 32-byte Ed25519 public key from a 32-byte seed."""
    _require_key(seed, ED25519_SEED_BYTES, "Ed25519 seed")
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    """Sign ``message`` with the key derived from ``seed``; return the detached 64-byte signature."""
    _require_key(seed, ED25519_SEED_BYTES, "Ed25519 seed")
    if not isinstance(message, bytes):
        raise TypeError("message must be bytes")
    return bytes(nacl.signing.SigningKey(seed).sign(message).signature)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> None:
    """Verify a detached Ed25519 signature; raise :class:`InvalidSignature` on any failure.

    Wrong-length keys or signatures, non-bytes arguments and keys libsodium
    rejects (e.g. small-order points) all count as a failed verification.
    """
    if (
        not isinstance(public, bytes)
        or len(public) != ED25519_PUBLIC_KEY_BYTES
        or not isinstance(message, bytes)
        or not isinstance(signature, bytes)
        or len(signature) != ED25519_SIGNATURE_BYTES
    ):
        raise InvalidSignature("signature verification failed")
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise InvalidSignature("signature verification failed") from None


# --- Padding ----------------------------------------------------------------


def sodium_pad(data: bytes, block_size: int) -> bytes:
    """ISO/IEC 7816-4 pad ``data`` to a multiple of ``block_size`` (always adds >= 1 byte)."""
    return bytes(nacl.bindings.sodium_pad(data, block_size))


def sodium_unpad(padded: bytes, block_size: int) -> bytes:
    """Remove ISO/IEC 7816-4 padding; raise :class:`ValueError` if the padding is invalid."""
    try:
        return bytes(nacl.bindings.sodium_unpad(padded, block_size))
    except nacl.exceptions.CryptoError:
        raise ValueError("invalid padding") from None
