"""The gateway's at-rest encryption of stored free text, with a key of its own that can rotate.

The key is the key ring's ``at_rest`` key (:mod:`gateway.keyring`), a random secret, not derived
from the token-signing seed. Each stored text names the id of the ring key it was sealed under
(``sr2.<kid>.``), so after :meth:`KeyRing.rotate` new texts use the new key and older rows still
open with the older key the ring keeps. Texts sealed before the ring had an at-rest key
(``sr1.``) open with the key they were sealed under, derived from the token-signing seed; they
are only read, never written again.
"""

from __future__ import annotations

from crypto.at_rest import derive_key, key_id_of, open_text, open_text_with_id, seal_text_with_id
from crypto.errors import DecryptionFailed

from .keyring import AT_REST, KeyRing

__all__ = ["AtRest"]


class AtRest:
    def __init__(self, ring: KeyRing, legacy_seed: bytes | None = None) -> None:
        self.ring = ring
        self._legacy_seed = legacy_seed

    def seal(self, label: str, text: str, *, where: str) -> str:
        """``text`` for the row ``where``, under the current at-rest key (one derived key per ``label``)."""
        key = self.ring.current(AT_REST)
        return seal_text_with_id(derive_key(key.seed, label), key.kid, text, where=where)

    def open(self, label: str, sealed: str, *, where: str) -> str:
        """The stored text, opened with the key its row names; :class:`DecryptionFailed` otherwise."""
        kid = key_id_of(sealed)
        if kid is None:
            if self._legacy_seed is None:
                raise DecryptionFailed
            return open_text(derive_key(self._legacy_seed, label), sealed, where=where)
        key = self.ring.find(AT_REST, kid)
        if key is None:
            raise DecryptionFailed
        return open_text_with_id(derive_key(key.seed, label), sealed, where=where)
