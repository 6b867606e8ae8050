"""Building a table and releasing it with differential privacy, small-cell suppression and a budget.

What a release does, in order:

1. counts, from the statistics store, every combination of the chosen breakdowns and time
   periods (the list of combinations is public: it comes from the vocabularies, not the data);
   an events table first keeps at most ``max_contributions`` records of each person, so one
   person changes the whole table by at most that many;
2. charges its epsilon to every calendar year the table covers, and is refused if any year
   would go over its budget (:mod:`.ledger`);
3. adds noise with OpenDP: ``make_laplace`` over the vector of integer counts (so the discrete
   Laplace mechanism; pure epsilon-differential privacy, delta = 0), with the noise scale that
   OpenDP's own privacy map certifies for the epsilon asked, given the table's sensitivity (one
   person changes the vector by at most 1, or ``max_contributions`` for events, in L1);
4. then, as post-processing (no extra privacy cost), drops negative noise to 0 and suppresses
   every cell under ``k`` (default 11): no published cell is below ``k``;
5. signs the result (parameters, what was suppressed, expected error) with the gateway's key,
   stores it and writes the audit entry, all in one transaction.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from typing import Any

import opendp.prelude as dp
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from crypto.keys import jwk_kid, signing_public_key
from crypto.signing import sign_document
from kernel.ids import SHORT, new_id

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from . import ledger
from .dimensions import DIMENSIONS, Granularity, Source
from .files import release_csv
from .models import StatEvent, StatPerson, StatRelease

__all__ = [
    "Cost",
    "Measured",
    "ReleasePolicy",
    "Released",
    "StatisticsRefused",
    "TableRequest",
    "cost",
    "measure",
    "release",
]

dp.enable_features("contrib")

DOCUMENT_TYPE = "safe-referral-gateway/statistics-release/v1"
ALPHA = 0.05
"""Expected error is stated as the bound the noise stays within 95 times out of 100."""
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class StatisticsRefused(Exception):
    """A request that cannot be released; ``reason`` is the machine-readable code."""

    def __init__(self, reason: str, detail: str, *, status: int = 422, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.extra = dict(extra or {})


@dataclass(frozen=True)
class ReleasePolicy:
    """The configured limits (``GATEWAY_STATISTICS_*``)."""

    budget_per_year: float = 2.0
    default_epsilon: float = 0.5
    k: int = 11
    max_contributions: int = 10
    max_cells: int = 5000
    home_country: str = ""
    min_epsilon: float = 0.01

    @property
    def budget_micro(self) -> int:
        return ledger.micro(self.budget_per_year)


@dataclass(frozen=True)
class TableRequest:
    source: Source
    dimensions: tuple[str, ...]
    period_from: str
    period_to: str
    granularity: Granularity
    epsilon: float

    @classmethod
    def parse(cls, raw: Mapping[str, Any], policy: ReleasePolicy) -> TableRequest:
        """Check a request from a form or a JSON body; :class:`StatisticsRefused` names the first problem."""
        try:
            source = Source(str(raw.get("source", "")))
        except ValueError:
            raise StatisticsRefused("unknown_source", "source must be one of: persons, events.") from None
        dims = raw.get("dimensions", [])
        if isinstance(dims, str):
            dims = [d for d in dims.split(",") if d]
        if not isinstance(dims, list | tuple) or not all(isinstance(d, str) for d in dims):
            raise StatisticsRefused("invalid_dimensions", "dimensions must be a list of names.")
        if len(set(dims)) != len(dims) or not 0 < len(dims) <= 4:
            raise StatisticsRefused("invalid_dimensions", "Choose one to four different breakdowns.")
        for name in dims:
            dim = DIMENSIONS.get(name)
            if dim is None or source not in dim.sources:
                raise StatisticsRefused("unknown_dimension", f"No breakdown {name[:40]!r} for {source} tables.")
        try:
            granularity = Granularity(str(raw.get("granularity", "year")))
        except ValueError:
            raise StatisticsRefused("invalid_granularity", "granularity must be month, quarter, year or whole.") \
                from None
        start, end = str(raw.get("period_from", "")), str(raw.get("period_to", ""))
        if not _MONTH.match(start) or not _MONTH.match(end) or end < start:
            raise StatisticsRefused("invalid_period", "period_from and period_to are months (YYYY-MM), in order.")
        eps_raw = raw.get("epsilon", policy.default_epsilon)
        try:
            epsilon = float(eps_raw) if not isinstance(eps_raw, bool) else float("nan")
        except (TypeError, ValueError):
            epsilon = float("nan")
        if not policy.min_epsilon <= epsilon <= policy.budget_per_year:
            raise StatisticsRefused("invalid_epsilon",
                                    f"epsilon must be between {policy.min_epsilon} and {policy.budget_per_year}.")
        request = cls(source, tuple(dims), start, end, granularity, round(epsilon, 6))
        if request.cell_count > policy.max_cells:
            raise StatisticsRefused("table_too_large", f"The table would have {request.cell_count} cells; "
                                    f"at most {policy.max_cells}. Choose fewer breakdowns or a coarser period.")
        return request

    # -- shape ---------------------------------------------------------------------

    @property
    def months(self) -> list[str]:
        year, month = int(self.period_from[:4]), int(self.period_from[5:])
        out = []
        while f"{year:04d}-{month:02d}" <= self.period_to:
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def bucket(self, month: str) -> str:
        if self.granularity == Granularity.MONTH:
            return month
        if self.granularity == Granularity.QUARTER:
            return f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
        if self.granularity == Granularity.YEAR:
            return month[:4]
        return f"{self.period_from}..{self.period_to}"

    @property
    def buckets(self) -> list[str]:
        return list(dict.fromkeys(self.bucket(m) for m in self.months))

    @property
    def years(self) -> list[str]:
        return sorted({m[:4] for m in self.months})

    @property
    def columns(self) -> list[str]:
        return ["period", *self.dimensions]

    @property
    def cell_count(self) -> int:
        count = len(self.buckets)
        for name in self.dimensions:
            count *= len(DIMENSIONS[name].values)
        return count

    def cells(self) -> list[tuple[str, ...]]:
        """Every combination, in a fixed order: public, whatever the data."""
        return list(itertools.product(self.buckets, *(DIMENSIONS[d].values for d in self.dimensions)))

    def describe(self) -> dict[str, Any]:
        return {"source": str(self.source), "dimensions": list(self.dimensions), "granularity": str(self.granularity),
                "period_from": self.period_from, "period_to": self.period_to}


@dataclass(frozen=True)
class Cost:
    """What a release would cost and how accurate it would be, before anything is spent."""

    epsilon: float
    delta: float
    sensitivity: int
    scale: float
    error95: float
    cells: int
    years: list[str]
    left_before: dict[str, float]
    left_after: dict[str, float]
    affordable: bool
    k: int
    plain: str = ""
    privacy_unit: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "delta": self.delta, "sensitivity": self.sensitivity,
                "noise_scale": self.scale, "expected_error_95": self.error95, "cells": self.cells,
                "budget_years": self.years, "budget_left_before": self.left_before,
                "budget_left_after": self.left_after, "affordable": self.affordable, "k": self.k,
                "expected_error": self.plain, "privacy_unit": self.privacy_unit}


def _sensitivity(request: TableRequest, policy: ReleasePolicy) -> int:
    return 1 if request.source == Source.PERSONS else policy.max_contributions


def _measurement(cells: int, sensitivity: int, epsilon: float) -> tuple[Any, float]:
    """OpenDP's Laplace measurement on a vector of integer counts (so the discrete Laplace mechanism),
    at the smallest scale whose certified privacy loss for an L1 change of ``sensitivity`` (one
    person) is at most ``epsilon``."""
    space = (dp.vector_domain(dp.atom_domain(T=int), size=cells), dp.l1_distance(T=int))
    scale = sensitivity / epsilon
    for _ in range(64):
        measurement = dp.m.make_laplace(*space, scale=scale)
        if measurement.map(sensitivity) <= epsilon:  # type: ignore[no-untyped-call]
            return measurement, scale
        scale *= 1 + 1e-9
    raise RuntimeError("no noise scale met the privacy map")  # pragma: no cover - OpenDP's map is exact


def _error95(scale: float) -> float:
    return round(float(dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA)), 1)


def _unit_words(request: TableRequest, policy: ReleasePolicy) -> str:
    if request.source == Source.PERSONS:
        return "one person (each person is one row of the table)"
    return (f"one person (at most {policy.max_contributions} of a person's records are counted in one table; "
            "records beyond that are left out, so counts of very frequent events are low)")


def plain_error(error95: float, k: int, epsilon: float) -> str:
    return (f"Each published count is within plus or minus {error95:g} of the true count 95 times out of 100: "
            f"random noise was added on purpose (privacy loss epsilon = {epsilon:g}), so that no count can "
            f"show whether any one person is in the data. Counts below {k} are not published; they are shown "
            f"as suppressed, which means 'fewer than {k}, or too uncertain to show', not zero. Totals you add "
            f"up yourself carry the noise of every cell in them.")


def cost(session: Session, request: TableRequest, policy: ReleasePolicy) -> Cost:
    """The price and accuracy of ``request`` against today's ledger (nothing is spent)."""
    sensitivity = _sensitivity(request, policy)
    scale = sensitivity / request.epsilon
    error = _error95(scale)
    left = ledger.remaining(session, request.years, policy.budget_micro)
    charge = ledger.micro(request.epsilon)
    return Cost(
        epsilon=request.epsilon, delta=0.0, sensitivity=sensitivity, scale=round(scale, 6), error95=error,
        cells=request.cell_count, years=request.years,
        left_before={y: v / ledger.MICRO for y, v in left.items()},
        left_after={y: (v - charge) / ledger.MICRO for y, v in left.items()},
        affordable=all(v >= charge for v in left.values()), k=policy.k,
        plain=plain_error(error, policy.k, request.epsilon), privacy_unit=_unit_words(request, policy),
    )


@dataclass
class Measured:
    """The noisy, suppressed table (before it is signed)."""

    rows: list[list[Any]]
    suppressed: list[list[str]]
    scale: float
    extra: dict[str, Any] = field(default_factory=dict)


def true_counts(session: Session, request: TableRequest, policy: ReleasePolicy) -> dict[tuple[str, ...], int]:
    """The exact count of every non-empty cell, one person bounded to ``max_contributions`` records.

    Events: each person's records are numbered in the order they happened (``ROW_NUMBER() OVER
    (PARTITION BY unit ...)``) and only the first ``max_contributions`` in the period are counted,
    so adding or removing one person changes the whole vector of counts by at most that much
    (its L1 sensitivity). Persons: one row per person, sensitivity 1.
    """
    months = (request.period_from, request.period_to)
    if request.source == Source.PERSONS:
        cols = [getattr(StatPerson, d) for d in request.dimensions]
        query = (select(StatPerson.intake_month, *cols, func.count()).where(StatPerson.intake_month.between(*months))
                 .group_by(StatPerson.intake_month, *cols))
    else:
        person = func.coalesce(StatEvent.unit, cast(StatEvent.source_seq, String))
        numbered = (select(StatEvent.month, *(getattr(StatEvent, d) for d in request.dimensions),
                           func.row_number().over(partition_by=person, order_by=StatEvent.source_seq).label("nth"))
                    .where(StatEvent.month.between(*months)).subquery())
        cols = [numbered.c[d] for d in request.dimensions]
        query = (select(numbered.c.month, *cols, func.count()).where(numbered.c.nth <= policy.max_contributions)
                 .group_by(numbered.c.month, *cols))
    counts: dict[tuple[str, ...], int] = {}
    for row in session.execute(query):
        cell = (request.bucket(row[0]), *row[1:-1])
        counts[cell] = counts.get(cell, 0) + int(row[-1])
    return counts


def mechanism(request: TableRequest, policy: ReleasePolicy) -> tuple[Any, float]:
    """The OpenDP measurement for ``request`` (noise on the vector of its cells' counts) and its scale."""
    return _measurement(request.cell_count, _sensitivity(request, policy), request.epsilon)


def publish(cells: Sequence[tuple[str, ...]], noisy: Sequence[int], k: int) -> tuple[list[list[Any]], list[list[str]]]:
    """Post-processing of the noisy counts: negatives to 0, every count below ``k`` suppressed (None)."""
    rows: list[list[Any]] = []
    suppressed: list[list[str]] = []
    for cell, value in zip(cells, noisy, strict=True):
        shown = max(int(value), 0)
        if shown < k:
            rows.append([*cell, None])
            suppressed.append(list(cell))
        else:
            rows.append([*cell, shown])
    return rows, suppressed


def measure(counts: Mapping[tuple[str, ...], int], request: TableRequest, policy: ReleasePolicy) -> Measured:
    """Noise (OpenDP) over every public cell, then suppression (post-processing)."""
    measurement, scale = mechanism(request, policy)
    cells = request.cells()
    rows, suppressed = publish(cells, measurement([counts.get(cell, 0) for cell in cells]), policy.k)
    return Measured(rows=rows, suppressed=suppressed, scale=scale)


@dataclass(frozen=True)
class Released:
    release: StatRelease
    document: dict[str, Any]
    signature: str
    left_after: dict[str, float]


def release(session: Session, request: TableRequest, policy: ReleasePolicy, *, seed: bytes, actor: Actor,
            now: datetime, request_id: str | None = None) -> Released:
    """Charge the budget, measure, sign, store and audit, in the caller's transaction.

    Raises :class:`StatisticsRefused` (``privacy_budget_exhausted``, 409) when a year covered has
    not enough budget left; nothing is spent or published then.
    """
    release_id = new_id("rel", size=SHORT)
    charge = ledger.micro(request.epsilon)
    try:
        left = ledger.charge(session, request.years, charge, policy.budget_micro)
    except ledger.BudgetExceeded as exc:
        raise StatisticsRefused(
            "privacy_budget_exhausted",
            f"The privacy budget for {exc.period} has {exc.left_micro / ledger.MICRO:g} left; this table needs "
            f"{request.epsilon:g}. Ask for a smaller epsilon, or wait for the next period's budget.",
            status=409, extra={"period": exc.period, "budget_left": exc.left_micro / ledger.MICRO},
        ) from None
    measured = measure(true_counts(session, request, policy), request, policy)
    sensitivity = _sensitivity(request, policy)
    error = _error95(measured.scale)
    public = signing_public_key(seed)
    document: dict[str, Any] = {
        "type": DOCUMENT_TYPE,
        "release_id": release_id,
        "released_at": now.isoformat(),
        "released_by": {"role": actor.role, "user": actor.user, "agency_id": actor.agency_id},
        "table": request.describe(),
        "parameters": {
            "epsilon": request.epsilon, "delta": 0, "k": policy.k,
            "mechanism": "OpenDP make_laplace on integer counts (discrete Laplace), pure epsilon-DP",
            "opendp_version": version("opendp"),
            "privacy_unit": _unit_words(request, policy),
            "neighbouring": "add or remove one person",
            "max_records_per_person": sensitivity,
            "noise_scale": measured.scale,
            "budget_period": "calendar year of data",
            "budget_per_period": policy.budget_per_year,
            "budget_years_charged": request.years,
        },
        "expected_error": {"confidence": 1 - ALPHA, "plus_minus": error,
                           "plain": plain_error(error, policy.k, request.epsilon)},
        "suppressed": {"count": len(measured.suppressed), "rule": f"noisy count below k = {policy.k}",
                       "cells": measured.suppressed},
        "columns": [*request.columns, "count"],
        "rows": measured.rows,
        "key_id": jwk_kid(public),
    }
    signature = sign_document(seed, document)
    row = StatRelease(id=release_id, released_at=now, released_by=actor.user or actor.agency_id or "unknown",
                      requester_role=actor.role or "unknown", source=str(request.source), epsilon=request.epsilon,
                      cells=len(measured.rows), suppressed=len(measured.suppressed), document=document,
                      signature=signature, csv=release_csv(document, seed))
    session.add(row)
    session.flush()
    session.add_all(ledger.entries(request.years, charge, release_id=release_id, now=now))
    record(session, AuditEvent(
        AuditTag.STATISTICS_RELEASE, decision="allow", purpose="statistics",
        details={"release_id": release_id, **request.describe(), "epsilon": request.epsilon, "delta": 0,
                 "k": policy.k, "cells": len(measured.rows), "suppressed": len(measured.suppressed),
                 "budget_years": request.years},
    ), actor=actor, at=now, request_id=request_id)
    return Released(release=row, document=document, signature=signature,
                    left_after={y: v / ledger.MICRO for y, v in left.items()})
