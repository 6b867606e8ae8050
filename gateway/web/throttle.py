"""Sign-in throttling as NIST SP 800-63B rev 4 §3.2.2 describes it: decaying counters, back-off,
and no lock that only someone else can lift.

Each key (a hashed principal or client address, never stored as typed) holds a count that
*leaks*: one unit is forgiven every ``decay_s`` seconds since the last one counted, so an
account left alone recovers by itself. Past ``free`` units a key waits:

- ``exponential`` keys (failed sign-ins of one account) wait twice as long for each further
  failure, up to ``max_delay_s``: at most ``86400 / max_delay_s`` guesses a day however long the
  attack runs, and the rightful user only ever waits, never needs an administrator;
- ``refill`` keys (a client's budget of expensive hash work) wait until one unit leaked out.

What each key counts is the caller's choice; :mod:`gateway.portal.auth` counts against an
access code only the attempts that presented the code's correct secret, so the public locator
alone cannot slow anyone down. :meth:`Throttle.purge` deletes rows that have leaked empty.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete
from sqlalchemy.orm import Session

from consent.clock import Clock

from .models import LoginThrottle

__all__ = ["Throttle", "ThrottleKey"]


@dataclass(frozen=True)
class ThrottleKey:
    kind: str
    """``user``, ``code``, ``work`` ... (part of the hashed key)."""
    value: str
    free: int
    """Units allowed before any wait."""
    decay_s: int = 3600
    """One unit is forgiven per this many seconds."""
    backoff: Literal["exponential", "refill"] = "exponential"
    max_delay_s: int = 900

    def digest(self, realm: str) -> str:
        return hashlib.sha256(f"{realm}\x00{self.kind}\x00{self.value}".encode()).hexdigest()


def _leaked(row: LoginThrottle, key: ThrottleKey, now: datetime) -> tuple[int, datetime]:
    """(count after the leak, the time the leak is accounted to) — the remainder keeps leaking."""
    elapsed = (now - row.last_failure_at).total_seconds()
    if elapsed <= 0 or key.decay_s <= 0:
        return row.failures, row.last_failure_at
    steps = int(elapsed // key.decay_s)
    if steps >= row.failures:
        return 0, now
    return row.failures - steps, row.last_failure_at + timedelta(seconds=steps * key.decay_s)


class Throttle:
    def __init__(self, realm: str, clock: Clock) -> None:
        self.realm = realm
        self.clock = clock

    def retry_after(self, session: Session, keys: list[ThrottleKey]) -> int:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock.now()
        wait = 0
        for key in keys:
            row = session.get(LoginThrottle, key.digest(self.realm))
            if row is not None and row.blocked_until is not None and row.blocked_until > now:
                wait = max(wait, int((row.blocked_until - now).total_seconds()) + 1)
        return wait

    def count(self, session: Session, key: ThrottleKey) -> int:
        """The key's count now, after the leak."""
        row = session.get(LoginThrottle, key.digest(self.realm))
        return 0 if row is None else _leaked(row, key, self.clock.now())[0]

    def failure(self, session: Session, keys: list[ThrottleKey]) -> list[int]:
        """Count one unit against each key; returns each key's count after it."""
        now = self.clock.now()
        counts = []
        for key in keys:
            digest = key.digest(self.realm)
            row = session.get(LoginThrottle, digest)
            if row is None:
                row = LoginThrottle(key=digest, failures=0, last_failure_at=now, blocked_until=None)
                session.add(row)
            failures, since = _leaked(row, key, now)
            row.failures = failures + 1
            row.last_failure_at = since if failures else now
            over = row.failures - key.free
            if over > 0:
                delay = (min(key.max_delay_s, 2 ** min(over - 1, 30)) if key.backoff == "exponential"
                         else key.decay_s)
                row.blocked_until = now + timedelta(seconds=delay)
            counts.append(row.failures)
        session.flush()
        return counts

    def success(self, session: Session, keys: list[ThrottleKey]) -> None:
        for key in keys:
            row = session.get(LoginThrottle, key.digest(self.realm))
            if row is not None:
                session.delete(row)
        session.flush()

    @staticmethod
    def purge(session: Session, now: datetime, *, older_than_s: int) -> int:
        """Delete every realm's rows idle for ``older_than_s`` and no longer blocking (they have leaked
        empty when ``older_than_s`` is at least the largest ``free * decay_s`` in use)."""
        cutoff = now - timedelta(seconds=older_than_s)
        result = session.execute(delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < cutoff,
            (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until < now)))
        return int(getattr(result, "rowcount", 0) or 0)
