"""Database engine and session factories for SQLite (embedded) and PostgreSQL (production).

Transactions on SQLite start with ``BEGIN IMMEDIATE`` (the write lock up front, as PostgreSQL
row locks would serialise writers), except those opened with :func:`read_transaction` or
:func:`read_connection`: those only read, so they start a deferred ``BEGIN`` and see one
snapshot (WAL readers neither wait for writers nor block them).

Writers in this process queue on a lock of the engine's before they ask SQLite for its write
lock: SQLite's own busy handler polls with sleeps of 1 to 100 ms, so under load a writer
would sleep on after the lock came free. The lock only orders writers of this process;
SQLite's lock stays the one that protects the data (another process still waits in the busy
handler, and a writer that could not take the queue's lock in time goes to SQLite anyway).

PostgreSQL gets the same discipline, cluster-wide: every transaction that may write (any not
opened with :func:`read_transaction` / :func:`read_connection`) takes the audit log's append
lock (a transaction-scoped advisory lock, :data:`APPEND_LOCK_ID`) as its first statement, so
writers on every replica run one at a time, as on SQLite, and each reads, after the lock, what
every earlier writer committed (READ COMMITTED takes a new snapshot per statement). That is what
makes a committed consent withdrawal win over a concurrent submit (CR14), keeps inbox, acknowledge
and purge from acting twice on one envelope, lets an idempotent retry find its first attempt's
record, and rules out deadlocks between writers: no writer holds a row lock while it waits for
the append lock. Readers take no lock and never wait. The engine never logs bound parameters
(``hide_parameters``): a failing statement's values would otherwise reach the logs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

APPEND_LOCK_ID = 0x5AFE_0A0D
"""The advisory lock that serialises writers (and audit appends) on PostgreSQL."""

READ_ONLY = "gateway_read_only"
"""Execution option of a connection whose transaction only reads (a deferred BEGIN on SQLite)."""

_BUSY_TIMEOUT_S = 30
_QUEUE_TIMEOUT_S = 5.0
"""How long a writer waits in this process's queue before it asks SQLite directly."""


class _WriterQueue:
    """Orders this process's SQLite writers; released when their transaction ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def enter(self) -> bool:
        return self._lock.acquire(timeout=_QUEUE_TIMEOUT_S)

    def leave(self) -> None:
        self._lock.release()


class _SQLiteConnection(sqlite3.Connection):
    """A pysqlite connection that gives its place in the writer queue back when its transaction ends."""

    writer_queue: _WriterQueue | None = None
    queued = False

    def _leave_queue(self) -> None:
        if self.queued:
            self.queued = False
            if self.writer_queue is not None:
                self.writer_queue.leave()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._leave_queue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave_queue()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leave_queue()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with durable settings for the backend named by ``url``."""
    if url.startswith("sqlite"):
        queue = _WriterQueue()
        engine = create_engine(url, echo=echo, hide_parameters=True, connect_args={
            "check_same_thread": False, "timeout": _BUSY_TIMEOUT_S, "factory": _SQLiteConnection})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL + FULL: a committed envelope or audit entry survives a crash (see the
            # reliability notes); foreign keys are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
            cur.close()
            if isinstance(dbapi_conn, _SQLiteConnection):
                dbapi_conn.writer_queue = queue

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                # A reader: one consistent snapshot from its first read, no write lock.
                conn.exec_driver_sql("BEGIN")
                return
            # pysqlite's deferred BEGIN lets two writers interleave read-then-write; an
            # IMMEDIATE transaction takes the write lock up front, as PostgreSQL row locks would.
            raw = conn.connection.dbapi_connection
            writer = raw if isinstance(raw, _SQLiteConnection) and not raw.queued else None
            if writer is not None and queue.enter():
                writer.queued = True
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if writer is not None:
                    writer._leave_queue()
                raise

        @event.listens_for(engine, "connect")
        def _sqlite_no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    engine = create_engine(url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=10,
                           max_overflow=10)

    @event.listens_for(engine, "begin")
    def _postgres_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get(READ_ONLY):
            # A writer: the append lock first, before any row is read for writing or written. The
            # wait is bounded (as SQLite's busy timeout bounds it): a writer stuck behind a transaction
            # that never ends fails after _BUSY_TIMEOUT_S instead of queueing forever.
            conn.exec_driver_sql(f"SELECT set_config('lock_timeout', '{_BUSY_TIMEOUT_S}s', true), "
                                 f"pg_advisory_xact_lock({APPEND_LOCK_ID})")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query."""
    try:
        with read_connection(engine) as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def read_transaction(session: Session) -> Iterator[Session]:
    """A transaction that only reads: on SQLite a deferred BEGIN (a snapshot, no write lock).

    Never write in it: SQLite would have to upgrade the snapshot to a write lock, which fails
    when another writer committed in between. Writers use ``session.begin()``.
    """
    with session.begin():
        session.connection(execution_options={READ_ONLY: True})
        yield session


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection for reads only (see :func:`read_transaction`); rolled back on exit."""
    with engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        yield conn
