"""Human-readable explanations of decisions, for the DPO console and for debugging.

A decision already carries ``explanation``: the sorted ids of the policy rules that fired
(for example ``CR18.profile`` or ``firewall.immigration``) and, per denied field, a reason
code. This module turns codes into the one-line texts of ``policies/data/reasons.json``.
Nothing here reads or prints input values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.policy.bundle import PolicyBundle
from gateway.policy.decision import Decision

__all__ = ["ReasonText", "explain", "reason_texts"]


@dataclass(frozen=True)
class ReasonText:
    """A reason code with its rule id and its one-line explanation."""

    code: str
    rule: str
    text: str
    field: str | None = None


def reason_texts(bundle: PolicyBundle) -> Mapping[str, Mapping[str, Any]]:
    """The reason catalogue (code -> priority, scope, explain, text)."""
    catalogue: Mapping[str, Mapping[str, Any]] = bundle.documents["reasons"]["reasons"]
    return catalogue


def explain(decision: Decision, bundle: PolicyBundle) -> list[ReasonText]:
    """Every overall reason, then every denied field, with its text."""
    catalogue = reason_texts(bundle)
    lines = [_line(catalogue, code, None) for code in decision.reasons]
    lines.extend(_line(catalogue, d.reason, d.field) for d in decision.denied_fields)
    return lines


def _line(catalogue: Mapping[str, Mapping[str, Any]], code: str, field: str | None) -> ReasonText:
    entry = catalogue.get(code, {})
    return ReasonText(
        code=code,
        rule=str(entry.get("explain", "unknown")),
        text=str(entry.get("text", "Unknown reason code.")),
        field=field,
    )
