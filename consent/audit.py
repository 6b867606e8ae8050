"""How the consent package writes audit entries without importing the gateway.

The gateway owns the audit log (``gateway.audit.log``); imports flow gateway -> consent, so
consent declares the small :class:`AuditSink` it needs and the gateway passes an
implementation in. Every call happens inside the caller's transaction, so an effect and its
audit entry commit or roll back together.

Never put a payload value or personal data in any argument: ids, codes and counts only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from .vocabulary import ActorKind


class AuditAction(StrEnum):
    """Actions written by the consent package; each value is also a ``gateway.audit.tags.AuditTag``."""

    SUBJECT_CREATE = "subject:record:create"
    SUBJECT_REFUSE = "subject:record:refuse"
    SUBJECT_ATTRIBUTE_CHANGE = "subject:attribute:change"
    SUBJECT_MANDATED_NOTICE = "subject:mandated_reporter_notice:record"
    CONSENT_GRANT = "consent:record:grant"
    CONSENT_SUPERSEDE = "consent:record:supersede"
    CONSENT_WITHDRAW = "consent:record:withdraw"
    CONSENT_EXPIRE = "consent:record:expire"
    CONSENT_REFUSE = "consent:record:refuse"
    PORTAL_ACCESS_ISSUE = "portal:access_code:issue"
    PORTAL_ACCESS_ROTATE = "portal:access_code:rotate"


@dataclass(frozen=True)
class Actor:
    """Who acted: an agency's staff member (opaque staff id), the person, or the gateway."""

    kind: ActorKind
    agency_id: str | None = None
    role: str | None = None
    user: str | None = None

    @staticmethod
    def system() -> Actor:
        """The gateway itself (e.g. observing an expiry)."""
        return Actor(kind=ActorKind.SYSTEM, role="system")

    @staticmethod
    def person() -> Actor:
        """The person, acting through the portal."""
        return Actor(kind=ActorKind.PERSON, role="person")


class AuditSink(Protocol):
    """Appends one audit entry in the caller's session (never commits)."""

    def record(
        self,
        session: Session,
        *,
        action: AuditAction,
        decision: str,
        reason: str | None,
        subject_id: str | None,
        purpose: str | None,
        recipient_agency_id: str | None,
        classes: Sequence[str],
        basis: Mapping[str, Any],
        details: Mapping[str, Any],
        actor: Actor,
    ) -> None: ...


class MemoryAuditSink:
    """A sink that keeps entries in a list: the shipped double for tests and tools."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def record(
        self,
        session: Session,
        *,
        action: AuditAction,
        decision: str,
        reason: str | None,
        subject_id: str | None,
        purpose: str | None,
        recipient_agency_id: str | None,
        classes: Sequence[str],
        basis: Mapping[str, Any],
        details: Mapping[str, Any],
        actor: Actor,
    ) -> None:
        self.entries.append({
            "action": str(action), "decision": decision, "reason": reason, "subject_id": subject_id,
            "purpose": purpose, "recipient_agency_id": recipient_agency_id, "classes": list(classes),
            "basis": dict(basis), "details": dict(details), "actor": actor,
        })


def record_refusal(
    sessions: sessionmaker[Session],
    sink: AuditSink,
    *,
    action: AuditAction,
    reasons: Sequence[str],
    actor: Actor,
    subject_id: str | None = None,
    purpose: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Audit a refused request in a transaction of its own; nothing else is stored.

    A refusal rolls back the work it refused, so its audit entry cannot share that
    transaction (the same rule as ``gateway.audit.log.record_refusal``).
    """
    with sessions() as session, session.begin():
        sink.record(
            session, action=action, decision="deny", reason=reasons[0] if reasons else None,
            subject_id=subject_id, purpose=purpose, recipient_agency_id=None, classes=(), basis={},
            details={"failures": list(reasons), **(details or {})}, actor=actor,
        )
