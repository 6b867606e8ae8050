"""National-scale benchmark: the audit log, the DPO console and verification on a full PostgreSQL.

    .venv/bin/python bench/national.py                        # 10 M entries, 1 M subjects, 3 M consents
    .venv/bin/python bench/national.py --entries 1000000 --subjects 100000 --consents 300000
    .venv/bin/python bench/national.py --entries 20000 --subjects 2000 --consents 6000 --queries 20  # tiny

Starts a throwaway PostgreSQL cluster (tests/support/postgres.py), migrates two databases with
the real Alembic history and fills them by COPY: ``small`` (the baseline, ``--baseline-entries``)
and ``national`` (the sizes given). Each holds agencies, subjects, consents (with recipients) and
``--days`` days of audit entries in a realistic mix (decisions, plans, submissions, deliveries,
acknowledgements, purges, consents, portal sign-ins, console views, exceptions, NRM alerts), with
the leaf hash of each entry, every interior node of the Merkle tree and a signed checkpoint every
``--checkpoint-minutes`` minutes of log time, exactly as ``record()`` and the checkpoint signer
store them: full verification (``verify_database``) must accept the loaded log, or the run stops.
A verification recorded at the start of the last day stands for last night's run.

Then, on each database, through the code the gateway and the console run (no copy of it here):

* ``append``: ``record()`` in its own transaction, as a request writes it (append lock, commit);
* ``inclusion`` / ``consistency``: ``tree.inclusion_proof`` / ``tree.consistency_proof`` against
  the latest checkpoint, random leaves and sizes;
* ``person this month``: the console's search by subject and this month's dates
  (``search.find_entries`` with the filter ``FilterForm`` builds, one page), for people active
  this month;
* ``overview``: the console's home page queries (``console.routes.overview``), with entries
  appended between visits as in use; the first visit (the tallies' cold start) is reported apart,
  and beside it the single pass over the whole log that the overview made before the tallies
  (its SQL, rebuilt here, only for comparison);
* ``incremental``: ``gateway audit verify --incremental`` (``verify_since`` from
  ``last_verified_checkpoint``): the last day's entries;
* ``full``: ``verify_database`` over the whole log.

Targets: proof p99 <= 10 ms, console p95 <= 300 ms, a day's incremental verification <= 2 s.
Prints a table, then exactly one JSON line. Run it niced on a shared machine.
"""

from __future__ import annotations

import argparse
import array
import bisect
import hashlib
import io
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from crypto.checkpoint import sign_checkpoint
from crypto.keys import generate_signing_seed, signing_public_key
from gateway import db, migrate
from gateway.audit import checkpoints, search, tree
from gateway.audit.incremental import last_verified_checkpoint, verify_since
from gateway.audit.leaves import fast_leaf_hash
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry
from gateway.audit.search import DASHBOARDS
from gateway.audit.tags import AuditTag
from gateway.audit.tree import fold, perfect_subtrees
from gateway.audit.verify import verify_database
from gateway.console.routes import overview
from gateway.console.views import FilterForm
from tests.support.postgres import throwaway_cluster

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
ORIGIN = "https://gateway.example.gov"
POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
AGENCIES = [f"agency-{i:02d}" for i in range(40)]
PURPOSES = ["assistance", "referral", "criminal_justice", "nrm_stage1", "health"]
S4 = ["D3", "D4", "D9", "D14", "D16", "D17"]
OTHER = ["D1", "D2", "D5", "D6", "D7", "D8"]
REASONS = ["consent_missing", "purpose_mismatch", "recipient_not_named", "class_not_consented", "child_firewall"]
# (action, weight): a referral's steps, consents, sign-ins, console views and the rare events.
MIX = [
    (str(AuditTag.POLICY_DECISION), 30), (str(AuditTag.EXCHANGE_PLAN), 7), (str(AuditTag.EXCHANGE_SUBMIT), 8),
    (str(AuditTag.EXCHANGE_DELIVER), 8), (str(AuditTag.EXCHANGE_ACK), 7), (str(AuditTag.EXCHANGE_PURGE), 5),
    (str(AuditTag.EXCHANGE_EXPIRE), 0.3), (str(AuditTag.CONSENT_GRANT), 8), (str(AuditTag.CONSENT_WITHDRAW), 0.5),
    (str(AuditTag.SUBJECT_CREATE), 6), (str(AuditTag.AUDIT_VIEW), 3), (str(AuditTag.PORTAL_SIGN_IN), 4),
    (str(AuditTag.EXCEPTION_USE), 0.5), (str(AuditTag.NRM_SLA_ALERT), 0.2), (str(AuditTag.AUTH_TOKEN_ISSUE), 12),
]
ENTRY_COLUMNS = ("seq", "entry_id", "at", "request_id", "actor_agency_id", "actor_role", "actor_user", "action",
                 "subject_id", "purpose", "recipient_agency_id", "classes_requested", "classes_released",
                 "policy_version", "basis", "decision", "reason", "details", "leaf_hash")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class Generator:
    """A realistic log: who did what to whom, ids and codes only, in time order over ``days`` days."""

    def __init__(self, rng: random.Random, entries: int, subjects: int, days: int) -> None:
        self.rng, self.entries, self.subjects = rng, entries, subjects
        self.start = NOW - timedelta(days=days)
        self.step_us = days * 86_400_000_000 // max(1, entries)
        actions, weights = zip(*MIX, strict=True)
        self.actions = rng.choices(actions, weights=weights, k=4096)
        self.envelopes = 0
        self.texts: dict[tuple[str, ...], str] = {}

    def subject(self) -> str:
        # Skewed: most people have a few entries, some a few hundred.
        return f"subj_{int(self.subjects * self.rng.random() ** 1.6):08d}"

    def at(self, seq: int) -> datetime:
        return self.start + timedelta(microseconds=seq * self.step_us + self.rng.randrange(self.step_us // 2 + 1))

    def row(self, seq: int) -> tuple[Any, ...]:
        rng = self.rng
        action = self.actions[seq & 4095] if seq % 7 else rng.choice(self.actions)
        agency: str | None = rng.choice(AGENCIES)
        recipient: str | None = rng.choice(AGENCIES)
        subject: str | None = self.subject()
        purpose: str | None = rng.choice(PURPOSES)
        requested: list[str] = []
        released: list[str] = []
        basis: dict[str, Any] = {}
        details: dict[str, Any] = {}
        decision, reason = "info", None
        role: str | None = "caseworker"
        user: str | None = f"user-{rng.randrange(5000):05d}"
        if action == AuditTag.POLICY_DECISION:
            requested = sorted(rng.sample(OTHER, 2) + (rng.sample(S4, 1) if rng.random() < 0.12 else []))
            if rng.random() < 0.1:
                decision, reason = "deny", rng.choice(REASONS)
            else:
                decision, released = "allow", requested
            basis = {"consent_ids": [f"cns_{rng.randrange(10**9):09d}"], "exception": None}
        elif action in (AuditTag.EXCHANGE_SUBMIT, AuditTag.EXCHANGE_PLAN):
            if action == AuditTag.EXCHANGE_SUBMIT:
                self.envelopes += 1
                details = {"envelope_id": f"env_{self.envelopes:010d}", "fields": rng.randrange(1, 15)}
                decision = "allow" if rng.random() < 0.97 else "deny"
                reason = None if decision == "allow" else "consent_withdrawn"
            requested = sorted(rng.sample(OTHER, 2))
        elif action in (AuditTag.EXCHANGE_DELIVER, AuditTag.EXCHANGE_ACK, AuditTag.EXCHANGE_PURGE,
                        AuditTag.EXCHANGE_EXPIRE):
            # An envelope submitted shortly before (most are acknowledged within the hour).
            envelope = max(1, self.envelopes - rng.randrange(0, 50))
            details = {"envelope_id": f"env_{envelope:010d}"}
            subject, purpose = None, None
        elif action == AuditTag.CONSENT_GRANT:
            details = {"consent_id": f"cns_{rng.randrange(10**9):09d}"}
        elif action == AuditTag.CONSENT_WITHDRAW:
            details = {"consent_id": f"cns_{rng.randrange(10**9):09d}", "channel": "portal"}
        elif action == AuditTag.AUDIT_VIEW:
            role, user, purpose = "dpo", f"dpo-{rng.randrange(30):02d}", "oversight"
            details = {"view": "person", "results": rng.randrange(1, 40)}
            decision = "allow"
        elif action == AuditTag.PORTAL_SIGN_IN:
            agency, role, user, purpose, recipient = None, "person", None, None, None
        elif action == AuditTag.EXCEPTION_USE:
            decision = "allow"
            basis = {"consent_ids": [], "exception": rng.choice(["L1", "L3", "L4b", "L5c", "L9"])}
            requested = released = sorted(rng.sample(S4, 2))
        elif action == AuditTag.NRM_SLA_ALERT:
            reason, role, user = rng.choice(["stage1_overdue", "guardian_missing"]), "system", None
        elif action == AuditTag.AUTH_TOKEN_ISSUE:
            subject, purpose, recipient = None, None, None
            details = {"client_id": agency}
        entry_id = (f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
                    f"{0x8000 | rng.getrandbits(14):04x}-{rng.getrandbits(48):012x}")
        return (seq, entry_id, self.at(seq), f"{rng.getrandbits(64):016x}", agency, role, user, action, subject,
                purpose, recipient, self.text(requested), self.text(released), "bundle-2026-11-24", _json(basis),
                decision, reason, _json(details))

    def text(self, classes: list[str]) -> str:
        key = tuple(classes)
        found = self.texts.get(key)
        if found is None:
            found = self.texts[key] = _json(classes)
        return found


def _drop_indexes(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """Drop every index of ``table`` but its primary key; the statements that make them again."""
    rows = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.conrelid = t.oid AND c.contype IN ('u', 'x') "
        "WHERE t.relname = %s AND NOT x.indisprimary", (table,)).fetchall()
    again = []
    for index, definition, constraint, constraint_definition in rows:
        if constraint:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
            again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_definition}')
        else:
            conn.execute(f'DROP INDEX "{index}"')
            again.append(definition)
    return again


def _fill_rows(conn: psycopg.Connection[Any], table: str, count: int,
               given: Callable[[int], dict[str, Any]]) -> None:
    """COPY ``count`` rows into ``table``: the ``given`` columns, NULL where allowed, a plain value elsewhere."""
    columns = conn.execute(
        "SELECT column_name, data_type, is_nullable, character_maximum_length FROM information_schema.columns "
        "WHERE table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
    sample = given(0)
    names = [name for name, *_ in columns]
    plain: dict[str, str] = {}
    for name, kind, nullable, length in columns:
        if name in sample or nullable == "YES":
            continue
        plain[name] = {"boolean": "f", "integer": "0", "bigint": "0", "smallint": "0", "date": "2000-01-01",
                       "json": "[]", "jsonb": "[]", "bytea": "\\\\x00"}.get(
            kind, NOW.isoformat() if kind.startswith("timestamp") else "x"[: length or 1])
    with conn.cursor().copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for i in range(count):
            values = given(i)
            buffer.write("\t".join(_copy_text(values[n]) if n in values else plain.get(n, "\\N") for n in names))
            buffer.write("\n")
            if buffer.tell() > 1 << 20:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def load(url: str, *, entries: int, subjects: int, consents: int, days: int, checkpoint_minutes: float,
         seed: bytes, rng: random.Random) -> dict[str, Any]:
    """Fill a migrated database; returns what was loaded and how long it took."""
    began = time.perf_counter()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SET maintenance_work_mem = '512MB'")
    loaded: dict[str, Any] = {}
    dropped = {t: _drop_indexes(conn, t) for t in ("subjects", "consent_records", "consent_recipients",
                                                   "audit_entries", "audit_tree_nodes")}
    _fill_rows(conn, "agencies", len(AGENCIES), lambda i: {"id": AGENCIES[i], "name": f"Agency {i}"})
    _fill_rows(conn, "subjects", subjects, lambda i: {
        "id": f"subj_{i:08d}", "owner_agency_id": AGENCIES[i % len(AGENCIES)], "created_by": "caseworker",
        "age_band": ["18-25", "26-35", "36-50", "0-17"][i % 4], "preferred_language": ["en", "ar", "ti", "uk"][i % 4],
        "created_at": (NOW - timedelta(days=days * (1 - i / max(1, subjects)))).isoformat()})
    _fill_rows(conn, "consent_records", consents, lambda i: {
        "id": f"cns_{i:09d}", "lineage_id": f"lin_{i:09d}", "subject_id": f"subj_{(i * 7919) % subjects:08d}",
        "purpose": PURPOSES[i % len(PURPOSES)], "scope": "referral", "data_classes": '["D1","D2","D5"]',
        "explained_items": '["purpose","recipients"]', "notice_version": "2026-01", "language": "en",
        "channel": "in_person", "capacity": "adult", "obtained_by": "caseworker", "obtained_by_role": "caseworker",
        "obtaining_agency_id": AGENCIES[i % len(AGENCIES)], "duty_to_share_acknowledged": "[]",
        "granted_at": (NOW - timedelta(days=days * (1 - i / max(1, consents)))).isoformat()})
    _fill_rows(conn, "consent_recipients", consents, lambda i: {
        "consent_id": f"cns_{i:09d}", "agency_id": AGENCIES[(i * 13 + 1) % len(AGENCIES)],
        "subject_id": f"subj_{(i * 7919) % subjects:08d}", "purpose": PURPOSES[i % len(PURPOSES)]})
    loaded["people_s"] = round(time.perf_counter() - began, 1)

    # The audit log: rows, leaf hashes, every interior node, checkpoints.
    generator = Generator(rng, entries, subjects, days)
    leaves = bytearray()
    times = array.array("q")  # each entry's time, microseconds after the log's start
    stamp = time.perf_counter()
    one_us = timedelta(microseconds=1)
    with conn.cursor().copy(f"COPY audit_entries ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for seq in range(entries):
            row = generator.row(seq)
            leaf = fast_leaf_hash((*row, ""))
            leaves += leaf
            times.append((row[2] - generator.start) // one_us)
            buffer.write("\t".join(_copy_text(v.isoformat() if isinstance(v, datetime) else v) for v in row))
            buffer.write(f"\t{leaf.hex()}\n")
            if buffer.tell() > 1 << 21:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    loaded["entries_s"] = round(time.perf_counter() - stamp, 1)
    stamp = time.perf_counter()
    levels = [leaves]
    level = leaves
    sha = hashlib.sha256
    while len(level) >= 64:
        upper = bytearray()
        for i in range(0, len(level) - 63, 64):
            upper += sha(b"\x01" + level[i : i + 64]).digest()
        levels.append(upper)
        level = upper
    with conn.cursor().copy("COPY audit_tree_nodes (level, idx, hash) FROM STDIN") as copy:
        buffer = io.StringIO()
        for height in range(1, len(levels)):
            nodes = levels[height]
            for idx in range(len(nodes) // 32):
                buffer.write(f"{height}\t{idx}\t\\\\x{nodes[32 * idx : 32 * idx + 32].hex()}\n")
                if buffer.tell() > 1 << 21:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
        copy.write(buffer.getvalue())

    def node(key: tuple[int, int]) -> bytes:
        height, idx = key
        return bytes(levels[height][32 * idx : 32 * idx + 32])

    def root(size: int) -> bytes:
        group = perfect_subtrees(0, size)
        return fold(group, {k: node(k) for k in group})

    # A checkpoint every ``checkpoint_minutes`` of log time when the log grew, as the signer cuts them.
    every = int(checkpoint_minutes * 60_000_000)
    sizes: list[tuple[int, datetime]] = []
    boundary = every
    horizon = int((NOW - generator.start).total_seconds() * 1_000_000)
    while boundary <= horizon:
        size = bisect.bisect_left(times, boundary)
        if size and (not sizes or sizes[-1][0] < size):
            sizes.append((size, generator.start + timedelta(microseconds=boundary)))
        boundary += every
    if not sizes or sizes[-1][0] < entries:
        sizes.append((entries, NOW))
    with conn.cursor().copy("COPY audit_checkpoints (tree_size, root_hash, timestamp, origin, key_id, signature, "
                            "created_at) FROM STDIN") as copy:
        for size, moment in sizes:
            signed = sign_checkpoint(seed, origin=ORIGIN, tree_size=size, root=root(size), at=moment)
            copy.write_row((size, signed.root_hash, signed.timestamp, signed.origin, signed.key_id, signed.signature,
                            moment))
    loaded["tree_s"] = round(time.perf_counter() - stamp, 1)
    # Last night's verification: it covered the log up to the start of the last day.
    day_start = NOW - timedelta(days=1)
    night = max((s for s, moment in sizes if moment <= day_start), default=0)
    conn.execute("INSERT INTO audit_verifications (started_at, finished_at, ok, tree_size, root_hash, "
                 "checkpoints_checked, problem_count, problems, source) VALUES (%s, %s, true, %s, %s, %s, 0, '[]', "
                 "'cli')", (day_start, day_start, night, root(night).hex(), len(sizes)))
    stamp = time.perf_counter()
    for statements in dropped.values():
        for statement in statements:
            conn.execute(statement)
    conn.execute("VACUUM ANALYZE")
    loaded["indexes_s"] = round(time.perf_counter() - stamp, 1)
    loaded.update(entries=entries, subjects=subjects, consents=consents, checkpoints=len(sizes),
                  day_entries=entries - night, load_s=round(time.perf_counter() - began, 1))
    (database_size,) = conn.execute("SELECT pg_database_size(current_database())").fetchall()[0]
    loaded["database_mb"] = round(database_size / 2**20)
    conn.close()
    return loaded


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "mean_ms": round(statistics.fmean(ordered)
                                                                                            * 1000, 3)}


def _timed(run: Callable[[], Any], times: int) -> list[float]:
    out = []
    for _ in range(times):
        began = time.perf_counter()
        run()
        out.append(time.perf_counter() - began)
    return out


def _append(sessions: sessionmaker[Session], rng: random.Random, subjects: int) -> Callable[[], None]:
    actor = Actor(agency_id="agency-01", role="caseworker", user="bench")

    def one() -> None:
        with sessions() as session, session.begin():
            record(session, AuditEvent(AuditTag.POLICY_DECISION, decision="allow",
                                       subject_id=f"subj_{rng.randrange(subjects):08d}", purpose="referral",
                                       recipient_agency_id="agency-02", classes_requested=("D1", "D5"),
                                       classes_released=("D1",), policy_version="bundle-2026-11-24",
                                       basis={"consent_ids": ["cns_000000001"], "exception": None},
                                       details={"fields": 3}),
                   actor=actor, at=NOW)

    return one


def _single_pass(session: Session) -> dict[str, int]:
    """The overview's counts as the console made them before the tallies: one pass over every entry."""
    columns = [func.coalesce(func.sum(case((d.condition(POLICY_DIR), 1), else_=0)), 0)
               for d in DASHBOARDS.values()]
    row = session.execute(select(*columns).select_from(AuditEntry)).one()
    return {name: int(row[i]) for i, name in enumerate(DASHBOARDS)}


def measure(url: str, *, seed: bytes, rng: random.Random, subjects: int, queries: int, proofs: int, appends: int,
            workers: int | None, single_pass_runs: int) -> dict[str, Any]:
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    public = signing_public_key(seed)
    out: dict[str, Any] = {}
    try:
        # Incremental verification of the last day, from last night's verified checkpoint.
        with sessions() as session:
            start = last_verified_checkpoint(session)
        assert start is not None
        with sessions() as session:
            began = time.perf_counter()
            report = verify_since(session, public, start, origin=ORIGIN)
            out["incremental_s"] = round(time.perf_counter() - began, 3)
        if not report.ok:
            raise SystemExit(f"incremental verification failed: {report.problems[:3]}")
        out["incremental_entries"] = report.entries_checked
        out["incremental_checkpoints"] = report.checkpoints_checked
        # Full verification (the baseline of the incremental one).
        with sessions() as session:
            full = verify_database(session, public, origin=ORIGIN, workers=workers)
        if not full.ok:
            raise SystemExit(f"full verification failed: {full.problems[:3]}")
        if full.root_hash != report.root_hash:
            raise SystemExit("incremental and full verification disagree on the root")
        out["full_s"] = round(full.seconds, 2)
        out["full_entries_per_s"] = round(full.entries_checked / full.seconds)
        out["full_checkpoints"] = full.checkpoints_checked

        with sessions() as session:
            latest = checkpoints.latest_checkpoint(session)
            assert latest is not None
            size = latest.tree_size
            cpu = time.process_time()
            out["inclusion"] = _quantiles(_timed(lambda: tree.inclusion_proof(session, rng.randrange(size), size),
                                                 proofs))
            # This process's CPU per proof: the rest of a proof's time is the server's and the waits.
            out["inclusion"]["client_cpu_ms"] = round((time.process_time() - cpu) / proofs * 1000, 3)
            cpu = time.process_time()
            out["consistency"] = _quantiles(_timed(
                lambda: tree.consistency_proof(session, rng.randrange(1, size), size), proofs))
            out["consistency"]["client_cpu_ms"] = round((time.process_time() - cpu) / proofs * 1000, 3)
            # People active this month (a DPO looks at whom the log names, not at random ids).
            month = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            people = [s for (s,) in session.execute(
                select(AuditEntry.subject_id).where(AuditEntry.at >= month, AuditEntry.subject_id.is_not(None))
                .order_by(func.random()).limit(queries))]
            session.rollback()
        form = {"from": month.date().isoformat(), "to": NOW.date().isoformat()}
        found: list[int] = []

        def person() -> None:
            subject = people[len(found) % len(people)]
            with sessions() as session, db.read_transaction(session):
                filt = FilterForm.parse({**form, "subject": subject}).filter
                found.append(len(search.find_entries(session, filt, limit=51)))

        out["person_month"] = _quantiles(_timed(person, queries))
        out["person_month_rows_mean"] = round(statistics.fmean(found), 1)

        append = _append(sessions, rng, subjects)

        def visit() -> None:
            with sessions() as session, session.begin():
                overview(session, POLICY_DIR)

        out["overview_cold_ms"] = round(_timed(visit, 1)[0] * 1000, 1)
        warm: list[float] = []
        for _ in range(queries):
            for _ in range(5):  # entries appended between two visits
                append()
            warm += _timed(visit, 1)
        out["overview"] = _quantiles(warm)
        with sessions() as session:
            counts = overview(session, POLICY_DIR)["counts"]
            session.rollback()
            passes = _timed(lambda: _single_pass(session), single_pass_runs)
            if _single_pass(session) != counts:
                raise SystemExit("the tallied overview differs from a count over every entry")
        out["overview_single_pass"] = _quantiles(passes)
        out["overview_counts"] = counts

        out["append"] = _quantiles(_timed(append, appends))
    finally:
        engine.dispose()
    return out


def _machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    except (OSError, StopIteration, ValueError):
        memory = 0
    return {"cpus": os.cpu_count(), "cpu_model": model, "ram_gib": round(memory / 2**20, 1),
            "python": platform.python_version()}


def _postgres_version(url: str) -> str:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return str(conn.execute("SHOW server_version").fetchall()[0][0])


def _databases(url: str, names: list[str]) -> Iterator[str]:
    admin = url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE DATABASE {name}")
    for name in names:
        yield url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--consents", type=int, default=3_000_000)
    parser.add_argument("--days", type=int, default=730, help="the log's span (entries spread evenly)")
    parser.add_argument("--baseline-entries", type=int, default=20_000,
                        help="the small database's entries (subjects and consents scaled alike)")
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0, help="checkpoint cadence in log time")
    parser.add_argument("--proofs", type=int, default=1000, help="random proofs of each kind")
    parser.add_argument("--queries", type=int, default=200, help="console queries of each kind")
    parser.add_argument("--appends", type=int, default=500, help="appends timed (one transaction each)")
    parser.add_argument("--single-pass-runs", type=int, default=3, help="runs of the old one-pass overview")
    parser.add_argument("--workers", type=int, default=None, help="full verification's workers (default: CPUs)")
    args = parser.parse_args()
    seed = generate_signing_seed()
    scale = args.baseline_entries / args.entries
    cases = {
        "small": (args.baseline_entries, max(10, round(args.subjects * scale)), max(10, round(args.consents * scale))),
        "national": (args.entries, args.subjects, args.consents),
    }
    results: dict[str, Any] = {"machine": _machine(), "load_before": round(os.getloadavg()[0], 2), "cases": {},
                               "days": args.days, "checkpoint_minutes": args.checkpoint_minutes}
    with throwaway_cluster() as url:
        results["postgresql"] = _postgres_version(url)
        for (name, (entries, subjects, consents)), database in zip(cases.items(),
                                                                   _databases(url, list(cases)), strict=True):
            migrate.upgrade(database)
            rng = random.Random(f"{name}-{entries}")
            loaded = load(database, entries=entries, subjects=subjects, consents=consents, days=args.days,
                          checkpoint_minutes=args.checkpoint_minutes, seed=seed, rng=rng)
            print(f"{name}: loaded {loaded}", flush=True)
            figures = measure(database, seed=seed, rng=rng, subjects=subjects, queries=args.queries,
                              proofs=args.proofs, appends=args.appends, workers=args.workers,
                              single_pass_runs=args.single_pass_runs)
            results["cases"][name] = {"loaded": loaded, **figures}
            print(f"{name}: measured {json.dumps(figures, sort_keys=True)}", flush=True)
    small, national = results["cases"]["small"], results["cases"]["national"]
    rows: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
        ("append, own transaction (p50 / p99 ms)", lambda c: f"{c['append']['p50_ms']} / {c['append']['p99_ms']}", ""),
        ("inclusion proof (p50 / p99 ms)", lambda c: f"{c['inclusion']['p50_ms']} / {c['inclusion']['p99_ms']}",
         "p99 <= 10"),
        ("consistency proof (p50 / p99 ms)",
         lambda c: f"{c['consistency']['p50_ms']} / {c['consistency']['p99_ms']}", "p99 <= 10"),
        ("console: a person this month (p50 / p95 ms)",
         lambda c: f"{c['person_month']['p50_ms']} / {c['person_month']['p95_ms']}", "p95 <= 300"),
        ("console: overview (p50 / p95 ms)", lambda c: f"{c['overview']['p50_ms']} / {c['overview']['p95_ms']}",
         "p95 <= 300"),
        ("  overview, first visit (cold tallies, ms)", lambda c: f"{c['overview_cold_ms']}", ""),
        ("  overview as before: one pass (p50 ms)", lambda c: f"{c['overview_single_pass']['p50_ms']}", ""),
        ("incremental verification of the last day (s)",
         lambda c: f"{c['incremental_s']} ({c['incremental_entries']:,} entries)", "<= 2"),
        ("full verification (s)", lambda c: f"{c['full_s']} ({c['full_entries_per_s']:,}/s)", ""),
        ("load: entries / tree / indexes (s)",
         lambda c: f"{c['loaded']['entries_s']} / {c['loaded']['tree_s']} / {c['loaded']['indexes_s']}", ""),
    ]
    print(f"\n{'':48} {'small ' + format(small['loaded']['entries'], ','):>28} "
          f"{'national ' + format(national['loaded']['entries'], ','):>30} {'target':>11}")
    for label, show, target in rows:
        print(f"{label:48} {show(small):>28} {show(national):>30} {target:>11}")
    results["targets"] = {
        "proof_p99_ms_le_10": max(national["inclusion"]["p99_ms"], national["consistency"]["p99_ms"]) <= 10,
        "console_p95_ms_le_300": max(national["person_month"]["p95_ms"], national["overview"]["p95_ms"]) <= 300,
        "day_incremental_s_le_2": national["incremental_s"] <= 2,
    }
    results["load_after"] = round(os.getloadavg()[0], 2)
    print(f"targets: {results['targets']}")
    print(json.dumps(results, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
