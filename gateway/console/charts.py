"""The console's charts: counts from the audit log and the NRM alerts, drawn on the server as SVG
with matplotlib (Agg backend, text kept as text, deterministic ids) and served as images, so the
console's Content-Security-Policy (no inline style) holds. Each chart's numbers are one click away
on its page, in a table.

The database counts (``GROUP BY`` day and category over the window, on the ``at`` index): what
comes back is one row per day and category, however many millions of entries the window holds,
and Python only folds days into the chart's bars (or weeks).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
from sqlalchemy import ColumnElement, Text, cast, func, literal_column, or_, select
from sqlalchemy.orm import Session

from ..audit.models import AuditEntry
from ..audit.search import sensitive_classes
from ..nrm.models import SlaAlert

matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "safe-referral-console", "font.size": 10})

WINDOW_DAYS = 90


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    description: str
    unit: str
    rows: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(v for _, v in self.rows)


def _day(session: Session, column: Any) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp, as ``YYYY-MM-DD`` text, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM-DD'"))
    return func.date(column)  # SQLite keeps UTC timestamps as ISO text


def _per_day(session: Session, at: Any, label: Any,
             *where: ColumnElement[bool]) -> list[tuple[date, str, int]]:
    """``(day, label, count)`` for each day and label with any rows: counted by the database, so the
    rows read are bounded by days x labels, not by the entries counted."""
    inner = select(_day(session, at).label("day"), label.label("label")).where(*where).subquery()
    grouped = (select(inner.c.day, inner.c.label, func.count().label("n"))
               .group_by(inner.c.day, inner.c.label).order_by(inner.c.day, inner.c.label))
    return [(date.fromisoformat(str(day)), "" if label_ is None else str(label_), int(n))
            for day, label_, n in session.execute(grouped)]


def _by_label(counted: list[tuple[date, str, int]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for _, label, n in counted:
        totals[label] += n
    return totals


def _denials(session: Session, since: datetime, policy_dir: Path | None) -> Chart:
    counted = _per_day(session, AuditEntry.at, func.coalesce(AuditEntry.reason, "unspecified"),
                       AuditEntry.at >= since, AuditEntry.decision == "deny")
    return Chart("denials", "Denied requests by reason", "Each refusal the gateway recorded, by its reason.",
                 "refusals", tuple(_by_label(counted).most_common(12)))


def _exceptions(session: Session, since: datetime, policy_dir: Path | None) -> Chart:
    exception = AuditEntry.basis["exception"].as_string()
    counted = _per_day(session, AuditEntry.at, exception, AuditEntry.at >= since, AuditEntry.decision == "allow",
                       exception.is_not(None), exception != "")
    return Chart("exceptions", "Exception use by legal basis",
                 "Requests allowed under a lawful exception instead of consent, by basis.", "uses",
                 tuple(sorted(_by_label(counted).items())))


def _sensitive(session: Session, since: datetime, policy_dir: Path | None) -> Chart:
    sensitive = sorted(sensitive_classes(policy_dir))
    # The stored JSON text of a class list holds each class quoted ("D9"): a LIKE on the quoted name
    # matches exactly that class on both databases (as the console's search does).
    released = cast(AuditEntry.classes_released, Text)
    counted = _per_day(session, AuditEntry.at, func.coalesce(AuditEntry.recipient_agency_id, "(none)"),
                       AuditEntry.at >= since, or_(*(released.like(f'%"{c}"%') for c in sensitive)))
    return Chart("sensitive", "Most sensitive classes (S4) released, by recipient",
                 f"Entries that released any of {', '.join(sensitive)}, by receiving agency.",
                 "releases", tuple(_by_label(counted).most_common(12)))


def _deadlines(session: Session, since: datetime, policy_dir: Path | None) -> Chart:
    by_week: Counter[str] = Counter()
    for day, kind, n in _per_day(session, SlaAlert.due_at, SlaAlert.kind, SlaAlert.due_at >= since):
        monday = day - timedelta(days=day.weekday())
        by_week[f"{monday.isoformat()} {kind}"] += n
    return Chart("deadlines", "NRM deadline alerts by week due",
                 "Missed or approaching NRM deadlines (S37, S38, CH14), by the week they fell due "
                 "and their kind.", "alerts", tuple(sorted(by_week.items())))


CHARTS: dict[str, Callable[[Session, datetime, Path | None], Chart]] = {
    "denials": _denials, "exceptions": _exceptions, "sensitive": _sensitive, "deadlines": _deadlines,
}
"""Each chart by name: one grouped query each."""


def build_charts(session: Session, now: datetime, policy_dir: Path | None,
                 names: tuple[str, ...] | None = None) -> dict[str, Chart]:
    """The charts (all, or those ``names``) over the last ``WINDOW_DAYS`` days."""
    since = now - timedelta(days=WINDOW_DAYS)
    return {name: CHARTS[name](session, since, policy_dir) for name in (names or tuple(CHARTS)) if name in CHARTS}


def render_svg(chart: Chart) -> bytes:
    """A horizontal bar chart as SVG, with a <title> and <desc> naming every bar's number."""
    labels = [label for label, _ in chart.rows] or ["(nothing in this window)"]
    values = [value for _, value in chart.rows] or [0]
    height = 1.2 + 0.38 * len(labels)
    figure, axes = plt.subplots(figsize=(7.5, height))
    try:
        bars = axes.barh(range(len(labels)), values, color="#1f5f99")
        axes.set_yticks(range(len(labels)), labels)
        axes.invert_yaxis()
        axes.set_xlabel(chart.unit)
        axes.bar_label(bars, padding=3)
        axes.spines[["top", "right"]].set_visible(False)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(0, max(1, *values) * 1.1)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Title": chart.title,
                                                        "Description": _describe(chart)})
    finally:
        plt.close(figure)
    return buffer.getvalue().encode()


def _describe(chart: Chart) -> str:
    if not chart.rows:
        return f"{chart.title}: nothing in the last {WINDOW_DAYS} days."
    return f"{chart.title}, last {WINDOW_DAYS} days: " + "; ".join(f"{k}: {v}" for k, v in chart.rows) + "."
