"""Synthetic case data for the statistics benchmark and tests: no real person is in it.

The proportions follow the shape of published counter-trafficking data (mostly women and
girls, sexual and labour exploitation the main forms, about one in four a child, a few
nationality groups dominant) so that tables have the mix of large and very small cells real
data has. Randomness comes from the caller's ``random.Random`` (seeded, reproducible).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from .dimensions import Deadline, Event, NrmStage
from .models import StatEvent, StatPerson

__all__ = ["load", "synthetic_events", "synthetic_people"]

_SEX = (("female", 0.70), ("male", 0.28), ("other", 0.005), ("unknown", 0.015))
_EXPLOITATION = (("sexual", 0.45), ("labour", 0.35), ("domestic_servitude", 0.06), ("criminal", 0.05),
                 ("multiple", 0.04), ("other", 0.02), ("unknown", 0.03))
_NATIONALITY = (("national", 0.25), ("europe", 0.22), ("africa", 0.24), ("asia", 0.18), ("americas", 0.06),
                ("oceania", 0.002), ("other", 0.008), ("unknown", 0.04))
_ADULT_BANDS = (("18-24", 0.35), ("25-34", 0.35), ("35-49", 0.22), ("50+", 0.05), ("unknown", 0.03))
_CHILD_BANDS = (("0-11", 0.15), ("12-15", 0.35), ("16-17", 0.50))
_STAGE = ((NrmStage.NOT_REFERRED, 0.30), (NrmStage.AWAITING_STAGE1, 0.08), (NrmStage.STAGE1_POSITIVE, 0.25),
          (NrmStage.STAGE1_NEGATIVE, 0.07), (NrmStage.STAGE2_POSITIVE, 0.25), (NrmStage.STAGE2_NEGATIVE, 0.05))
_EVENTS = ((Event.DECISION_ALLOWED, 0.42), (Event.DECISION_DENIED, 0.12), (Event.REFERRAL, 0.35),
           (Event.EXCEPTION, 0.02), (Event.WITHDRAWAL, 0.04), (Event.COMPLAINT, 0.01),
           (Event.CORRECTION_REQUEST, 0.01), (Event.NRM_DEADLINE_MISSED, 0.03))
_PURPOSES = (("shelter", 0.25), ("protection_support", 0.25), ("nrm_referral", 0.2), ("healthcare", 0.15),
             ("criminal_justice", 0.1), ("return", 0.05))
_RECIPIENTS = (("shelter", 0.3), ("ngo", 0.2), ("healthcare", 0.15), ("competent_authority", 0.15),
               ("police", 0.1), ("iom", 0.1))
_BASES = (("L3", 0.4), ("L1", 0.3), ("L6", 0.3))


def _pick(rng: random.Random, table: Sequence[tuple[Any, float]]) -> str:
    return str(rng.choices([v for v, _ in table], weights=[w for _, w in table])[0])


def _months(start: datetime, count: int) -> list[str]:
    out, year, month = [], start.year, start.month
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def synthetic_people(n: int, rng: random.Random, *, start: datetime, months: int = 24) -> list[dict[str, Any]]:
    """``n`` people as store rows (coarse codes), first recorded over ``months`` months from ``start``."""
    calendar = _months(start, months)
    people = []
    for i in range(n):
        child = rng.random() < 0.24
        stage = _pick(rng, _STAGE)
        deadline = (Deadline.NOT_APPLICABLE if stage == NrmStage.NOT_REFERRED else
                    Deadline.PENDING if stage == NrmStage.AWAITING_STAGE1 else
                    Deadline.MISSED if rng.random() < 0.3 else Deadline.MET)
        people.append({
            "unit": f"{i:032x}", "intake_month": rng.choice(calendar),
            "age_band": _pick(rng, _CHILD_BANDS if child else _ADULT_BANDS), "sex": _pick(rng, _SEX),
            "nationality_group": _pick(rng, _NATIONALITY), "exploitation_type": _pick(rng, _EXPLOITATION),
            "child": "child" if child else "adult", "nrm_stage": str(stage), "stage1_deadline": str(deadline),
            "refreshed_at": start,
        })
    return people


def synthetic_events(people: Sequence[dict[str, Any]], rng: random.Random, *, mean: float = 3.0,
                     first_seq: int = 0) -> list[dict[str, Any]]:
    """About ``mean`` events per person (geometric), in the person's intake month or the next ones."""
    events = []
    seq = first_seq
    for person in people:
        count = 1
        while rng.random() < 1 - 1 / mean:
            count += 1
        year, month = int(person["intake_month"][:4]), int(person["intake_month"][5:])
        for _ in range(count):
            shift = min(int(rng.expovariate(0.5)), 11)
            y, m = year + (month - 1 + shift) // 12, (month - 1 + shift) % 12 + 1
            event = _pick(rng, _EVENTS)
            has_recipient = event in (Event.DECISION_ALLOWED, Event.DECISION_DENIED, Event.REFERRAL, Event.EXCEPTION)
            events.append({
                "source_seq": seq, "unit": person["unit"], "month": f"{y:04d}-{m:02d}", "event": str(event),
                "purpose": _pick(rng, _PURPOSES) if has_recipient or event == Event.WITHDRAWAL else "none",
                "recipient_kind": _pick(rng, _RECIPIENTS) if has_recipient else "none",
                "basis": (_pick(rng, _BASES) if event == Event.EXCEPTION else
                          "consent" if event in (Event.DECISION_ALLOWED, Event.REFERRAL) else "none"),
                "child": person["child"],
            })
            seq += 1
    return events


def load(session: Session, people: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]],
         *, chunk: int = 20_000) -> None:
    """Bulk-insert into the store (the caller's transaction)."""
    for table, rows in ((StatPerson, people), (StatEvent, events)):
        for start in range(0, len(rows), chunk):
            session.execute(insert(table), list(rows[start:start + chunk]))
