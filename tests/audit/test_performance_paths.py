"""The fast paths of the audit log are exact and sound: SQLite's canonical text, one-pass
dashboard counts, a verification that reads a snapshot, and appends of few statements."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from crypto.canonical import canonical_json
from crypto.keys import signing_public_key
from gateway import db
from gateway.audit import checkpoints, leaves, search, tallies, tree
from gateway.audit.leaves import leaf_matches, select_entry_rows
from gateway.audit.log import Actor, AuditEvent, entry_document, record
from gateway.audit.models import AuditEntry
from gateway.audit.search import DASHBOARDS, EntryFilter
from gateway.audit.sqlite_leaves import LEAF_TEXT
from gateway.audit.tags import AuditTag
from gateway.audit.verify import VerificationReport, verify_database
from gateway.context import GatewayContext
from gateway.models import metadata
from tests.audit.conftest import WriteEntries
from tests.support.tamper import tampering

# --- SQLite writes the canonical text itself ------------------------------------------


@pytest.fixture(scope="module")
def sqlite_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(f"sqlite:///{tmp_path_factory.mktemp('leaf-text') / 'log.db'}")
    metadata.create_all(engine)
    yield db.make_sessionmaker(engine)
    engine.dispose()


def _sqlite_text(session: Session, seq: int) -> bytes | None:
    driver = session.connection().connection.driver_connection
    assert driver is not None
    row = driver.execute(f"SELECT {LEAF_TEXT} FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


texts = st.text(max_size=12)
optional_texts = st.none() | texts
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(strings=st.tuples(optional_texts, optional_texts, optional_texts, optional_texts, optional_texts,
                         optional_texts, optional_texts, optional_texts, optional_texts),
       action=texts, classes=st.lists(texts, max_size=3), basis=st.dictionaries(texts, json_values, max_size=3),
       details=st.dictionaries(texts, json_values, max_size=4), microsecond=st.sampled_from([0, 1, 999_999]))
def test_sqlite_writes_exactly_the_canonical_document_for_what_record_stores(
    sqlite_log: sessionmaker[Session], strings: tuple[str | None, ...], action: str, classes: list[str],
    basis: dict[str, Any], details: dict[str, Any], microsecond: int,
) -> None:
    from datetime import UTC, datetime

    agency, role, user, subject, purpose, recipient, policy, reason, request_id = strings
    event_ = AuditEvent(action, subject_id=subject, purpose=purpose, recipient_agency_id=recipient,  # type: ignore[arg-type]
                        classes_requested=tuple(classes), classes_released=tuple(classes[:1]), policy_version=policy,
                        basis=basis, details=details, reason=reason)
    with sqlite_log() as session, session.begin():
        try:
            entry = record(session, event_, actor=Actor(agency, role, user), request_id=request_id,
                           at=datetime(2026, 1, 2, 3, 4, 5, microsecond, tzinfo=UTC))
        except ValueError:
            return  # not representable (a lone surrogate): record() refuses it
        expected = b"\x00" + canonical_json(entry_document(entry))
        rendered = _sqlite_text(session, entry.seq)
        if any(not key.isascii() and max(key) >= "\ud800" for key in _keys(basis) | _keys(details)):
            # UTF-16 key order differs from code-point order here: SQLite's text is not
            # canonical, and the verifier takes the reference path for it.
            assert rendered is None or hashlib.sha256(rendered).hexdigest() != entry.leaf_hash or rendered == expected
        else:
            assert rendered == expected
        assert hashlib.sha256(expected).hexdigest() == entry.leaf_hash
        session.rollback()


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.parametrize(("column", "value"), [
    ("details", "{"), ("basis", '{"a":1} {"b":2}'), ("basis", '{"a":1}\x00{"b":2}'), ("details", "{a:1}"),
    ("classes_released", "['D1']"), ("at", "2026-01-01T00:00:00"), ("at", "2026-01-01 00:00:00"),
])
def test_the_sqlite_text_is_null_or_refused_for_what_it_cannot_vouch_for(
    sqlite_log: sessionmaker[Session], column: str, value: str
) -> None:
    import sqlite3
    from datetime import UTC, datetime

    with sqlite_log() as session, session.begin():
        entry = record(session, AuditEvent(AuditTag.POLICY_DECISION), actor=Actor(),
                       at=datetime(2026, 1, 1, tzinfo=UTC))
        session.execute(text(f"UPDATE audit_entries SET {column} = :v WHERE seq = :s"), {"v": value, "s": entry.seq})
        try:
            assert _sqlite_text(session, entry.seq) is None
        except sqlite3.OperationalError:
            assert column != "at"  # json() refusing a column that is not JSON (SQLite < 3.42)
        session.rollback()


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(st.sampled_from('{}[]",:01 -.eE\\/tfnrulaxb\x00\t\n'), max_size=14),
                 json_values.map(lambda v: __import__("json").dumps(v))))
def test_before_sqlite_3_42_json_refuses_exactly_what_json_valid_refuses(candidate: str) -> None:
    import sqlite3

    from gateway.audit.sqlite_leaves import JSON_REFUSES_INVALID

    if not JSON_REFUSES_INVALID:
        return  # json_valid is part of the expression there
    connection = sqlite3.connect(":memory:")
    (valid,) = connection.execute("SELECT json_valid(?)", (candidate,)).fetchone()
    try:
        connection.execute("SELECT json(?)", (candidate,)).fetchone()
        refused = False
    except sqlite3.OperationalError:
        refused = True
    assert refused == (not valid), candidate


# --- tampering the fast paths must still catch ------------------------------------------


def _verify(ctx: GatewayContext, **kwargs: Any) -> VerificationReport:
    with ctx.sessions() as session:
        return verify_database(session, signing_public_key(ctx.signing_seed), **kwargs)


def _checkpoint(ctx: GatewayContext) -> None:
    with ctx.sessions() as session, session.begin():
        checkpoints.create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer, at=ctx.clock.now())


def _altered(report: VerificationReport) -> list[int | None]:
    return [p.seq for p in report.problems if p.kind == "entry_altered"]


@pytest.mark.rule("A6")
def test_json_text_moved_across_a_column_boundary_is_found(ctx: GatewayContext, write_entries: WriteEntries) -> None:
    """The document text stays the same if a column's text spills into the next one; the entry did not."""
    write_entries(3)
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.POLICY_DECISION, classes_released=("D1",),
                                   basis={"a": 1, "classes_released": ["x"]}),
               actor=Actor(agency_id="iom"), at=ctx.clock.now())
    write_entries(2, start=4)
    _checkpoint(ctx)
    with ctx.engine.connect() as conn:
        row = conn.execute(select_entry_rows().where(AuditEntry.seq == 3)).one()
    spilled = (*row[:14], '{"a":1', *row[15:])
    spilled = (*spilled[:12], '["x"]},"classes_released":["D1"]', *spilled[13:])
    assert leaf_matches(tuple(spilled))[1] is False  # the Python fast path
    if ctx.engine.dialect.name != "sqlite":
        return  # PostgreSQL's json type refuses such text in the first place
    with tampering(ctx.engine) as conn:
        conn.execute(text("UPDATE audit_entries SET basis = :basis, classes_released = :released WHERE seq = 3"),
                     {"basis": '{"a":1', "released": '["x"]},"classes_released":["D1"]'})
    report = _verify(ctx)
    assert _altered(report) == [3]
    assert _verify(ctx, workers=2, parallel_from=1).problems == report.problems


@pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)  # PostgreSQL's column types refuse a BLOB
@pytest.mark.rule("A6")
def test_a_blob_where_text_belongs_is_named_not_a_crash(ctx: GatewayContext, write_entries: WriteEntries) -> None:
    write_entries(6)
    _checkpoint(ctx)
    with tampering(ctx.engine) as conn:
        conn.execute(text("UPDATE audit_entries SET purpose = x'00ff' WHERE seq = 4"))
    assert _altered(_verify(ctx)) == [4]


def test_the_sqlite_path_hashes_a_sound_log_without_the_python_fallback(
    ctx: GatewayContext, write_entries: WriteEntries, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_entries(40, one_transaction=True)
    _checkpoint(ctx)
    calls: list[object] = []
    original = leaves.leaf_matches
    monkeypatch.setattr("gateway.audit.verify.leaf_matches",
                        lambda row: calls.append(row[0]) or original(row))  # type: ignore[func-returns-value]
    for kwargs in ({}, {"workers": 2, "parallel_from": 1}):
        report = _verify(ctx, **kwargs)
        assert report.ok and report.entries_checked == 40
    if ctx.engine.dialect.name == "sqlite":
        assert calls == []  # every leaf came from SQLite's text
    else:
        assert len(calls) >= 40  # the serial run in this process (worker processes are not patched)


# --- a verification reads a snapshot and blocks no writer ---------------------------------


def test_a_verification_neither_waits_for_nor_sees_an_open_append(
    ctx: GatewayContext, write_entries: WriteEntries
) -> None:
    write_entries(5)
    _checkpoint(ctx)
    with ctx.sessions() as writer, writer.begin():
        record(writer, AuditEvent(AuditTag.POLICY_DECISION), actor=Actor(), at=ctx.clock.now())
        # The writer holds the append lock (SQLite's write lock; PostgreSQL's advisory lock).
        report = _verify(ctx)
        assert report.ok and report.tree_size == 5
    assert _verify(ctx).tree_size == 6


def test_sqlite_verification_does_not_take_the_write_lock(tmp_path: Path) -> None:
    from gateway.audit.verify import _sqlite_snapshot

    engine = db.make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    metadata.create_all(engine)
    sessions = db.make_sessionmaker(engine)
    try:
        with _sqlite_snapshot(engine) as snapshot:
            assert snapshot.execute("SELECT count(*) FROM audit_entries").fetchone() == (0,)
            from datetime import UTC, datetime

            with sessions() as session, session.begin():  # would wait 30 s on a held write lock
                record(session, AuditEvent(AuditTag.POLICY_DECISION), actor=Actor(),
                       at=datetime(2026, 1, 1, tzinfo=UTC))
            assert snapshot.execute("SELECT count(*) FROM audit_entries").fetchone() == (0,)  # one snapshot
    finally:
        engine.dispose()


# --- appends: few statements, a persistent entry ---------------------------------------------


def _count_statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_an_append_costs_about_three_statements(ctx: GatewayContext) -> None:
    seen = _count_statements(ctx.engine)
    n = 64
    with ctx.sessions() as session, session.begin():
        before = len(seen)
        for i in range(n):
            entry = record(session, AuditEvent(AuditTag.POLICY_DECISION, details={"i": i}), actor=Actor(),
                           at=ctx.clock.now())
            assert entry not in session  # nothing stale if the transaction rolls back
        statements = len(seen) - before
    # A lookup of the last leaf, the insert, the new nodes (every other append) and, one
    # append in four, the deeper left siblings: 2.75 on average; PostgreSQL adds the lock.
    budget = 2.75 + (1 if ctx.engine.dialect.name == "postgresql" else 0)
    assert statements / n <= budget + 0.05, seen[-8:]
    assert _verify(ctx).tree_size == n
    with ctx.sessions() as session:
        stored = session.get(AuditEntry, n - 1)
        assert stored is not None and (stored.entry_id, stored.leaf_hash) == (entry.entry_id, entry.leaf_hash)


def test_an_append_rolled_back_leaves_the_session_usable(ctx: GatewayContext) -> None:
    with ctx.sessions() as session:
        with pytest.raises(RuntimeError), session.begin():
            record(session, AuditEvent(AuditTag.POLICY_DECISION), actor=Actor(), at=ctx.clock.now())
            raise RuntimeError
        with session.begin():  # the same seq again, in the same session
            again = record(session, AuditEvent(AuditTag.POLICY_DECISION), actor=Actor(), at=ctx.clock.now())
        assert again.seq == 0 and again.decision == "info"
    assert _verify(ctx).tree_size == 1


def test_dashboard_counts_in_one_pass_equal_the_counts_one_by_one(
    ctx: GatewayContext, write_entries: WriteEntries
) -> None:
    write_entries(30)
    with ctx.sessions() as session:
        one_by_one = {name: search.count_entries(session, EntryFilter(), extra=d.condition(None))
                      for name, d in DASHBOARDS.items()}
        assert tallies.dashboard_counts(session, None) == one_by_one
    assert sum(one_by_one.values()) > 0


def test_dashboard_counts_of_an_empty_log(ctx: GatewayContext) -> None:
    with ctx.sessions() as session:
        assert tallies.dashboard_counts(session, None) == dict.fromkeys(DASHBOARDS, 0)


_ = create_engine  # imported for type checkers' benefit in fixtures above


# --- SQLite's worker processes ----------------------------------------------------------


@pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)  # worker processes of their own are SQLite's
def test_a_failing_or_misdirected_worker_changes_nothing_but_the_speed(
    ctx: GatewayContext, write_entries: WriteEntries, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from gateway.audit import verify

    write_entries(20, one_transaction=True)
    _checkpoint(ctx)
    with tampering(ctx.engine) as conn:
        conn.execute(text("UPDATE audit_entries SET purpose = 'x' WHERE seq = 13"))
    serial = _verify(ctx, workers=1)
    assert _altered(serial) == [13]
    other = db.make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    metadata.create_all(other)  # an empty log: a worker reading it must not count
    other.dispose()
    launch = verify._launch
    for fake in (lambda database: subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], bufsize=0,
                                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE),
                 lambda database: launch(str(tmp_path / "other.db")),
                 lambda database: None):
        monkeypatch.setattr(verify, "_launch", fake)
        assert _verify(ctx, workers=3, parallel_from=1).problems == serial.problems
    # A worker that stops after taking a piece: its pieces are done by the others, or here.
    launched: list[str] = []

    def stops_half_way(database: str) -> subprocess.Popen[bytes] | None:
        launched.append(database)
        if len(launched) > 1:
            return launch(database)
        return subprocess.Popen(
            [sys.executable, "-c", "import sys, pickle; p = pickle.dumps((0, 20)); "
             "sys.stdout.buffer.write(len(p).to_bytes(8, 'big') + p); sys.stdout.flush(); sys.stdin.readline()"],
            bufsize=0, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    monkeypatch.setattr(verify, "_launch", stops_half_way)
    assert _verify(ctx, workers=3, parallel_from=1).problems == serial.problems
    assert len(launched) == 3
    monkeypatch.setattr(verify, "_launch", launch)
    assert _verify(ctx, workers=3, parallel_from=1).problems == serial.problems


@pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)  # PostgreSQL's BIGINT holds integers only
@pytest.mark.rule("A6")
def test_a_seq_that_is_no_integer_is_named_not_a_crash(ctx: GatewayContext, write_entries: WriteEntries) -> None:
    write_entries(12)
    _checkpoint(ctx)
    with tampering(ctx.engine) as conn:
        conn.execute(text("UPDATE audit_entries SET seq = 'five' WHERE seq = 5"))
        conn.execute(text("UPDATE audit_entries SET seq = 7.5 WHERE seq = 7"))
    for kwargs in ({"workers": 1}, {"workers": 2, "parallel_from": 1}):
        report = _verify(ctx, **kwargs)
        assert [p.seq for p in report.problems if p.kind == "entry_missing"] == [5, 7]
        malformed = [p.detail for p in report.problems if p.kind == "entry_malformed"]
        assert len(malformed) == 2 and "'five'" in " ".join(malformed) and "7.5" in " ".join(malformed)


@pytest.mark.rule("A6")
@pytest.mark.parametrize("tamper", [
    "UPDATE audit_tree_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 7",
    "UPDATE audit_tree_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 20",
    "DELETE FROM audit_tree_nodes WHERE level = 1 AND idx = 40",
    "INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (1, 60, zeroblob(32))",
    "UPDATE audit_tree_nodes SET hash = 'text' WHERE level = 2 AND idx = 3",
    "UPDATE audit_entries SET reason = 'x' WHERE seq = 77",
    "DELETE FROM audit_entries WHERE seq = 50",
])
@pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)  # worker processes of their own are SQLite's
def test_workers_that_build_the_lower_levels_find_what_a_serial_run_finds(
    ctx: GatewayContext, write_entries: WriteEntries, tamper: str
) -> None:
    write_entries(101, one_transaction=True)
    _checkpoint(ctx)
    assert _verify(ctx, workers=2, parallel_from=1).ok
    with tampering(ctx.engine) as conn:
        conn.execute(text(tamper))
    serial = _verify(ctx, workers=1)
    assert not serial.ok
    for workers in (2, 3):
        parallel = _verify(ctx, workers=workers, parallel_from=1)
        assert [p.as_dict() for p in parallel.problems] == [p.as_dict() for p in serial.problems]
        assert (parallel.tree_size, parallel.root_hash, parallel.nodes_checked) == (
            serial.tree_size, serial.root_hash, serial.nodes_checked)


@pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)  # the joined comparison is SQLite's
@pytest.mark.rule("A6")
def test_stored_leaf_hashes_are_compared_one_by_one_not_as_a_joined_text(
    ctx: GatewayContext, write_entries: WriteEntries, tmp_path: Path
) -> None:
    """Row 1 holding "h1,h2" and row 2 a NULL joins to the same text as the true pair: still found."""
    import sqlite3

    from gateway import db

    write_entries(5, one_transaction=True)
    _checkpoint(ctx)
    # Tamper with a copy: the attacker rebuilds the table without its NOT NULL constraint, which
    # must not change the session's shared database.
    copy = tmp_path / "tampered.db"
    source, target = sqlite3.connect(str(ctx.engine.url.database)), sqlite3.connect(str(copy))
    source.backup(target)
    source.close()
    first, second = (target.execute("SELECT leaf_hash FROM audit_entries WHERE seq = ?", (s,)).fetchone()[0]
                     for s in (1, 2))
    target.executescript("PRAGMA foreign_keys = OFF; CREATE TABLE audit_copy AS SELECT * FROM audit_entries; "
                         "DROP TABLE audit_entries; ALTER TABLE audit_copy RENAME TO audit_entries;")
    target.execute("UPDATE audit_entries SET leaf_hash = ? WHERE seq = 1", (f"{first},{second}",))
    target.execute("UPDATE audit_entries SET leaf_hash = NULL WHERE seq = 2")
    target.commit()
    target.close()
    engine = db.make_engine(f"sqlite:///{copy}")
    try:
        with db.make_sessionmaker(engine)() as session:
            report = verify_database(session, signing_public_key(ctx.signing_seed))
    finally:
        engine.dispose()
    assert not report.ok
    assert {p.seq for p in report.problems} >= {1, 2}, report.problems


def test_a_proof_costs_two_statements_and_still_refuses_a_size_beyond_the_log(
    ctx: GatewayContext, write_entries: WriteEntries
) -> None:
    write_entries(37, one_transaction=True)
    with ctx.sessions() as session, db.read_transaction(session):  # as the proof routes read
        seen = _count_statements(ctx.engine)
        for seq, size in ((0, 37), (21, 30), (36, 37)):
            before = len(seen)
            tree.inclusion_proof(session, seq, size)
            assert len(seen) - before == 2, seen[before:]
        before = len(seen)
        tree.consistency_proof(session, 13, 37)
        assert len(seen) - before == 2, seen[before:]
        with pytest.raises(ValueError):
            tree.inclusion_proof(session, 3, 38)
        with pytest.raises(ValueError):
            tree.consistency_proof(session, 0, 38)  # nothing to read, the size is still checked
