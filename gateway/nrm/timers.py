"""NRM deadlines as a pure function of a case's stage times (digest S37, S38, CH14).

* Stage 1 (reasonable grounds) is due 5 days after the referral for an adult, 48 hours for a
  child (CH14); past that, the NRM co-ordinator, the monitoring body and the case owner are told.
* A positive Stage 1 for a child starts a 24-hour clock for the entitlements of CH14: a guardian
  advocate and accommodation must be recorded by then (S37), or an SLA breach goes to the NRM
  co-ordinator and the monitoring body (and the owner, who must act).
* 90 days after a positive Stage 1 without a Stage 2 (conclusive grounds) decision, the recovery
  and reflection period must be extended and the interim residence permit renewed (S38).

No I/O and no clock of its own: the service reads the case, calls :func:`due_alerts` with the
time, and records what it returns exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

STAGE1_DUE_ADULT = timedelta(days=5)
STAGE1_DUE_CHILD = timedelta(hours=48)
CHILD_ENTITLEMENTS_DUE = timedelta(hours=24)
STAGE2_REMINDER = timedelta(days=90)


class AlertKind(StrEnum):
    STAGE1_DECISION_OVERDUE = "stage1_decision_overdue"
    CHILD_ENTITLEMENTS_OVERDUE = "child_entitlements_overdue"
    RECOVERY_PERIOD_EXTENSION_DUE = "recovery_period_extension_due"
    INTERIM_PERMIT_REMINDER = "interim_permit_reminder"


class Audience(StrEnum):
    NRM_COORDINATOR = "nrm_coordinator"
    """Agencies of kind ``competent_authority``: they make and co-ordinate NRM decisions."""
    MONITORING_BODY = "monitoring_body"
    OWNER = "owner"
    """The agency that holds the case and must act."""


@dataclass(frozen=True)
class CaseTimes:
    """What the timers read about one case (times are timezone-aware)."""

    child_at_referral: bool
    """Handled as a child (under 18 or age disputed) when referred: the Stage 1 deadline (CH14)."""
    child_at_stage1: bool
    """Handled as a child when the positive Stage 1 decision came: the entitlements clock (S37)."""
    referred_at: datetime | None
    stage1_outcome: str | None
    stage1_decided_at: datetime | None
    stage2_outcome: str | None
    guardian_advocate_since: datetime | None
    """When the guardian advocate in place at the S37 deadline was recorded; None when none was."""
    accommodation_since: datetime | None
    """When the placement (accommodation) in place at the S37 deadline was recorded; None when none was."""


@dataclass(frozen=True)
class Due:
    kind: AlertKind
    rule: str
    due_at: datetime
    audiences: tuple[Audience, ...]
    missing: tuple[str, ...] = ()


def _recorded_by(since: datetime | None, due_at: datetime) -> bool:
    return since is not None and since <= due_at


def due_alerts(case: CaseTimes, now: datetime) -> list[Due]:
    """Every alert whose deadline has passed at ``now`` (the caller records each one once)."""
    alerts: list[Due] = []
    if case.referred_at is None:
        return alerts
    everyone = (Audience.NRM_COORDINATOR, Audience.MONITORING_BODY, Audience.OWNER)
    if case.stage1_outcome is None:
        child = case.child_at_referral
        due_at = case.referred_at + (STAGE1_DUE_CHILD if child else STAGE1_DUE_ADULT)
        if now >= due_at:
            alerts.append(Due(AlertKind.STAGE1_DECISION_OVERDUE, "CH14" if child else "S38", due_at, everyone))
        return alerts
    if case.stage1_outcome != "positive" or case.stage1_decided_at is None:
        return alerts
    if case.child_at_stage1:
        due_at = case.stage1_decided_at + CHILD_ENTITLEMENTS_DUE
        missing = tuple(name for name, since in (("guardian_advocate", case.guardian_advocate_since),
                                                 ("accommodation", case.accommodation_since))
                        if not _recorded_by(since, due_at))
        if now >= due_at and missing:
            alerts.append(Due(AlertKind.CHILD_ENTITLEMENTS_OVERDUE, "S37", due_at, everyone, missing))
    if case.stage2_outcome is None:
        due_at = case.stage1_decided_at + STAGE2_REMINDER
        if now >= due_at:
            owner_and_nrm = (Audience.OWNER, Audience.NRM_COORDINATOR)
            alerts.append(Due(AlertKind.RECOVERY_PERIOD_EXTENSION_DUE, "S38", due_at, owner_and_nrm))
            alerts.append(Due(AlertKind.INTERIM_PERMIT_REMINDER, "S38", due_at, owner_and_nrm))
    return alerts
