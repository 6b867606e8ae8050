"""The console's charts: counts from the audit log and the NRM alerts, drawn on the server as SVG
with matplotlib (Agg backend, text kept as text, deterministic ids) and served as images, so the
console's Content-Security-Policy (no inline style) holds. Each chart's numbers are one click away
on its page, in a table.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.models import AuditEntry
from ..audit.search import sensitive_classes
from ..nrm.models import SlaAlert

matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "safe-referral-console", "font.size": 10})

WINDOW_DAYS = 90
ROW_LIMIT = 50_000
"""At most this many recent entries are counted per chart (the console shows the window it read)."""


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


def _recent(session: Session, since: datetime) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.at >= since)
                                .order_by(AuditEntry.seq.desc()).limit(ROW_LIMIT)))


def build_charts(session: Session, now: datetime, policy_dir: Path | None) -> dict[str, Chart]:
    """The four charts over the last ``WINDOW_DAYS`` days."""
    since = now - timedelta(days=WINDOW_DAYS)
    entries = _recent(session, since)
    denials = Counter(e.reason or "unspecified" for e in entries if e.decision == "deny")
    bases = Counter(str((e.basis or {}).get("exception")) for e in entries
                    if (e.basis or {}).get("exception") and e.decision == "allow")
    sensitive = set(sensitive_classes(policy_dir))
    by_recipient = Counter(e.recipient_agency_id or "(none)" for e in entries
                           if sensitive & set(e.classes_released or ()))
    alerts = session.scalars(select(SlaAlert).where(SlaAlert.due_at >= since)).all()
    by_week: Counter[str] = Counter()
    for alert in alerts:
        monday = (alert.due_at - timedelta(days=alert.due_at.weekday())).date()
        by_week[f"{monday.isoformat()} {alert.kind}"] += 1
    return {
        "denials": Chart("denials", "Denied requests by reason", "Each refusal the gateway recorded, by its reason.",
                         "refusals", tuple(denials.most_common(12))),
        "exceptions": Chart("exceptions", "Exception use by legal basis",
                            "Requests allowed under a lawful exception instead of consent, by basis.", "uses",
                            tuple(sorted(bases.items()))),
        "sensitive": Chart("sensitive", "Most sensitive classes (S4) released, by recipient",
                           f"Entries that released any of {', '.join(sorted(sensitive))}, by receiving agency.",
                           "releases", tuple(by_recipient.most_common(12))),
        "deadlines": Chart("deadlines", "NRM deadline alerts by week due",
                           "Missed or approaching NRM deadlines (S37, S38, CH14), by the week they fell due "
                           "and their kind.", "alerts", tuple(sorted(by_week.items()))),
    }


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
