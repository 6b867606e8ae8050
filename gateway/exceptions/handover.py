"""The handover at 18 (CH22): when a child with a guardian advocate comes of age, the guardian
advocate's service and the agency holding the case are told to start the handover to an independent
advocate with the young adult, whose own consent governs from then on.

A scheduled job (:mod:`gateway.scheduler`), idempotent and safe on several replicas: a prompt is
sent once per subject and agency (an existing ``adult_handover_due`` notice is not repeated), and
only within :data:`PROMPT_WINDOW` of the month the person came of age (``adult_on`` is kept to the
month, issue 17), so a notice deleted by the retention schedule years later is not sent again.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.subjects import Subject

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from .models import AgencyNotice
from .service import notify_agency

__all__ = ["KIND", "PROMPT_WINDOW", "prompt_handovers"]

KIND = "adult_handover_due"
PROMPT_WINDOW = timedelta(days=90)
"""How long after coming of age a missed prompt is still sent (a job that was down catches up)."""


def prompt_handovers(session: Session, now: datetime) -> int:
    """Tell the guardian advocate's service and the owner agency of every person who came of age in
    the window and has a guardian advocate on record; returns how many notices were sent."""
    today = now.date()
    due = session.scalars(select(Subject).where(
        Subject.adult_on.is_not(None), Subject.adult_on <= today,
        Subject.adult_on > today - PROMPT_WINDOW, Subject.guardian_advocate_agency_id.is_not(None)))
    sent = 0
    for subject in due:
        adult_on: date = subject.adult_on  # type: ignore[assignment]  # filtered above
        told = set(session.scalars(select(AgencyNotice.agency_id).where(
            AgencyNotice.subject_id == subject.id, AgencyNotice.kind == KIND)))
        for agency_id in sorted({subject.guardian_advocate_agency_id or "", subject.owner_agency_id} - told - {""}):
            notify_agency(session, agency_id, subject.id, KIND, now=now, details={
                "adult_on": adult_on.isoformat()[:7], "action": "start_handover_to_independent_advocate",
                "guardian_advocate_id": subject.guardian_advocate_id})
            record(session, AuditEvent(AuditTag.CHILD_HANDOVER_PROMPT, decision="allow", subject_id=subject.id,
                                       recipient_agency_id=agency_id, reason=KIND),
                   actor=Actor.system(), at=now)
            sent += 1
    return sent
