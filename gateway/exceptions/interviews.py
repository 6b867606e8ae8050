"""Interviews and assessments of a child (digest CH10, CH8, CH24; scenario S17).

:func:`refusals` is the decision, pure: a child is never interviewed or assessed without the
guardian advocate allocated to them, who must have been able to speak to the child first
(CH10); a parent or parental guardian attends only when that was assessed as safe beforehand,
and never a guardian suspected of involvement (CH8, CH7); an interpreter is a child specialist
(CH24). :func:`schedule` records an accepted request, or the refusal, in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.age import handled_as_child
from consent.service import get_subject_for_agency
from consent.subjects import Subject
from kernel.ids import SHORT, new_id

from ..audit.log import AuditEvent, record, record_refusal
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..deps import Caller
from ..errors import NotFound, Unprocessable
from .children import best_interests_ref
from .models import ChildInterview


class InterviewKind(StrEnum):
    INVESTIGATIVE_INTERVIEW = "investigative_interview"
    AGE_ASSESSMENT = "age_assessment"
    SUBSTANTIVE_ASSESSMENT = "substantive_assessment"
    BEST_INTERESTS_ASSESSMENT = "best_interests_assessment"


class Interpreter(StrEnum):
    NONE = "none"
    CHILD_SPECIALIST = "child_specialist"
    GENERAL = "general"


@dataclass(frozen=True)
class InterviewRequest:
    kind: InterviewKind
    scheduled_for: datetime
    guardian_advocate_id: str | None
    guardian_advocate_briefed: bool
    parent_attending: bool
    parent_safety_ref: str | None
    interpreter: Interpreter
    scheduled_by: str


@dataclass(frozen=True)
class Refusal:
    reason: str
    rule: str


def refusals(subject: Subject, request: InterviewRequest, now: datetime) -> list[Refusal]:
    """Why this interview may not be scheduled; empty when it may."""
    out: list[Refusal] = []
    if not handled_as_child(subject, now):
        out.append(Refusal("subject_not_child", "CH1"))
        return out
    if request.scheduled_for <= now:
        out.append(Refusal("interview_in_past", "CH10"))
    if subject.guardian_advocate_id is None:
        out.append(Refusal("no_guardian_advocate_allocated", "CH10"))
    elif request.guardian_advocate_id is None:
        out.append(Refusal("guardian_advocate_not_attending", "CH10"))
    elif request.guardian_advocate_id != subject.guardian_advocate_id:
        out.append(Refusal("guardian_advocate_not_allocated", "CH10"))
    elif not request.guardian_advocate_briefed:
        out.append(Refusal("guardian_advocate_not_briefed", "CH10"))
    if request.parent_attending:
        if subject.guardian_suspected:
            out.append(Refusal("guardian_suspected", "CH7"))
        elif request.parent_safety_ref is None:
            out.append(Refusal("parent_attendance_not_assessed_safe", "CH8"))
    if request.interpreter is Interpreter.GENERAL:
        out.append(Refusal("interpreter_not_child_specialist", "CH24"))
    return out


def schedule(session: Session, ctx: GatewayContext, caller: Caller, subject_id: str,
             request: InterviewRequest) -> dict[str, Any]:
    now = ctx.clock.now()
    with session.begin():
        subject = get_subject_for_agency(session, subject_id, caller.agency_id)
        if subject is None:
            raise NotFound("unknown_subject")
        found = refusals(subject, request, now)
        details: dict[str, Any] = {"kind": str(request.kind), "parent_attending": request.parent_attending,
                                   "interpreter": str(request.interpreter),
                                   "best_interests_ref": best_interests_ref(session, subject_id)}
        if not found:
            row = ChildInterview(
                id=new_id("int", size=SHORT), subject_id=subject_id, agency_id=caller.agency_id,
                kind=str(request.kind), scheduled_for=request.scheduled_for,
                guardian_advocate_id=request.guardian_advocate_id or "", parent_attending=request.parent_attending,
                parent_safety_ref=request.parent_safety_ref, interpreter=str(request.interpreter),
                scheduled_by=request.scheduled_by, created_at=now)
            session.add(row)
            record(session, AuditEvent(AuditTag.CHILD_INTERVIEW_SCHEDULE, decision="allow", subject_id=subject_id,
                                       details={**details, "interview_id": row.id}),
                   actor=caller.actor(), at=now)
            return {"id": row.id, "subject_id": subject_id, "kind": row.kind, "scheduled_for": row.scheduled_for,
                    "guardian_advocate_id": row.guardian_advocate_id, "parent_attending": row.parent_attending,
                    "interpreter": row.interpreter}
    record_refusal(ctx.sessions, AuditEvent(AuditTag.CHILD_INTERVIEW_REFUSE, decision="deny",
                                            reason=found[0].reason, subject_id=subject_id,
                                            details={**details, "reasons": [r.reason for r in found],
                                                     "rules": sorted({r.rule for r in found})}),
                   actor=caller.actor(), at=now)
    raise Unprocessable(found[0].reason, detail="the interview cannot be scheduled",
                        extra={"reasons": [{"reason": r.reason, "rule": r.rule} for r in found]})


def list_interviews(session: Session, caller: Caller, subject_id: str) -> list[dict[str, Any]]:
    with session.begin():
        if get_subject_for_agency(session, subject_id, caller.agency_id) is None:
            raise NotFound("unknown_subject")
        rows = session.scalars(select(ChildInterview).where(ChildInterview.subject_id == subject_id)
                               .order_by(ChildInterview.scheduled_for))
        return [{"id": r.id, "kind": r.kind, "scheduled_for": r.scheduled_for,
                 "guardian_advocate_id": r.guardian_advocate_id, "parent_attending": r.parent_attending,
                 "interpreter": r.interpreter} for r in rows]
