"""The gateway's at-rest encryption of stored free text, with a key of its own that can rotate.

The key is the key ring's ``at_rest`` key (:mod:`gateway.keyring`), a random secret, not derived
from the token-signing seed. Each stored text names the id of the ring key it was sealed under
(``sr2.<kid>.``), so after :meth:`KeyRing.rotate` new texts use the new key and older rows still
open with the older key the ring keeps. Texts sealed before the ring had an at-rest key
(``sr1.``) open with the key they were sealed under, derived from the token-signing seed; they
are only read, never written again.

A person's texts (portal requests and staff notes about them) are sealed under a key that needs
both the ring's key and the person's own subject key (:mod:`gateway.audit.subject_keys`):
destroying the subject key on erasure (crypto-shredding) leaves those texts unreadable for good.
"""

from __future__ import annotations

import hashlib

from crypto.at_rest import derive_key, key_id_of, open_text, open_text_with_id, seal_text_with_id
from crypto.errors import DecryptionFailed

from .keyring import AT_REST, KeyRing

__all__ = ["AtRest"]


class AtRest:
    def __init__(self, ring: KeyRing, legacy_seed: bytes | None = None) -> None:
        self.ring = ring
        self._legacy_seed = legacy_seed

    def seal(self, label: str, text: str, *, where: str, subject_key: bytes | None = None) -> str:
        """``text`` for the row ``where``, under the current at-rest key (one derived key per ``label``),
        and under the person's ``subject_key`` as well when the text is about a person."""
        key = self.ring.current(AT_REST)
        return seal_text_with_id(_for_subject(derive_key(key.seed, label), subject_key), key.kid, text, where=where)

    def open(self, label: str, sealed: str, *, where: str, subject_key: bytes | None = None) -> str:
        """The stored text, opened with the key its row names (and the person's key, when it was sealed
        under one and that key still exists); :class:`DecryptionFailed` otherwise (an erased person's
        text included)."""
        kid = key_id_of(sealed)
        if kid is None:
            bases = [] if self._legacy_seed is None else [derive_key(self._legacy_seed, label)]
            opener = open_text
        else:
            key = self.ring.find(AT_REST, kid)
            bases = [] if key is None else [derive_key(key.seed, label)]
            opener = open_text_with_id
        for base in bases:
            # The person's key first; then the ring key alone, which texts sealed before subject keys used.
            for candidate in ([_for_subject(base, subject_key)] if subject_key is not None else []) + [base]:
                try:
                    return opener(candidate, sealed, where=where)
                except DecryptionFailed:
                    continue
        raise DecryptionFailed


def _for_subject(base: bytes, subject_key: bytes | None) -> bytes:
    """``base`` bound to one person's key (crypto-shredding); ``base`` itself without one."""
    if subject_key is None:
        return base
    return hashlib.blake2b(subject_key, key=base, digest_size=32, person=b"sr-subject-text").digest()
