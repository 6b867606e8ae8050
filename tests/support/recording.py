"""A policy engine that keeps each input it decides on (the context's real engine underneath, no
double), and the audit entries of one action: what the identity and linkage tests inspect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext


class Recording:
    """The context's own policy engine, keeping each input document it decides on."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name, self.version = engine.name, engine.version
        self.inputs: list[Mapping[str, Any]] = []

    def evaluate(self, doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
        self.inputs.append(doc)
        result: Mapping[str, Any] | None = self.engine.evaluate(doc)
        return result

    def ready(self) -> bool:
        return bool(self.engine.ready())

    def close(self) -> None:
        return None


def entries_of(ctx: GatewayContext, action: str) -> list[AuditEntry]:
    """The audit entries of ``action``, in log order."""
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))
