"""Cryptographic recipes for the safe-referral gateway.

This package is the "recipes" layer: small, hard-to-misuse functions built on
libsodium (via PyNaCl, confined to :mod:`crypto._nacl`), joserfc, rfc8785 and
argon2-cffi. There are no home-made primitives, callers never choose nonces,
randomness comes from libsodium, and every decryption failure is the same
opaque :class:`DecryptionFailed`.

Merkle-tree functions live in the :mod:`crypto.merkle` namespace (their names,
such as ``root``, are too generic for the top level); ``CompactRange`` is
re-exported here for convenience.
"""

from __future__ import annotations

from crypto import merkle
from crypto.canonical import JSON, canonical_json, sha256_hex
from crypto.encoding import b64u_decode, b64u_encode
from crypto.envelope import ciphertext_hash, open_field, seal_field
from crypto.errors import CryptoError, DecryptionFailed, InvalidKey, InvalidSignature
from crypto.jws import sign_jws, verify_jws
from crypto.keys import (
    AgencyKeyPair,
    AgencyPublicKeys,
    ed25519_private_jwk,
    ed25519_public_jwk,
    fingerprint,
    generate_agency_keys,
    generate_signing_seed,
    jwk_kid,
    load_key_file,
    load_signing_seed,
    normalise_fingerprint,
    save_key_file,
    save_signing_seed,
    signing_public_key,
)
from crypto.merkle import CompactRange
from crypto.passwords import SecretHasher, normalise_code, random_code, random_token
from crypto.signing import sign, sign_document, verify, verify_document

__all__ = [
    "JSON",
    "AgencyKeyPair",
    "AgencyPublicKeys",
    "CompactRange",
    "CryptoError",
    "DecryptionFailed",
    "InvalidKey",
    "InvalidSignature",
    "SecretHasher",
    "b64u_decode",
    "b64u_encode",
    "canonical_json",
    "ciphertext_hash",
    "ed25519_private_jwk",
    "ed25519_public_jwk",
    "fingerprint",
    "generate_agency_keys",
    "generate_signing_seed",
    "jwk_kid",
    "load_key_file",
    "load_signing_seed",
    "merkle",
    "normalise_code",
    "normalise_fingerprint",
    "open_field",
    "random_code",
    "random_token",
    "save_key_file",
    "save_signing_seed",
    "seal_field",
    "sha256_hex",
    "sign",
    "sign_document",
    "sign_jws",
    "signing_public_key",
    "verify",
    "verify_document",
    "verify_jws",
]
