"""The retention schedule in the policy data (``policies/data/retention.json``): pure look-ups.

Per kind of record the gateway holds, a default period in days, and profiles that apply when
all of their conditions match the record (its data classes, purpose, jurisdiction). The
strictest applicable period (the shortest) wins. :mod:`gateway.retention_purge` applies it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "Profile", "Schedule", "load_schedule"]

KINDS = ("subject_attributes", "consents_ended", "person_notices", "portal_requests", "plans", "idempotency_keys",
         "assertions", "throttles", "agency_notices", "exception_grants", "linkage_rows", "alerts", "envelope_metadata",
         "information_requests", "retention_notices", "subject_orders", "retention_warnings")
_CONDITIONS = ("data_class", "purpose", "jurisdiction")


@dataclass(frozen=True)
class Profile:
    name: str
    when: Mapping[str, frozenset[str]]
    keep_days: Mapping[str, int]

    def applies(self, *, classes: Iterable[str], purpose: str | None, jurisdiction: str | None) -> bool:
        for condition, values in self.when.items():
            if condition == "data_class" and not values & set(classes):
                return False
            if condition == "purpose" and purpose not in values:
                return False
            if condition == "jurisdiction" and (jurisdiction or "").upper() not in values:
                return False
        return True


@dataclass(frozen=True)
class Schedule:
    version: str
    default: Mapping[str, int]
    profiles: tuple[Profile, ...]
    ack_days: int = 7
    """Days a recipient has to acknowledge a sealing or erasure notice."""
    key_details_days: int = 90
    """Days after the last verification of a subject's key details before they are stale."""
    warn_days: int = 14
    """Days before a scheduled deletion that the holding agency and the DPO are warned."""

    def keep_days(self, kind: str, *, classes: Iterable[str] = (), purpose: str | None = None,
                  jurisdiction: str | None = None) -> tuple[int, str]:
        """The period for a record of ``kind`` and the profile it comes from (``default`` if none is stricter)."""
        days, source = self.default[kind], "default"
        wanted = tuple(classes)
        for profile in self.profiles:
            if kind in profile.keep_days and profile.keep_days[kind] < days and profile.applies(
                    classes=wanted, purpose=purpose, jurisdiction=jurisdiction):
                days, source = profile.keep_days[kind], profile.name
        return days, source

    def shortest(self, kind: str) -> int:
        """The strictest period any record of ``kind`` may get (what a query can use as a first cut)."""
        return min([self.default[kind], *(p.keep_days[kind] for p in self.profiles if kind in p.keep_days)])


def _days(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 36_500:
        raise ValueError(f"{where}: a period is a whole number of days from 0 to 36500")
    return value


def parse_schedule(document: Mapping[str, Any]) -> Schedule:
    """The schedule in ``document``; a ValueError names the first thing wrong (fail closed)."""
    default = document.get("default")
    if not isinstance(default, dict) or set(default) != set(KINDS):
        raise ValueError(f"default: needs exactly the kinds {', '.join(KINDS)}")
    profiles = []
    for i, raw in enumerate(document.get("profiles") or []):
        where = f"profiles[{i}]"
        when, keep = raw.get("when"), raw.get("keep_days")
        if not isinstance(when, dict) or not when or set(when) - set(_CONDITIONS):
            raise ValueError(f"{where}.when: conditions are {', '.join(_CONDITIONS)}")
        if not isinstance(keep, dict) or not keep or set(keep) - set(KINDS):
            raise ValueError(f"{where}.keep_days: unknown kind")
        profiles.append(Profile(
            name=str(raw.get("name") or where),
            when={k: frozenset(str(v).upper() if k == "jurisdiction" else str(v) for v in values)
                  for k, values in when.items()},
            keep_days={k: _days(v, f"{where}.keep_days.{k}") for k, v in keep.items()}))
    broadcast, review = document.get("broadcast") or {}, document.get("review") or {}
    return Schedule(version=str(document.get("version") or "unversioned"),
                    default={k: _days(v, f"default.{k}") for k, v in default.items()}, profiles=tuple(profiles),
                    ack_days=_days(broadcast.get("ack_days", 7), "broadcast.ack_days"),
                    key_details_days=_days(review.get("key_details_days", 90), "review.key_details_days"),
                    warn_days=_days(review.get("warn_days_before_purge", 14), "review.warn_days_before_purge"))


@cache
def load_schedule(policy_dir: Path) -> Schedule:
    return parse_schedule(json.loads((policy_dir / "data" / "retention.json").read_text(encoding="utf-8")))
