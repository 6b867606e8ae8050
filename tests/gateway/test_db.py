"""Transactions: SQLite writers take the write lock up front and queue in-process; readers do not lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gateway import db


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter (id, n) VALUES (1, 0)"))
    yield engine
    engine.dispose()


def _count(engine: Engine) -> int:
    with db.read_connection(engine) as conn:
        return int(conn.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one())


def _queue_is_held(engine: Engine) -> bool:
    """Whether some transaction holds this engine's in-process SQLite writer queue."""
    raw = engine.raw_connection()
    try:
        queue = raw.dbapi_connection.writer_queue  # type: ignore[union-attr]
        return bool(queue._lock.locked())
    finally:
        raw.close()


def test_durable_pragmas(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_reader_neither_waits_for_a_writer_nor_sees_its_uncommitted_rows(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as writer:
        writer.begin()  # BEGIN IMMEDIATE: the write lock, held until commit
        writer.execute(text("UPDATE counter SET n = 41 WHERE id = 1"))
        # Had either read asked for the write lock the writer holds (in this very thread), it could
        # only fail: the queue's wait and then SQLite's busy timeout would end in "database is locked".
        assert _count(sqlite_engine) == 0
        sessions = db.make_sessionmaker(sqlite_engine)
        with sessions() as session, db.read_transaction(session):
            assert session.execute(text("SELECT n FROM counter")).scalar_one() == 0
        assert _queue_is_held(sqlite_engine)  # by the writer alone
        writer.commit()
    assert not _queue_is_held(sqlite_engine)
    assert _count(sqlite_engine) == 41


def test_writers_take_turns_and_lose_no_update(sqlite_engine: Engine) -> None:
    """Read-then-write transactions from many threads: the write lock is taken at BEGIN, so none
    of them reads a value another is about to overwrite."""
    sessions = db.make_sessionmaker(sqlite_engine)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                with sessions() as session, session.begin():
                    n = session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
                    session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _count(sqlite_engine) == 150


def test_a_writer_waits_for_the_one_before_it(sqlite_engine: Engine) -> None:
    sessions = db.make_sessionmaker(sqlite_engine)
    order: list[str] = []
    first_holds = threading.Event()

    def second() -> None:
        first_holds.wait()
        with sessions() as session, session.begin():
            session.execute(text("UPDATE counter SET n = n * 10 WHERE id = 1"))  # BEGIN IMMEDIATE waits
            order.append("second wrote")

    t = threading.Thread(target=second)
    t.start()
    with sessions() as session, session.begin():
        session.execute(text("UPDATE counter SET n = 1 WHERE id = 1"))
        first_holds.set()
        time.sleep(0.2)
        order.append("first commits")
    t.join(5)
    assert order == ["first commits", "second wrote"]
    assert _count(sqlite_engine) == 10


@pytest.mark.parametrize("ending", ["rollback", "error", "close"])
def test_the_queue_is_left_however_a_transaction_ends(sqlite_engine: Engine, ending: str) -> None:
    sessions = db.make_sessionmaker(sqlite_engine)
    if ending == "rollback":
        with sqlite_engine.connect() as conn:
            conn.begin()
            conn.execute(text("UPDATE counter SET n = 5 WHERE id = 1"))
            conn.rollback()
    elif ending == "error":
        with pytest.raises(RuntimeError), sessions() as session, session.begin():
            session.execute(text("UPDATE counter SET n = 5 WHERE id = 1"))
            raise RuntimeError("refused")
    else:
        conn = sqlite_engine.connect()
        conn.begin()
        conn.execute(text("UPDATE counter SET n = 5 WHERE id = 1"))
        conn.close()  # returned to the pool mid-transaction: rolled back
    assert not _queue_is_held(sqlite_engine)  # the next writer does not wait for the queue's timeout
    with sessions() as session, session.begin():
        session.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
    assert _count(sqlite_engine) == 1


def test_read_transaction_reads_committed_rows_on_both_backends(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        with db.read_connection(engine) as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        with db.make_sessionmaker(engine)() as session:
            with db.read_transaction(session):
                assert session.execute(text("SELECT 2")).scalar_one() == 2
            assert not session.in_transaction()
        assert db.ping(engine)
    finally:
        engine.dispose()


def test_a_failing_statement_never_carries_its_bound_values(db_url: str) -> None:
    """The engine hides bound parameters: an error (and the 500's log line) names no value."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from gateway.db import make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            try:
                conn.execute(text("SELECT :v FROM no_such_table"), {"v": "Amina, 12 Canal Street"})
            except DBAPIError as exc:
                assert "Amina" not in str(exc)
                assert "parameters hidden" in str(exc)
            else:
                raise AssertionError("the statement should have failed")
    finally:
        engine.dispose()
