"""Everything a request needs, built once in ``create_app`` and injected (never import-time globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from consent.clock import Clock
from crypto.at_rest import derive_key
from crypto.note import Verifier
from crypto.passwords import SecretHasher

from .at_rest import AtRest
from .audit.notes import NoteSigner, parse_witnesses
from .auth.tokens import TokenAuthority
from .keyring import AT_REST, KeyRing
from .settings import Settings

if TYPE_CHECKING:
    from .policy.engine import PolicyEngine


@dataclass
class GatewayContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    signing_seed: bytes = field(repr=False)
    tokens: TokenAuthority
    policy: PolicyEngine | None = None
    checkpoint_seed: bytes | None = field(default=None, repr=False)
    keyring: KeyRing | None = field(default=None, repr=False)
    """Receipts and webhook keys (:mod:`gateway.keyring`); None only in contexts built without one."""
    """Signs checkpoint notes only (a key of its own, not the token-signing key)."""
    extras: dict[str, Any] = field(default_factory=dict)
    hasher: SecretHasher | None = field(default=None, repr=False)
    """The Argon2id hasher of passwords, access codes and PINs (:meth:`secret_hasher`); None until first use.
    Tests may put a counting subclass here to count the work of a sign-in (tests/support/work_counter.py)."""

    def secret_hasher(self) -> SecretHasher:
        """The one hasher, at the settings' Argon2id cost, built on first use."""
        if self.hasher is None:
            self.hasher = SecretHasher(time_cost=self.settings.argon2_time_cost,
                                       memory_cost=self.settings.argon2_memory_kib)
        return self.hasher

    def note_signer(self) -> NoteSigner | None:
        """The checkpoint key with the log's origin, or None if the context was built without one."""
        if self.checkpoint_seed is None:
            return None
        return NoteSigner(origin=self.settings.log_origin, seed=self.checkpoint_seed)

    def witnesses(self) -> list[Verifier]:
        """The witnesses whose cosignatures the gateway keeps (settings plus ``<data_dir>/witnesses.txt``)."""
        return parse_witnesses(self.settings.witnesses, self.settings.witnesses_path)

    def purpose_seed(self, purpose: str) -> tuple[bytes, str]:
        """The current key for ``purpose`` (``receipts``, ``webhooks``) and its kid."""
        if self.keyring is None:
            raise RuntimeError("this context has no key ring")
        key = self.keyring.current(purpose)
        return key.seed, key.kid

    def at_rest(self) -> AtRest:
        """Seal and open stored free text with the key ring's at-rest key (rotates; rows name their key)."""
        if self.keyring is None:
            raise RuntimeError("this context has no key ring")
        return AtRest(self.keyring, legacy_seed=self.signing_seed)

    def at_rest_key(self, label: str) -> bytes:
        """A stable secret key for one use (``label``, e.g. the statistics pseudonyms), derived from the
        key ring's *first* at-rest key: it does not change when the at-rest key rotates (pseudonyms
        must stay the same), and it is not derived from the token-signing seed."""
        if self.keyring is None:
            raise RuntimeError("this context has no key ring")
        return derive_key(self.keyring.keys[AT_REST][-1].seed, label)
