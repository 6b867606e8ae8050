"""Time-based one-time codes (RFC 6238, 30 s steps, 6 digits) that can be used only once.

A code is accepted for the current step or one step either side (clock drift). Once a
step has been accepted for a principal, that step and every earlier one are refused for
that principal: an observed code cannot be replayed, not even within its window
(RFC 6238 §5.2).
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import UsedOneTimeCode

__all__ = ["STEP_S", "matching_step", "spend_code", "verify_code"]

STEP_S = 30
_DUMMY_SECRET = pyotp.random_base32()


def matching_step(secret: str | None, code: str, at: datetime, *, window: int = 1) -> int | None:
    """The time step whose code equals ``code`` (within ±``window``), or None.

    With no secret (unknown account) the same work is done against a throwaway secret,
    so the answer takes as long either way.
    """
    totp = pyotp.TOTP(secret or _DUMMY_SECRET, interval=STEP_S)
    candidate = "".join(code.split())
    step_now = int(at.timestamp()) // STEP_S
    found = None
    for step in range(step_now - window, step_now + window + 1):
        expected = totp.generate_otp(step)
        # Compare every candidate, not just until the first match: constant work.
        if hmac.compare_digest(expected.encode(), candidate.encode()) and found is None:
            found = step
    return found if secret else None


def spend_code(session: Session, principal_id: str, step: int, at: datetime) -> bool:
    """Record ``step`` as used; False if it (or a later one) was already used: a replay."""
    last = session.scalar(select(func.max(UsedOneTimeCode.step)).where(UsedOneTimeCode.principal_id == principal_id))
    if last is not None and step <= last:
        return False
    try:
        # A savepoint: a concurrent sign-in that spent the same step makes this insert fail
        # on the primary key, which is a refusal, not an error.
        with session.begin_nested():
            # Only the latest step matters from now on.
            session.execute(delete(UsedOneTimeCode).where(UsedOneTimeCode.principal_id == principal_id,
                                                          UsedOneTimeCode.step < step))
            session.add(UsedOneTimeCode(principal_id=principal_id, step=step, used_at=at))
    except IntegrityError:
        return False
    return True


def verify_code(session: Session, principal_id: str | None, secret: str | None, code: str, at: datetime) -> bool:
    """Check and spend a code in one go (the caller's transaction)."""
    step = matching_step(secret, code, at)
    if step is None or principal_id is None:
        return False
    return spend_code(session, principal_id, step, at)
