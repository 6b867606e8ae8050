"""One key per purpose: the gateway's key ring.

* ``tokens``: access tokens (the seed in ``gateway-signing.json``, as before: JWKS ``kid`` unchanged);
* ``checkpoints``: audit checkpoint notes (``gateway-checkpoint.json``, :mod:`gateway.audit.notes`);
* ``receipts``: consent receipts (JWS, ``kid`` in the header, key in the JWKS);
* ``webhooks``: signatures of webhook pushes (``Gateway-Key-Id`` names it, key in the JWKS);
* ``at_rest``: encryption of the little free text the gateway keeps (:mod:`gateway.at_rest`): a
  random secret, never published; each stored text names the key id it was sealed under, so the
  key rotates and older rows still open (with the older key, kept in the ring).

The last two live in ``<data_dir>/keys/ring.json`` (mode 0600), each purpose a list of keys
newest first with their ids; :meth:`KeyRing.rotate` puts a new key in front and keeps the
older ones, which stay in the JWKS so that what they signed still verifies. Every key is a
random Ed25519 seed of its own: no key is derived from, or doubles as, another.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.encoding import b64u_decode, b64u_encode
from crypto.keys import ed25519_public_jwk, generate_signing_seed, jwk_kid, signing_public_key

__all__ = ["AT_REST", "PURPOSES", "SIGNING_PURPOSES", "KeyRing", "RingKey"]

SIGNING_PURPOSES = ("receipts", "webhooks")
AT_REST = "at_rest"
PURPOSES = (*SIGNING_PURPOSES, AT_REST)
_FORMAT = "safe-referral-gateway/key-ring/v1"


@dataclass(frozen=True)
class RingKey:
    purpose: str
    seed: bytes = field(repr=False)

    @property
    def kid(self) -> str:
        return jwk_kid(signing_public_key(self.seed))

    @property
    def public_key(self) -> bytes:
        return signing_public_key(self.seed)

    def jwk(self) -> dict[str, Any]:
        return {**ed25519_public_jwk(self.public_key), "use": "sig", "key_ops": ["verify"], "purpose": self.purpose}


class KeyRing:
    def __init__(self, keys: dict[str, list[RingKey]], path: Path | None = None) -> None:
        missing = [p for p in SIGNING_PURPOSES if not keys.get(p)]
        if missing:
            raise ValueError(f"the key ring has no key for {', '.join(missing)}")
        self.keys = keys
        self.path = path
        self.upgraded = not keys.get(AT_REST)
        """A ring written before the at-rest key existed gets one (saved by :meth:`load`)."""
        if self.upgraded:
            self.keys[AT_REST] = [RingKey(AT_REST, generate_signing_seed())]

    @classmethod
    def generate(cls, path: Path | None = None) -> KeyRing:
        return cls({p: [RingKey(p, generate_signing_seed())] for p in PURPOSES}, path)

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        data: dict[str, Any] = json.loads(path.read_text())
        if data.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a key ring")
        keys = {purpose: [RingKey(purpose, b64u_decode(s)) for s in seeds] for purpose, seeds in data["keys"].items()}
        ring = cls(keys, path)
        if ring.upgraded:
            ring.save()
        return ring

    @classmethod
    def load_or_create(cls, path: Path, *, create: bool) -> KeyRing:
        if path.exists():
            return cls.load(path)
        if not create:
            raise FileNotFoundError(path)
        ring = cls.generate(path)
        ring.save()
        return ring

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"format": _FORMAT,
                    "keys": {p: [b64u_encode(k.seed) for k in keys] for p, keys in self.keys.items()}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def current(self, purpose: str) -> RingKey:
        return self.keys[purpose][0]

    def rotate(self, purpose: str) -> RingKey:
        """A new key for ``purpose`` in front; the older ones stay to verify what they signed."""
        key = RingKey(purpose, generate_signing_seed())
        self.keys[purpose] = [key, *self.keys[purpose]]
        self.save()
        return key

    def find(self, purpose: str, kid: str) -> RingKey | None:
        """The key of ``purpose`` with id ``kid``, current or older (None if the ring does not hold it)."""
        return next((k for k in self.keys.get(purpose, []) if k.kid == kid), None)

    def jwks(self) -> list[dict[str, Any]]:
        """The signing keys' public halves (the at-rest key is a secret and never published)."""
        return [k.jwk() for purpose in SIGNING_PURPOSES for k in self.keys[purpose]]
