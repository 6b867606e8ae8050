"""The person's portal access code: shown once, stored only as an Argon2id hash.

A code is four groups of four symbols from :data:`crypto.passwords.CODE_ALPHABET`, e.g.
``K7QM-4TZX-9HCP-WN3R``. The first group is a public *locator* (unique; it finds the row
without a scan of hashes), the other three are the secret (~59 bits), of which only an
Argon2id hash is kept. One code per subject: later cards tell the person to keep using it,
unless the advocate asks to reissue, which replaces both the locator and the secret.

Signing in to the portal takes the code *and* a PIN the person chose with their advocate
(six to twelve digits, stored as an Argon2id hash; a four- or five-digit PIN set before the
six-digit rule keeps working until the advocate sets a new one with the person, and the
status says so). An optional *duress PIN* opens a decoy session and silently alerts the
advocate. Failed PINs presented with the correct code are counted on the row for the
advocate to see; nothing here locks the code (the gateway's throttle only slows guessing).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from crypto.passwords import SecretHasher, normalise_code, random_code

from .audit import Actor, AuditAction, AuditSink
from .errors import ConflictError
from .orm import Base

__all__ = [
    "CODE_GROUPS",
    "LEGACY_PIN_MIN",
    "PIN_MAX",
    "PIN_MIN",
    "IssuedCode",
    "PortalAccess",
    "SignInMatch",
    "code_secret_matches",
    "ensure_access_code",
    "find_by_code",
    "lift_lockout",
    "match_pins",
    "pin_problems",
    "record_sign_in_failure",
    "record_sign_in_success",
    "set_pins",
    "split_code",
    "verify_access_code",
]

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
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    """Argon2id hash of the PIN chosen with the advocate; no sign-in is possible without one."""
    duress_pin_hash: Mapped[str | None] = mapped_column(String(255))
    """Argon2id hash of the optional duress PIN (opens an empty-looking account, alerts the advocate)."""
    pin_set_at: Mapped[datetime | None]
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    """Consecutive failed sign-ins with this code since the last success or unlock."""
    last_failure_at: Mapped[datetime | None]
    locked_at: Mapped[datetime | None]
    """No longer set (a lock a card-holder could trigger and only the advocate lift was a way to shut
    the person out); migration 0008 cleared it and sign-in ignores it. Kept for :func:`lift_lockout`."""

    @property
    def pin_needs_change(self) -> bool:
        """A PIN shorter than :data:`PIN_MIN` (set before the rule): change it at the next visit."""
        return self.pin_hash is not None and (self.pin_length or 0) < PIN_MIN

    pin_length: Mapped[int | None]
    """Digits in the PIN (not the PIN): so the advocate knows a short legacy PIN must be changed."""


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


# ---------------------------------------------------------------- PINs, sign-in, lockout

PIN_MIN = 6
"""NIST SP 800-63B rev 4 §3.1.1: a memorised secret checked by the verifier, with throttling."""
LEGACY_PIN_MIN = 4
"""The length PINs set before the six-digit rule may have; they still open the account."""
PIN_MAX = 12


def pin_problems(pin: str) -> list[str]:
    """Why ``pin`` is not acceptable (empty list: it is). Digits only, 6-12 of them, and not
    one repeated digit or a run like 123456 / 987654 (the first guesses of anyone)."""
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit():
        return ["pin_digits_only"]
    if not PIN_MIN <= len(pin) <= PIN_MAX:
        return ["pin_length"]
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if steps in ({0}, {1}, {9}):
        return ["pin_too_simple"]
    return []


def set_pins(
    session: Session, subject_id: str, *, pin: str, duress_pin: str | None, hasher: SecretHasher, now: datetime
) -> PortalAccess:
    """Store (replace) the PIN and the optional duress PIN as Argon2id hashes.

    Raises ValueError with a reason code when a PIN is unacceptable or both are the same, and
    LookupError when the subject has no access code yet (it is issued with the first consent).
    Setting PINs with the person present also clears the failure count and any lock.
    """
    problems = pin_problems(pin) + (pin_problems(duress_pin) if duress_pin is not None else [])
    if problems:
        raise ValueError(problems[0])
    if duress_pin is not None and duress_pin == pin:
        raise ValueError("duress_pin_same_as_pin")
    row = session.get(PortalAccess, subject_id, with_for_update=True)
    if row is None:
        raise LookupError("no_access_code")
    row.pin_hash = hasher.hash(pin)
    row.pin_length = len(pin)
    row.duress_pin_hash = hasher.hash(duress_pin) if duress_pin is not None else None
    row.pin_set_at = now
    row.failed_attempts = 0
    row.locked_at = None
    session.flush()
    return row


def lift_lockout(session: Session, subject_id: str) -> PortalAccess:
    """The advocate lifts a lock (and the failure count); LookupError without an access code."""
    row = session.get(PortalAccess, subject_id, with_for_update=True)
    if row is None:
        raise LookupError("no_access_code")
    row.failed_attempts = 0
    row.locked_at = None
    session.flush()
    return row


def find_by_code(session: Session, code: str) -> tuple[str | None, PortalAccess | None]:
    """(locator, row) for a typed code: (None, None) when it is not shaped like a code, and
    (locator, None) when no subject has that locator."""
    try:
        locator, _secret = split_code(code)
    except ValueError:
        return None, None
    return locator, session.scalar(select(PortalAccess).where(PortalAccess.locator == locator))


@dataclass(frozen=True)
class SignInMatch:
    """What a code + PIN opened: nothing, the account, or the duress (decoy) account."""

    subject_id: str | None
    duress: bool = False

    @property
    def ok(self) -> bool:
        return self.subject_id is not None


def code_secret_matches(code: str, code_hash: str | None, *, hasher: SecretHasher, dummy_hash: str) -> bool:
    """One Argon2id verification of the typed code's secret (``dummy_hash`` for a code nobody holds,
    so that costs the same). Run it outside any transaction."""
    try:
        _locator, secret = split_code(code)
    except ValueError:
        secret = "not-a-code"  # noqa: S105 - verified against a hash, never stored
    return hasher.verify(code_hash or dummy_hash, secret) and code_hash is not None


def match_pins(*, pin: str, pin_hash: str | None, duress_pin_hash: str | None, subject_id: str,
               hasher: SecretHasher, dummy_hash: str) -> SignInMatch:
    """Both PIN verifications, always (the answer never tells whether a duress PIN is set)."""
    pin_ok = hasher.verify(pin_hash or dummy_hash, pin) and pin_hash is not None
    duress_ok = hasher.verify(duress_pin_hash or dummy_hash, pin) and duress_pin_hash is not None
    if pin_ok:
        return SignInMatch(subject_id)
    if duress_ok:
        return SignInMatch(subject_id, duress=True)
    return SignInMatch(None)


def record_sign_in_failure(row: PortalAccess, *, now: datetime) -> None:
    """Count a failed PIN presented with the correct code (for the advocate's status page)."""
    row.failed_attempts = (row.failed_attempts or 0) + 1
    row.last_failure_at = now


def record_sign_in_success(row: PortalAccess) -> None:
    row.failed_attempts = 0
