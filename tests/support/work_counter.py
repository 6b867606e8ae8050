"""Count the work a request does, so that "every outcome costs the same" is asserted without a clock.

ASVS 6.3.8 asks that sign-in outcomes cannot be told apart by their duration. Timing them is
flaky on a busy machine; counting what dominates their duration is not: the Argon2id
verifications (and the cost parameters of each hash verified), and the SQL statements issued.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from crypto.passwords import SecretHasher


@dataclass
class Work:
    """What one request did: the cost parameters of every hash verified, and its SELECT statements."""

    verifications: list[str] = field(default_factory=list)
    selects: int = 0

    def signature(self) -> tuple[tuple[str, ...], int]:
        return tuple(self.verifications), self.selects


def _cost(stored: str) -> str:
    # "$argon2id$v=19$m=16384,t=2,p=1$salt$hash" -> "argon2id v=19 m=16384,t=2,p=1"
    parts = stored.split("$")
    assert len(parts) == 6 and parts[1] == "argon2id", f"not an Argon2id hash: {parts[:2]}"
    return " ".join(parts[1:4])


class WorkCounter:
    """Patches :meth:`SecretHasher.verify` and listens on an engine; :meth:`measure` records one request."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
        self._current: Work | None = None
        original = SecretHasher.verify

        def counting_verify(hasher: SecretHasher, stored: str, secret: str) -> bool:
            if self._current is not None:
                self._current.verifications.append(_cost(stored))
            return original(hasher, stored, secret)

        monkeypatch.setattr(SecretHasher, "verify", counting_verify)

        def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if self._current is not None and statement.lstrip().upper().startswith("SELECT"):
                self._current.selects += 1

        event.listen(engine, "before_cursor_execute", on_execute)
        self._engine = engine
        self._listener = on_execute

    @contextmanager
    def measure(self) -> Iterator[Work]:
        work = Work()
        self._current = work
        try:
            yield work
        finally:
            self._current = None

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._listener)
