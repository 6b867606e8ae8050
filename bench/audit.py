"""Audit-log benchmark: append cost vs log size, proof generation, full verification rate.

    .venv/bin/python bench/audit.py                 # 100 k and 1 M entries (a few minutes)
    .venv/bin/python bench/audit.py --sizes 20000   # quick

SQLite in a temporary directory, migrated with the real Alembic history. The log is
pre-filled with direct bulk inserts that compute the same leaf hashes and tree nodes as
``record()`` (then checked by the verifier itself, which would flag any difference);
appends, proofs and verification then run through the real code paths:

* append: ``record()`` in transactions of ``--batch`` entries, timed per 10 k appends
  on an empty log and again on top of each pre-filled size (O(log n) means flat);
* proofs: inclusion and consistency proofs from the stored nodes, random positions;
* verify: ``verify_database`` over the whole log (target: >= 100 k entries/s), wall clock
  and per CPU-second (this process and its worker processes), since the figures of a
  shared 2-core machine swing with whatever else runs on it (load averages are printed).
  On SQLite, SQLite writes each entry's canonical text and, from 50 k entries, one worker
  process per CPU hashes a range of entries and builds the lower levels of the tree
  (``gateway/audit/sqlite_leaves.py``, a bare interpreter: it starts in milliseconds);
  ``--workers 1`` measures a single process.

Prints a table, then exactly one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from crypto.keys import generate_signing_seed, signing_public_key
from gateway import db, migrate
from gateway.audit import checkpoints, tree
from gateway.audit.leaves import fast_leaf_hash
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry, AuditTreeNode
from gateway.audit.tags import AuditTag
from gateway.audit.verify import verify_database

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ACTIONS = [str(AuditTag.POLICY_DECISION), str(AuditTag.EXCHANGE_SUBMIT), str(AuditTag.EXCHANGE_ACK),
           str(AuditTag.CONSENT_GRANT)]


def _values(i: int) -> dict[str, Any]:
    """One realistic entry's columns (ids and codes only)."""
    return {
        "seq": i,
        "entry_id": str(uuid.UUID(int=random.getrandbits(128), version=4)),
        "at": T0 + timedelta(milliseconds=i * 37),
        "request_id": f"{i:016x}",
        "actor_agency_id": ["iom", "unhcr", "shelter", "police"][i % 4],
        "actor_role": "caseworker",
        "actor_user": f"user-{i % 97}",
        "action": ACTIONS[i % 4],
        "subject_id": f"subj_{i % 5003:08d}",
        "purpose": ["assistance", "referral", "criminal_justice"][i % 3],
        "recipient_agency_id": ["shelter", "clinic", "police"][i % 3],
        "classes_requested": ["D1", "D3", "D5"][: 1 + i % 3],
        "classes_released": ["D1", "D5"][: i % 3],
        "policy_version": "bundle-2026-11-24",
        "basis": {"consent_ids": [f"cns_{i % 811:06d}"], "exception": None},
        "decision": "allow" if i % 7 else "deny",
        "reason": None if i % 7 else "consent_missing",
        "details": {"envelope_id": f"env_{i:010d}", "fields": i % 9},
    }


def _leaf(v: dict[str, Any]) -> bytes:
    row = (v["seq"], v["entry_id"], v["at"], v["request_id"], v["actor_agency_id"], v["actor_role"], v["actor_user"],
           v["action"], v["subject_id"], v["purpose"], v["recipient_agency_id"], json.dumps(v["classes_requested"]),
           json.dumps(v["classes_released"]), v["policy_version"], json.dumps(v["basis"]), v["decision"], v["reason"],
           json.dumps(v["details"]), "")
    return fast_leaf_hash(row)


def prefill(sessions: sessionmaker[Session], start: int, stop: int, chunk: int = 20_000) -> float:
    """Bulk-insert entries [start, stop) with their leaf hashes and every completed tree node."""
    began = time.perf_counter()
    with sessions() as session:
        prior = [bytes.fromhex(h) for h in
                 session.scalars(AuditEntry.__table__.select().with_only_columns(AuditEntry.leaf_hash)
                                 .order_by(AuditEntry.seq))] if start else []
    leaves = prior
    for lo in range(start, stop, chunk):
        rows = [_values(i) for i in range(lo, min(stop, lo + chunk))]
        for r in rows:
            r["leaf_hash"] = _leaf(r).hex()
            leaves.append(bytes.fromhex(r["leaf_hash"]))
        with sessions() as session, session.begin():
            session.execute(insert(AuditEntry.__table__), rows)
    # Nodes completed by leaves [start, stop).
    node_rows: list[dict[str, Any]] = []
    level, height = leaves, 0
    while len(level) > 1:
        height += 1
        it = iter(level)
        level = [hashlib.sha256(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=False)]
        first_new = start >> height  # nodes below this index existed already
        node_rows.extend({"level": height, "idx": i, "hash": level[i]} for i in range(first_new, len(level))
                         if ((i + 1) << height) > start)
    with sessions() as session, session.begin():
        for lo in range(0, len(node_rows), chunk):
            session.execute(insert(AuditTreeNode), node_rows[lo : lo + chunk])
    return time.perf_counter() - began


def appends(sessions: sessionmaker[Session], count: int, batch: int) -> float:
    """Seconds for ``count`` appends through record(), ``batch`` per transaction."""
    actor = Actor(agency_id="iom", role="caseworker", user="bench")
    began = time.perf_counter()
    done = 0
    while done < count:
        with sessions() as session, session.begin():
            for _ in range(min(batch, count - done)):
                record(session, AuditEvent(AuditTag.POLICY_DECISION, decision="allow", subject_id="subj_1",
                                           purpose="referral", recipient_agency_id="shelter",
                                           classes_requested=("D1", "D5"), classes_released=("D1",),
                                           policy_version="bundle-1",
                                           basis={"consent_ids": ["cns_1"], "exception": None},
                                           details={"envelope_id": f"env_{done}"}),
                       actor=actor, at=T0)
                done += 1
    return time.perf_counter() - began


def proofs(sessions: sessionmaker[Session], size: int, samples: int) -> tuple[float, float]:
    """Mean milliseconds per inclusion proof and per consistency proof at ``size``."""
    rng = random.Random(7)
    with sessions() as session:
        began = time.perf_counter()
        for _ in range(samples):
            tree.inclusion_proof(session, rng.randrange(size), size)
        inclusion = (time.perf_counter() - began) / samples * 1000
        began = time.perf_counter()
        for _ in range(samples):
            tree.consistency_proof(session, rng.randrange(1, size), size)
        consistency = (time.perf_counter() - began) / samples * 1000
    return inclusion, consistency


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the verifier's worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated log sizes")
    parser.add_argument("--appends", type=int, default=10_000, help="appends timed at each size")
    parser.add_argument("--batch", type=int, default=100, help="appends per transaction")
    parser.add_argument("--proofs", type=int, default=1000, help="proofs timed at each size")
    parser.add_argument("--workers", type=int, default=None, help="verification workers (default: one per CPU)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    seed = generate_signing_seed()
    public = signing_public_key(seed)
    results: dict[str, Any] = {"append_batch": args.batch, "sizes": {}, "cpus": os.cpu_count(),
                               "load_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        engine = db.make_engine(url)
        sessions = db.make_sessionmaker(engine)
        empty = appends(sessions, args.appends, args.batch)
        results["append_us_empty"] = round(empty / args.appends * 1e6, 1)
        have = args.appends
        print(f"{'entries':>10} {'prefill s':>10} {'append µs':>10} {'incl. ms':>9} {'cons. ms':>9} "
              f"{'verify s':>9} {'verify/s':>10} {'per CPU-s':>10}")
        print(f"{0:>10} {'-':>10} {results['append_us_empty']:>10} {'-':>9} {'-':>9} {'-':>9} {'-':>10} {'-':>10}")
        for size in sizes:
            fill = prefill(sessions, have, size)
            have = size
            took = appends(sessions, args.appends, args.batch)
            have += args.appends
            with sessions() as session, session.begin():
                checkpoints.create_checkpoint(session, seed, origin="https://bench", at=T0)
            inclusion, consistency = proofs(sessions, have, args.proofs)
            cpu_before = _cpu_seconds()
            with sessions() as session:
                report = verify_database(session, public, workers=args.workers)
            cpu = _cpu_seconds() - cpu_before
            if not report.ok:
                raise SystemExit(f"verification failed: {report.problems[:3]}")
            rate = report.entries_checked / report.seconds
            row = {
                "prefill_s": round(fill, 1),
                "append_us": round(took / args.appends * 1e6, 1),
                "inclusion_proof_ms": round(inclusion, 3),
                "consistency_proof_ms": round(consistency, 3),
                "verify_s": round(report.seconds, 2),
                "verify_entries_per_s": round(rate),
                "verify_cpu_s": round(cpu, 2),
                "verify_entries_per_cpu_s": round(report.entries_checked / cpu),
            }
            results["sizes"][str(have)] = row
            print(f"{have:>10} {row['prefill_s']:>10} {row['append_us']:>10} {row['inclusion_proof_ms']:>9} "
                  f"{row['consistency_proof_ms']:>9} {row['verify_s']:>9} {row['verify_entries_per_s']:>10,} "
                  f"{row['verify_entries_per_cpu_s']:>10,}")
        engine.dispose()
    largest = results["sizes"][max(results["sizes"], key=int)]
    results["append_growth"] = round(largest["append_us"] / results["append_us_empty"], 2)
    results["load_after"] = round(os.getloadavg()[0], 2)
    results["verify_target_met"] = all(r["verify_entries_per_s"] >= 100_000 for r in results["sizes"].values())
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
