"""The person's portal access code: shown once, stored only as an Argon2id hash.

A code is four groups of four symbols from :data:`crypto.passwords.CODE_ALPHABET`, e.g.
``K7QM-4TZX-9HCP-WN3R``. The first group is a public *locator* (unique; it finds the row
without a scan of hashes), the other three are the secret (~59 bits), of which only an
Argon2id hash is kept. One code per subject: later cards tell the person to keep using it,
unless the advocate asks to reissue, which replaces both the locator and the secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crypto.passwords import SecretHasher, normalise_code, random_code

from .audit import Actor, AuditAction, AuditSink
from .errors import ConflictError
from .orm import Base

__all__ = ["CODE_GROUPS", "IssuedCode", "PortalAccess", "ensure_access_code", "split_code", "verify_access_code"]

CODE_GROUPS = 4
GROUP_LEN = 4
_LOCATOR_ATTEMPTS = 20


class PortalAccess(Base):
    """The subject's one access code: a public locator and an Argon2id hash of the secret."""

    __tablename__ = "portal_access"

    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    locator: Mapped[str] = mapped_column(String(GROUP_LEN), unique=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]


@dataclass(frozen=True)
class IssuedCode:
    """``code`` is set only when a code was just issued or reissued: show it once, never store it."""

    status: str
    """issued | reissued | existing"""
    locator: str
    code: str | None = None


def split_code(code: str) -> tuple[str, str]:
    """(locator, secret) of a typed code; ValueError when it is not shaped like one."""
    normal = normalise_code(code, GROUP_LEN)
    groups = normal.split("-")
    if len(groups) != CODE_GROUPS or any(len(g) != GROUP_LEN for g in groups):
        raise ValueError("an access code has four groups of four symbols")
    return groups[0], "-".join(groups[1:])


def _fresh_code(session: Session) -> tuple[str, str, str]:
    for _ in range(_LOCATOR_ATTEMPTS):
        code = random_code(CODE_GROUPS, GROUP_LEN)
        locator, secret = split_code(code)
        if session.scalar(select(PortalAccess.subject_id).where(PortalAccess.locator == locator)) is None:
            return code, locator, secret
    raise ConflictError("access_code_unavailable", "No free access-code locator was found; try again.")


def ensure_access_code(
    session: Session,
    subject_id: str,
    *,
    hasher: SecretHasher,
    now: datetime,
    reissue: bool,
    audit: AuditSink,
    actor: Actor,
) -> IssuedCode:
    """Issue the subject's first code, or rotate it when ``reissue``; otherwise keep the existing one."""
    existing = session.get(PortalAccess, subject_id)
    if existing is not None and not reissue:
        return IssuedCode(status="existing", locator=existing.locator)
    code, locator, secret = _fresh_code(session)
    if existing is None:
        session.add(PortalAccess(subject_id=subject_id, locator=locator, code_hash=hasher.hash(secret),
                                 created_at=now, rotated_at=None))
        status, action = "issued", AuditAction.PORTAL_ACCESS_ISSUE
    else:
        existing.locator = locator
        existing.code_hash = hasher.hash(secret)
        existing.rotated_at = now
        status, action = "reissued", AuditAction.PORTAL_ACCESS_ROTATE
    session.flush()
    audit.record(session, action=action, decision="info", reason=None, subject_id=subject_id, purpose=None,
                 recipient_agency_id=None, classes=(), basis={}, details={}, actor=actor)
    return IssuedCode(status=status, locator=locator, code=code)


def verify_access_code(session: Session, code: str, *, hasher: SecretHasher) -> str | None:
    """The subject id the code opens, or None (a malformed, unknown or wrong code alike)."""
    try:
        locator, secret = split_code(code)
    except ValueError:
        return None
    row = session.scalar(select(PortalAccess).where(PortalAccess.locator == locator))
    if row is None:
        # Spend comparable time so that a wrong locator is not distinguishable by timing.
        hasher.hash(secret)
        return None
    return row.subject_id if hasher.verify(row.code_hash, secret) else None
