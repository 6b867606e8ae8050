"""The privacy-budget ledger: how much privacy loss each calendar year of data has left.

Every release charges its epsilon to each year its table covers, in the release's own
transaction, and is refused when any of those years would go over the configured budget.
Amounts are kept in micro-epsilon (integers), so sums are exact. On PostgreSQL the years'
rows are locked (``SELECT ... FOR UPDATE``, in a fixed order so two releases never deadlock),
so two releases at once cannot both spend the last of a year's budget; SQLite's writers
hold the database's write lock for the whole transaction, which orders them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .models import StatBudgetPeriod, StatLedgerEntry

__all__ = ["BudgetExceeded", "charge", "entries", "micro", "remaining"]

MICRO = 1_000_000


def micro(epsilon: float) -> int:
    """Epsilon in micro-units, rounded up (a release never charges less than it spends)."""
    whole = round(epsilon * MICRO)
    return whole if abs(whole - epsilon * MICRO) < 1e-6 else int(epsilon * MICRO) + 1


class BudgetExceeded(Exception):
    def __init__(self, period: str, left_micro: int) -> None:
        super().__init__(period)
        self.period = period
        self.left_micro = left_micro


def remaining(session: Session, periods: Iterable[str], budget_micro: int) -> dict[str, int]:
    """What each year has left, in micro-epsilon (a read; nothing is locked)."""
    wanted = sorted(set(periods))
    spent = {period: value for period, value in session.execute(
        select(StatBudgetPeriod.period, StatBudgetPeriod.spent_micro).where(StatBudgetPeriod.period.in_(wanted)))}
    return {p: budget_micro - spent.get(p, 0) for p in wanted}


def _ensure_rows(session: Session, periods: list[str]) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for period in periods:
        session.execute(insert(StatBudgetPeriod).values(period=period, spent_micro=0)
                        .on_conflict_do_nothing(index_elements=["period"]))


def charge(session: Session, periods: Iterable[str], epsilon_micro: int, budget_micro: int) -> dict[str, int]:
    """Spend ``epsilon_micro`` on every year in ``periods``, or raise :class:`BudgetExceeded` (nothing spent).

    Returns what each year has left afterwards. The locks hold until the caller's transaction
    ends; the caller then adds the release and its :func:`entries`.
    """
    wanted = sorted(set(periods))
    _ensure_rows(session, wanted)
    rows = list(session.scalars(select(StatBudgetPeriod).where(StatBudgetPeriod.period.in_(wanted))
                                .order_by(StatBudgetPeriod.period).with_for_update()))
    for row in rows:
        if row.spent_micro + epsilon_micro > budget_micro:
            raise BudgetExceeded(row.period, budget_micro - row.spent_micro)
    left: dict[str, int] = {}
    for row in rows:
        row.spent_micro += epsilon_micro
        left[row.period] = budget_micro - row.spent_micro
    session.flush()
    return left


def entries(periods: Iterable[str], epsilon_micro: int, *, release_id: str, now: datetime) -> list[StatLedgerEntry]:
    """The ledger lines of one release (one per year charged)."""
    return [StatLedgerEntry(release_id=release_id, period=p, epsilon_micro=epsilon_micro, at=now)
            for p in sorted(set(periods))]
