"""Everything a request needs, built once in ``create_app`` and injected (never import-time globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from consent.clock import Clock
from crypto.at_rest import derive_key

from .auth.tokens import TokenAuthority
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
    extras: dict[str, Any] = field(default_factory=dict)

    def at_rest_key(self, label: str) -> bytes:
        """The key that encrypts one kind of stored free text (``crypto.at_rest``)."""
        return derive_key(self.signing_seed, label)
