"""Everything a request needs, built once in ``create_app`` and injected (never import-time globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from consent.clock import Clock

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
