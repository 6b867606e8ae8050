"""Count the work a request does, so that "every outcome costs the same" is asserted without a clock.

ASVS 6.3.8 asks that sign-in outcomes cannot be told apart by their duration. Timing them is
flaky on a busy machine; counting what dominates their duration is not: the Argon2id
verifications and hashes (with the cost parameters of each), and the SQL statements issued.

Two seams, no patching of production code: the gateway's one hasher is the context's
(:meth:`gateway.context.GatewayContext.secret_hasher`), so the counter puts a
:class:`CountingHasher` (a subclass that records, then does the real work) there; the
statements are counted by a SQLAlchemy ``before_cursor_execute`` listener on the engine.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from crypto.passwords import SecretHasher
from gateway.context import GatewayContext

AUDIT_APPEND = frozenset({"audit_entries", "audit_tree_nodes", "subject_keys", ""})
"""Tables an audit append reads ("": no table, PostgreSQL's advisory append lock): how many reads depends
on the log's size (the tree nodes a new leaf completes), not on the outcome; every outcome's appends are
counted as :attr:`Work.audit_entries`."""

_TABLE = re.compile(r"""^(?:SELECT\b.*?\bFROM|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)""",
                    re.IGNORECASE | re.DOTALL)


@dataclass
class Work:
    """What one request did: the cost parameters of every hash verified or made, and its statements."""

    verifications: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    selects: int = 0
    writes: int = 0
    reads: Counter[str] = field(default_factory=Counter)
    """SELECT statements by the table they read first."""
    audit_entries: int = 0

    def signature(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, int], ...], int]:
        """What must be equal between outcomes that may not be told apart: the Argon2id work, the reads
        (but an audit append's, see :data:`AUDIT_APPEND`) and the number of audit entries written."""
        reads = tuple(sorted((table, n) for table, n in self.reads.items() if table not in AUDIT_APPEND))
        return tuple(self.verifications), tuple(self.hashes), reads, self.audit_entries


def _cost(stored: str) -> str:
    # "$argon2id$v=19$m=16384,t=2,p=1$salt$hash" -> "argon2id v=19 m=16384,t=2,p=1"
    parts = stored.split("$")
    assert len(parts) == 6 and parts[1] == "argon2id", f"not an Argon2id hash: {parts[:2]}"
    return " ".join(parts[1:4])


class CountingHasher(SecretHasher):
    """The real Argon2id hasher at the same cost, recording each verification and hash into :attr:`work`."""

    def __init__(self, real: SecretHasher) -> None:
        super().__init__(time_cost=real.time_cost, memory_cost=real.memory_cost, parallelism=real.parallelism)
        self.work: Work | None = None

    def work_cost(self) -> str:
        """The cost parameters this hasher writes (and the gateway's own hashes carry), as :class:`Work` lists them."""
        return _cost(super().hash("cost probe"))

    def verify(self, stored: str, secret: str) -> bool:
        if self.work is not None:
            self.work.verifications.append(_cost(stored))
        return super().verify(stored, secret)

    def hash(self, secret: str) -> str:
        stored = super().hash(secret)
        if self.work is not None:
            self.work.hashes.append(_cost(stored))
        return stored


class WorkCounter:
    """Installs a :class:`CountingHasher` in ``ctx`` and listens on its engine; :meth:`measure` records one request."""

    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx = ctx
        self._real = ctx.secret_hasher()
        self.hasher = CountingHasher(self._real)
        ctx.hasher = self.hasher
        self._current: Work | None = None

        def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            work = self._current
            if work is None:
                return
            text = statement.lstrip()
            match = _TABLE.match(text)
            table = match.group(1).lower() if match else ""
            if text[:6].upper() == "SELECT":
                work.selects += 1
                work.reads[table] += 1
            elif match:
                work.writes += 1
                work.audit_entries += text[:6].upper() == "INSERT" and table == "audit_entries"

        event.listen(ctx.engine, "before_cursor_execute", on_execute)
        self._listener = on_execute

    @contextmanager
    def measure(self) -> Iterator[Work]:
        work = Work()
        self._current = self.hasher.work = work
        try:
            yield work
        finally:
            self._current = self.hasher.work = None

    def close(self) -> None:
        event.remove(self._ctx.engine, "before_cursor_execute", self._listener)
        self._ctx.hasher = self._real
