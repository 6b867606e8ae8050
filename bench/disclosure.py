"""Statistics benchmark: release time and error of typical tables, against the truth, at the default budget.

    .venv/bin/python bench/disclosure.py                         # 10 k and 1 M synthetic cases (minutes)
    .venv/bin/python bench/disclosure.py --sizes 10000 100000    # quicker

For each size, synthetic case data (gateway/statistics/synthetic.py: no real person; the
shape of published counter-trafficking data) is bulk-loaded into the statistics store of a
fresh SQLite database migrated with the real Alembic history. Four typical tables are then
released through the real code path (``release``: budget ledger, OpenDP noise, suppression at
k = 11, signing, audit entry) at the default epsilon (0.5 each; the yearly budget is raised so
that the four fit), and compared with the truth computed from the generated rows:

- ``release_ms``: the whole release; ``exact_ms``: the same counts by a plain GROUP BY (the
  baseline, measured in the same run) and ``overhead``: their ratio;
- ``mae`` and ``p95_abs_error``: absolute error of the published cells; ``median_rel_error``;
- ``suppressed_share``: cells suppressed; ``mass_in_suppressed``: share of the true total in them;
- events tables also ``mae_noise_only``: against the truth after each person's records are bounded
  (the rest of their error is the bias of that bound: frequent events of very active cases).

A refresh of the store from a real audit log is timed too (``--refresh-cases`` subjects with
their audited events): entries read per second. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# This file is named like the standard library's statistics module: take the bench folder off the
# path (the script's own folder comes first), so that a library's ``import statistics`` gets the
# standard one, and put the repository there instead.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from consent.subjects import Subject
from crypto.at_rest import derive_key
from crypto.keys import generate_signing_seed
from gateway import db, migrate
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.tags import AuditTag
from gateway.registry import service as registry
from gateway.registry.models import AgencyKind
from gateway.statistics.models import StatEvent, StatPerson
from gateway.statistics.release import ReleasePolicy, TableRequest, release
from gateway.statistics.store import UNIT_LABEL, UnitKey, refresh_all
from gateway.statistics.synthetic import load, synthetic_events, synthetic_people

START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 31, 12, tzinfo=UTC)
TABLES: dict[str, dict[str, Any]] = {
    "persons: age band x sex, by year": {
        "source": "persons", "dimensions": ["age_band", "sex"], "granularity": "year"},
    "persons: nationality x exploitation, whole period": {
        "source": "persons", "dimensions": ["nationality_group", "exploitation_type"], "granularity": "whole"},
    "persons: child x NRM stage, by quarter": {
        "source": "persons", "dimensions": ["child", "nrm_stage"], "granularity": "quarter"},
    "events: what happened x recipient kind, by year": {
        "source": "events", "dimensions": ["event", "recipient_kind"], "granularity": "year"},
}
ACTOR = Actor(role="rapporteur", user="bench")


def _truth(request: TableRequest, people: list[dict[str, Any]], events: list[dict[str, Any]]) -> Counter[tuple]:
    rows = people if request.source == "persons" else events
    month = "intake_month" if request.source == "persons" else "month"
    counts: Counter[tuple] = Counter()
    for row in rows:
        if request.period_from <= row[month] <= request.period_to:
            counts[(request.bucket(row[month]), *(row[d] for d in request.dimensions))] += 1
    return counts


def _bounded_truth(request: TableRequest, events: list[dict[str, Any]], cap: int) -> Counter[tuple]:
    """The truth after each person's first ``cap`` events in the period (what the release counts)."""
    seen: Counter[str] = Counter()
    counts: Counter[tuple] = Counter()
    for row in events:  # already in source_seq order
        if request.period_from <= row["month"] <= request.period_to:
            seen[row["unit"]] += 1
            if seen[row["unit"]] <= cap:
                counts[(request.bucket(row["month"]), *(row[d] for d in request.dimensions))] += 1
    return counts


def _exact_ms(session: Any, request: TableRequest) -> float:
    model = StatPerson if request.source == "persons" else StatEvent
    month = model.intake_month if request.source == "persons" else model.month  # type: ignore[attr-defined]
    cols = [getattr(model, d) for d in request.dimensions]
    began = time.perf_counter()
    list(session.execute(select(month, *cols, func.count()).where(month.between(request.period_from,
                                                                                request.period_to))
                         .group_by(month, *cols)))
    return (time.perf_counter() - began) * 1000


def _errors(document: dict[str, Any], truth: Counter[tuple]) -> dict[str, float]:
    published = [(tuple(r[:-1]), r[-1]) for r in document["rows"] if r[-1] is not None]
    suppressed = [tuple(r[:-1]) for r in document["rows"] if r[-1] is None]
    abs_errors = sorted(abs(value - truth.get(cell, 0)) for cell, value in published)
    rel = [abs(value - truth[cell]) / truth[cell] for cell, value in published if truth.get(cell)]
    total = sum(truth.values()) or 1
    return {
        "cells": len(document["rows"]), "published": len(published),
        "mae": round(sum(abs_errors) / len(abs_errors), 2) if abs_errors else 0.0,
        "p95_abs_error": abs_errors[int(0.95 * (len(abs_errors) - 1))] if abs_errors else 0,
        "median_rel_error": round(sorted(rel)[len(rel) // 2], 4) if rel else 0.0,
        "suppressed_share": round(len(suppressed) / len(document["rows"]), 3),
        "mass_in_suppressed": round(sum(truth.get(c, 0) for c in suppressed) / total, 4),
        "expected_error_95": document["expected_error"]["plus_minus"],
    }


def bench_size(n: int, seed: int, workdir: Path) -> dict[str, Any]:
    url = f"sqlite:///{workdir / f'stats-{n}.db'}"
    migrate.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    rng = random.Random(seed)
    began = time.perf_counter()
    people = synthetic_people(n, rng, start=START, months=24)
    events = synthetic_events(people, rng)
    with sessions() as session, session.begin():
        load(session, people, events)
    load_s = time.perf_counter() - began
    policy = ReleasePolicy(budget_per_year=100.0)  # room for every table; each still spends the default 0.5
    seed_key = generate_signing_seed()
    out: dict[str, Any] = {"cases": n, "events": len(events), "load_s": round(load_s, 2), "tables": {}}
    for name, spec in TABLES.items():
        request = TableRequest.parse({**spec, "period_from": "2025-01", "period_to": "2026-12",
                                      "epsilon": ReleasePolicy().default_epsilon}, policy)
        with sessions() as session, session.begin():
            exact = _exact_ms(session, request)
        began = time.perf_counter()
        with sessions() as session, session.begin():
            released = release(session, request, policy, seed=seed_key, actor=ACTOR, now=NOW)
        release_ms = (time.perf_counter() - began) * 1000
        figures = _errors(released.document, _truth(request, people, events))
        if request.source == "events":  # the error of the noise alone, without the bound's bias
            bounded = _errors(released.document, _bounded_truth(request, events, policy.max_contributions))
            figures["mae_noise_only"] = bounded["mae"]
            figures["p95_abs_error_noise_only"] = bounded["p95_abs_error"]
        out["tables"][name] = {"release_ms": round(release_ms, 1), "exact_ms": round(exact, 1),
                               "overhead": round(release_ms / exact, 1) if exact else None, **figures}
    engine.dispose()
    return out


def bench_refresh(cases: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Fill the store from a real audit log of ``cases`` subjects and their audited events."""
    url = f"sqlite:///{workdir / 'refresh.db'}"
    migrate.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    rng = random.Random(seed)
    operator = Actor(role="operator", user="bench")
    ngo = Actor(agency_id="ngo", role="ngo", user="bench")
    with sessions() as session, session.begin():
        for agency_id, kind in (("ngo", AgencyKind.NGO), ("shelter", AgencyKind.SHELTER)):
            registry.register_agency(session, registry.AgencySpec(id=agency_id, name=agency_id, kind=kind,
                                                                  jurisdiction="NL", vetted=True,
                                                                  confidentiality_policy_version="bench-1"),
                                     actor=operator, now=START)
        for i in range(cases):
            at = START + timedelta(days=rng.randrange(700))
            session.add(Subject(id=f"subj_bench_{i}", owner_agency_id="ngo", created_at=at, created_by="bench",
                                age_band=rng.choice(["18-24", "25-34", "16-17"]), country_of_origin="NG",
                                sex="female", exploitation_type="sexual", capacity={}, open_cases=[]))
            session.flush()
            record(session, AuditEvent(AuditTag.SUBJECT_CREATE, subject_id=f"subj_bench_{i}"), actor=ngo, at=at)
            for _ in range(2):
                record(session, AuditEvent(AuditTag.POLICY_DECISION, decision="allow", subject_id=f"subj_bench_{i}",
                                           purpose="shelter", recipient_agency_id="shelter",
                                           basis={"consent_ids": ["c"], "exception": None}), actor=ngo, at=at)
    units = UnitKey(derive_key(generate_signing_seed(), UNIT_LABEL))
    began = time.perf_counter()
    read = refresh_all(sessions, units, home_country="NL", now=NOW, batch=2000)
    elapsed = time.perf_counter() - began
    again = refresh_all(sessions, units, home_country="NL", now=NOW)
    engine.dispose()
    return {"cases": cases, "entries_read": read, "entries_per_s": round(read / elapsed), "second_refresh_read": again}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--refresh-cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    results: dict[str, Any] = {"epsilon_per_table": ReleasePolicy().default_epsilon, "k": ReleasePolicy().k,
                               "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            results["sizes"][str(n)] = bench_size(n, args.seed, Path(tmp))
        results["refresh"] = bench_refresh(args.refresh_cases, args.seed, Path(tmp))
    print(f"{'cases':>9} {'table':<50} {'release ms':>10} {'exact ms':>8} {'MAE':>6} {'p95 err':>7} "
          f"{'med rel':>7} {'suppr.':>6} {'mass lost':>9}")
    for n, size in results["sizes"].items():
        for name, t in size["tables"].items():
            print(f"{n:>9} {name:<50} {t['release_ms']:>10} {t['exact_ms']:>8} {t['mae']:>6} {t['p95_abs_error']:>7} "
                  f"{t['median_rel_error']:>7} {t['suppressed_share']:>6} {t['mass_in_suppressed']:>9}")
    for n, size in results["sizes"].items():
        for name, t in size["tables"].items():
            if "mae_noise_only" in t:
                print(f"{n:>9} {name}: MAE from the noise alone {t['mae_noise_only']}, "
                      f"p95 {t['p95_abs_error_noise_only']} (the rest is the per-person bound's bias)")
    r = results["refresh"]
    print(f"store refresh from the audit log: {r['entries_read']} entries at {r['entries_per_s']} entries/s "
          f"(a second refresh read {r['second_refresh_read']})")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
