"""Consent benchmark: the in-force lookup for (subject, purpose, recipient) at 10 k and 1 M records.

    .venv/bin/python bench/consent.py                      # 10 k and 1 M records (about two minutes)
    .venv/bin/python bench/consent.py --sizes 10000 100000 # quicker

SQLite in a temporary directory, migrated with the real Alembic history. Records are
bulk-inserted with ``executemany`` (five consents per subject, one to three recipients
each, a third of them ended: withdrawn, superseded or expired), then ``ANALYZE`` runs as a
deployment would after a bulk load. The timed lookups go through the real code path,
``ConsentService.in_force_ids`` (one indexed query, no cache), for random existing
(subject, purpose, recipient) triples and for misses; ``consent_documents_in_force`` (the
consents of a decision's input, as the gateway reads them) is timed too.

Prints a table, then exactly one JSON line with the figures. The 1 M lookup must stay
within 2x of the 10 k one: the lookup index makes its cost independent of the table size.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from consent import ConsentService, MemoryAuditSink, StaticDirectory
from consent.clock import FixedClock
from consent.directory import AgencyInfo
from consent.receipts import ReceiptSigner
from consent.service import consent_documents_in_force
from crypto.keys import generate_signing_seed
from crypto.passwords import SecretHasher
from gateway import db, migrate

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=200)
AGENCIES = ["ngo", "shelter", "clinic", "iom", "unhcr", "police", "legal-aid", "child-protection"]
PURPOSES = ["nrm_referral", "protection_support", "criminal_justice", "data_sharing", "healthcare", "shelter",
            "return", "post_return_monitoring", "filming", "forensic"]
PER_SUBJECT = 5
BATCH = 50_000


def _ts(moment: datetime) -> str:
    """How SQLAlchemy stores a UTC timestamp in SQLite (so bound parameters compare correctly)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# Named, so that columns added later (nullable, or with a default) need no change here.
SUBJECT_COLUMNS = (
    "id, owner_agency_id, created_at, created_by, adult_on, age_band, age_disputed, age_assessment_outcome, "
    "age_appeal_status, preferred_language, asylum_claimed, possible_refugee, country_of_origin, "
    "guardian_advocate_id, parental_guardian_id, guardian_suspected, declined_nrm, capacity, cj_role, open_cases, "
    "placement_ref"
)


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _agencies(conn: sqlite3.Connection) -> None:
    rows = [(a, f"{a} agency", "ngo", "NL", "vetted", _ts(T0), 0, "[]", None, "[]", "[]", _ts(T0)) for a in AGENCIES]
    conn.executemany(
        "INSERT INTO agencies (id, name, kind, jurisdiction, vetting_status, vetted_at, mandated_reporter, "
        f"statutory_duties, confidentiality_policy_version, exception_policy, scopes, created_at) "
        f"VALUES ({_placeholders(12)})", rows)


def _generate(start: int, stop: int, rng: random.Random) -> Iterator[tuple[list[Any], ...]]:
    """Rows for consents number ``start`` .. ``stop`` - 1, in batches."""
    subjects: list[tuple[Any, ...]] = []
    records: list[tuple[Any, ...]] = []
    recipients: list[tuple[Any, ...]] = []
    endings: list[tuple[Any, ...]] = []
    for n in range(start, stop):
        subject_id = f"subj_{n // PER_SUBJECT:09d}"
        if n % PER_SUBJECT == 0:
            subjects.append((subject_id, "ngo", _ts(T0), "staff", None, "25-34", 0, None, "none", "en", 0, 0, None,
                             None, None, 0, 0, "{}", "none", "[]", None))
        consent_id = "cns_" + secrets.token_urlsafe(16)
        purpose = PURPOSES[rng.randrange(len(PURPOSES))]
        obtained = T0 + timedelta(minutes=rng.randrange(200 * 24 * 60))
        expires = obtained + timedelta(days=rng.choice((30, 90, 180, 365)))
        records.append((consent_id, consent_id, 1, None, subject_id, purpose, "relevant_portion", '["D5"]', "[]",
                        "v1", "en", None, None, None, "in_person", 0, "has_capacity", "staff", "advocate", "ngo",
                        _ts(obtained), _ts(expires), _ts(obtained), 0, None, None, None, None, None,
                        "none" if purpose == "criminal_justice" else None, "[]"))
        for agency in rng.sample(AGENCIES[1:], rng.randint(1, 3)):
            recipients.append((consent_id, agency, subject_id, purpose, None, None))
        if rng.random() < 1 / 3:
            endings.append(("end_" + secrets.token_urlsafe(16), consent_id, rng.choice(("withdrawn", "expired")),
                            _ts(obtained + timedelta(days=1)), "agency", "ngo", "staff", "portal", None))
        if len(records) >= BATCH:
            yield subjects, records, recipients, endings
            subjects, records, recipients, endings = [], [], [], []
    if records:
        yield subjects, records, recipients, endings


def fill(path: Path, start: int, stop: int, rng: random.Random) -> float:
    """Bulk-insert consents ``start`` .. ``stop`` - 1 with executemany; returns seconds."""
    began = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a benchmark load, not production data
    conn.execute("BEGIN")
    if start == 0:
        _agencies(conn)
    for subjects, records, recipients, endings in _generate(start, stop, rng):
        conn.executemany(f"INSERT INTO subjects ({SUBJECT_COLUMNS}) VALUES ({_placeholders(21)})", subjects)
        conn.executemany(f"INSERT INTO consent_records VALUES ({_placeholders(31)})", records)
        conn.executemany(f"INSERT INTO consent_recipients VALUES ({_placeholders(6)})", recipients)
        conn.executemany(f"INSERT INTO consent_endings VALUES ({_placeholders(9)})", endings)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - began


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(url: str, size: int, lookups: int, rng: random.Random) -> dict[str, Any]:
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    directory = StaticDirectory({a: AgencyInfo(id=a, name=a, kind="ngo", jurisdiction="NL") for a in AGENCIES})
    clock = FixedClock(NOW)
    seed = generate_signing_seed()
    subjects = size // PER_SUBJECT
    hit_times: list[float] = []
    miss_times: list[float] = []
    subject_times: list[float] = []
    found = 0
    with sessions() as session:
        svc = ConsentService(session, clock=clock, audit=MemoryAuditSink(), directory=directory,
                             signer=ReceiptSigner(seed=seed, issuer="https://bench", portal_url="https://bench/p"),
                             hasher=SecretHasher(1, 8, 1))
        rowids = ",".join(str(rng.randrange(1, size)) for _ in range(lookups))
        triples = session.execute(
            text(f"SELECT subject_id, purpose, agency_id FROM consent_recipients WHERE rowid IN ({rowids})")
        ).all()
        for _ in range(50):  # warm the page cache and SQLAlchemy's statement cache
            svc.in_force_ids(f"subj_{rng.randrange(subjects):09d}", "shelter", "shelter")
        for subject_id, purpose, agency in triples:
            began = time.perf_counter()
            ids = svc.in_force_ids(subject_id, purpose, agency)
            hit_times.append(time.perf_counter() - began)
            found += bool(ids)
        for _ in range(lookups):
            subject_id = f"subj_{rng.randrange(subjects):09d}"
            began = time.perf_counter()
            svc.in_force_ids(subject_id, rng.choice(PURPOSES), rng.choice(AGENCIES))
            miss_times.append(time.perf_counter() - began)
        for _ in range(lookups // 4):
            subject_id = f"subj_{rng.randrange(subjects):09d}"
            began = time.perf_counter()
            consent_documents_in_force(session, subject_id, at=NOW)  # what a decision reads
            subject_times.append(time.perf_counter() - began)
        session.rollback()
    engine.dispose()
    return {
        "records": size,
        "lookup_us_p50": round(statistics.median(hit_times) * 1e6, 1),
        "lookup_us_p95": round(_percentile(hit_times, 0.95) * 1e6, 1),
        "random_lookup_us_p50": round(statistics.median(miss_times) * 1e6, 1),
        "subject_policy_input_us_p50": round(statistics.median(subject_times) * 1e6, 1),
        "lookups": len(hit_times) + len(miss_times),
        "hits_in_force": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="consent-bench-") as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        have = 0
        print(f"{'records':>10} {'load s':>8} {'lookup p50 µs':>14} {'p95 µs':>8} {'random p50 µs':>14} "
              f"{'subject p50 µs':>15} {'hits in force':>14}")
        for size in sizes:
            load_s = fill(path, have, size, rng)
            have = size
            row = measure(url, size, args.lookups, rng)
            row["load_s"] = round(load_s, 1)
            rows.append(row)
            print(f"{size:>10} {row['load_s']:>8} {row['lookup_us_p50']:>14} {row['lookup_us_p95']:>8} "
                  f"{row['random_lookup_us_p50']:>14} {row['subject_policy_input_us_p50']:>15} "
                  f"{row['hits_in_force']:>14}")
    smallest, largest = rows[0], rows[-1]
    ratio = round(largest["lookup_us_p50"] / smallest["lookup_us_p50"], 2)
    results = {
        "bench": "consent_in_force_lookup",
        "backend": "sqlite",
        "sizes": [r["records"] for r in rows],
        "rows": rows,
        "ratio_largest_to_smallest_p50": ratio,
        "within_2x": ratio <= 2.0,
    }
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
