"""Sign-in throttling with exponential back-off (ASVS 6.3.1, NIST SP 800-63B §5.2.2).

Failures are counted per key: the submitted user name (hashed, whether or not such an
account exists, so the answer never tells) and the client address. After ``free``
consecutive failures each further one blocks the key for twice as long as the last, up
to ``max_delay_s``. There is no permanent lock-out: a victim's adversary must not be able
to shut them out for good. A success clears the user-name key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from consent.clock import Clock

from .models import LoginThrottle

__all__ = ["Throttle", "ThrottleKey"]


@dataclass(frozen=True)
class ThrottleKey:
    kind: str
    """``user`` or ``address``."""
    value: str
    free: int
    """Failures allowed before any delay."""

    def digest(self, realm: str) -> str:
        return hashlib.sha256(f"{realm}\x00{self.kind}\x00{self.value}".encode()).hexdigest()


class Throttle:
    def __init__(self, realm: str, clock: Clock, *, max_delay_s: int = 900) -> None:
        self.realm = realm
        self.clock = clock
        self.max_delay_s = max_delay_s

    def retry_after(self, session: Session, keys: list[ThrottleKey]) -> int:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock.now()
        wait = 0
        for key in keys:
            row = session.get(LoginThrottle, key.digest(self.realm))
            if row is not None and row.blocked_until is not None and row.blocked_until > now:
                wait = max(wait, int((row.blocked_until - now).total_seconds()) + 1)
        return wait

    def failure(self, session: Session, keys: list[ThrottleKey]) -> None:
        now = self.clock.now()
        for key in keys:
            digest = key.digest(self.realm)
            row = session.get(LoginThrottle, digest)
            if row is None:
                row = LoginThrottle(key=digest, failures=0, last_failure_at=now, blocked_until=None)
                session.add(row)
            row.failures += 1
            row.last_failure_at = now
            over = row.failures - key.free
            if over > 0:
                row.blocked_until = now + timedelta(seconds=min(self.max_delay_s, 2 ** (over - 1)))
        session.flush()

    def success(self, session: Session, keys: list[ThrottleKey]) -> None:
        for key in keys:
            row = session.get(LoginThrottle, key.digest(self.realm))
            if row is not None:
                session.delete(row)
        session.flush()
