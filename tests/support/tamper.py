"""Play the attacker with direct database access: on SQLite, drop the append-only triggers first.

Whoever holds the SQLite file can drop a trigger; on PostgreSQL the tests connect as the
tables' owner, who keeps every right (only the gateway's own role is restricted). Tests that
tamper with the log on purpose to show it is detected go through :func:`tampering`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from gateway.audit import guard


@contextmanager
def tampering(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            guard.drop_sqlite_guards(conn)
        try:
            yield conn
        finally:
            if conn.dialect.name == "sqlite":
                guard.install_sqlite_guards(conn)


@contextmanager
def unguarded(engine: Engine) -> Iterator[None]:
    """SQLite's append-only triggers dropped for the block (ORM sessions inside may rewrite rows)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with engine.begin() as conn:
        guard.drop_sqlite_guards(conn)
    try:
        yield
    finally:
        with engine.begin() as conn:
            guard.install_sqlite_guards(conn)
