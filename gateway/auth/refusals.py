"""Refused token requests, counted in memory and audited in aggregate.

An unauthenticated caller can send refused token requests as fast as the network allows; one
audit entry each would let anyone write to the permanent log at will and flood the DPO's
denied-requests dashboard (300 entries in two seconds). Instead each refusal adds one to a
counter per reason, and the scheduled jobs (:mod:`gateway.scheduler`) write one entry per reason
per round (``auth:token:refuse`` with ``count`` and the window): at most a few entries a minute
per replica, whatever the rate. Counts not yet written when a process dies are lost; the
entry is a statistic, not evidence about any one request (none of those carries an identity).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag

__all__ = ["RefusalTally"]

_MAX_REASONS = 64


class RefusalTally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._since: datetime | None = None

    def add(self, reason: str, at: datetime) -> None:
        with self._lock:
            key = reason if reason in self._counts or len(self._counts) < _MAX_REASONS else "other"
            self._counts[key] += 1
            self._since = self._since or at

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def flush(self, sessions: sessionmaker[Session], at: datetime) -> int:
        """Write one aggregated entry per reason counted since the last flush; returns entries written."""
        with self._lock:
            counts, since = dict(self._counts), self._since
            self._counts.clear()
            self._since = None
        if not counts:
            return 0
        with sessions() as session, session.begin():
            for reason, count in sorted(counts.items()):
                record(session, AuditEvent(AuditTag.AUTH_TOKEN_REFUSE, decision="deny", reason=reason,
                                           details={"count": count, "since": since.isoformat() if since else None,
                                                    "aggregated": True}),
                       actor=Actor(role="unauthenticated"), at=at)
        return len(counts)
