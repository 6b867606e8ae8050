"""Audit entries name a subject by its keyed pseudonym (gateway.audit.subject_keys): tests read it back."""

from __future__ import annotations

from gateway.audit import subject_keys
from gateway.context import GatewayContext


def subject_of(ctx: GatewayContext, stored: str | None) -> str | None:
    """The subject id behind an entry's ``subject_id`` column (None: no subject, or an erased one)."""
    if stored is None:
        return None
    with ctx.sessions() as session:
        return subject_keys.resolve(session, [stored])[stored]


def pseudonym_of(ctx: GatewayContext, subject_id: str) -> str | None:
    """What entries about ``subject_id`` carry, while its key exists."""
    with ctx.sessions() as session:
        row = session.get(subject_keys.SubjectKey, subject_id)
        return None if row is None else row.pseudonym
