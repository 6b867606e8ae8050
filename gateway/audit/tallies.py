"""How many entries each DPO dashboard holds, without reading the whole log on every visit.

Entries never change, so a count over the entries ``seq < upto`` stays true; the stored
:class:`~gateway.audit.models.AuditTally` keeps such counts, and :func:`dashboard_counts`
adds the entries appended since (a range of the primary key), then moves ``upto`` on. At
national scale (10 M entries) that turns a pass over the whole log into one over the
entries of the last minutes.

Every dashboard's condition holds or not for an entry by itself, except "referrals never
acknowledged": a submission stops counting when its envelope's acknowledgement arrives,
later. It is kept exact as ``expired + submitted - acknowledged``, where *acknowledged*
counts the submissions whose envelope has an acknowledgement among the entries counted;
an acknowledgement appended since then adds the earlier submissions of its envelope (found
by ``ix_audit_entries_envelope``), unless an earlier acknowledgement had counted them
already. The answers equal a count over every entry (the tests compare with one).

Entries below ``upto`` are committed (seqs are handed out under the append lock), so the
counts are exact whatever commits meanwhile. A change of what a dashboard means (the S4
classes of the policy data) starts the tally over, as does a log shorter than ``upto``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from . import tree
from .models import AuditEntry, AuditTally
from .search import DASHBOARDS, sensitive_classes
from .tags import AuditTag

__all__ = ["dashboard_counts"]

_NAME = "dashboards"
_VERSION = 1
_SIMPLE = tuple(name for name in DASHBOARDS if name != "unacknowledged")
_PARTS = (*_SIMPLE, "expired", "submitted", "submitted_without_envelope", "acks", "acknowledged")


def _envelope(entry: Any = AuditEntry) -> ColumnElement[str]:
    return entry.details["envelope_id"].as_string()  # type: ignore[no-any-return]


def _definition(policy_dir: Path | None) -> str:
    return json.dumps({"version": _VERSION, "sensitive": list(sensitive_classes(policy_dir))})


def _submitted(entry: Any = AuditEntry) -> ColumnElement[bool]:
    return and_(entry.action == str(AuditTag.EXCHANGE_SUBMIT), entry.decision == "allow")


def _ack(entry: Any = AuditEntry) -> ColumnElement[bool]:
    return entry.action == str(AuditTag.EXCHANGE_ACK)  # type: ignore[no-any-return]


def _counted(session: Session, policy_dir: Path | None, lo: int, hi: int) -> dict[str, int]:
    """The counts over the entries ``lo <= seq < hi`` (and, for *acknowledged*, what they change)."""
    envelope = _envelope()
    conditions: dict[str, ColumnElement[bool]] = {name: DASHBOARDS[name].condition(policy_dir) for name in _SIMPLE}
    conditions["expired"] = AuditEntry.action == str(AuditTag.EXCHANGE_EXPIRE)
    conditions["submitted"] = and_(_submitted(), envelope.is_not(None))
    conditions["submitted_without_envelope"] = and_(_submitted(), envelope.is_(None))
    conditions["acks"] = and_(_ack(), envelope.is_not(None))
    in_range = and_(AuditEntry.seq >= lo, AuditEntry.seq < hi)
    row = session.execute(select(*(func.coalesce(func.sum(case((c, 1), else_=0)), 0) for c in conditions.values()))
                          .where(in_range)).one()
    counts = {name: int(row[i]) for i, name in enumerate(conditions)}
    # Submissions in the range whose envelope was acknowledged before ``hi``.
    ack = aliased(AuditEntry)
    acked_before_hi = exists().where(_ack(ack), _envelope(ack) == envelope, ack.seq < hi)
    counts["acknowledged"] = int(session.scalar(
        select(func.count()).select_from(AuditEntry).where(in_range, _submitted(), envelope.is_not(None),
                                                           acked_before_hi)) or 0)
    if lo > 0:
        # Earlier submissions whose envelope's first acknowledgement is in the range.
        first_ack = aliased(AuditEntry)
        earlier = aliased(AuditEntry)
        newly_acked = (select(_envelope(first_ack)).where(
            _ack(first_ack), first_ack.seq >= lo, first_ack.seq < hi, _envelope(first_ack).is_not(None),
            ~exists().where(_ack(earlier), _envelope(earlier) == _envelope(first_ack), earlier.seq < lo)))
        counts["acknowledged"] += int(session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.seq < lo, _submitted(),
                                                               envelope.in_(newly_acked))) or 0)
    return counts


def dashboard_counts(session: Session, policy_dir: Path | None) -> dict[str, int]:
    """How many entries each dashboard holds, from the stored tally and the entries since.

    Call inside a writing transaction: the tally is moved on to the current size.
    """
    size = tree.tree_size(session)
    definition = _definition(policy_dir)
    tally = session.get(AuditTally, _NAME)
    fresh = tally is None or tally.definition != definition or not 0 <= tally.upto <= size
    start = 0 if fresh or tally is None else int(tally.upto)
    before = {} if fresh or tally is None else dict(tally.counts)
    counts = {name: int(before.get(name, 0)) for name in _PARTS}
    if size > start:
        added = _counted(session, policy_dir, start, size)
        counts = {name: counts[name] + added[name] for name in _PARTS}
        if tally is None:
            session.add(AuditTally(name=_NAME, definition=definition, upto=size, counts=counts))
        else:
            tally.definition, tally.upto, tally.counts = definition, size, counts
        session.flush()
    out = {name: counts[name] for name in _SIMPLE}
    # A submission without an envelope id counts only while no acknowledgement has one
    # ("NOT IN" over an empty set is true, over a set without it unknown).
    unacknowledged = counts["expired"] + counts["submitted"] - counts["acknowledged"]
    if counts["acks"] == 0:
        unacknowledged += counts["submitted_without_envelope"]
    out["unacknowledged"] = unacknowledged
    return {name: out[name] for name in DASHBOARDS}
