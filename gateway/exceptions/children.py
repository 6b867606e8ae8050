"""Children in the gateway (digest 5): what the policy input needs beyond the consent module's
fragments, best-interests decisions (CH2, CH19), and the reviews that tell people things:
a suspected guardian (CH7) and an age correction from adult to child (CH20, S29).

The policy decides afresh on every plan and submit (no cache), so "re-evaluating everything"
after an age correction is automatic; what this module adds are the notices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from consent.age import handled_as_child
from consent.models import ConsentRecord
from consent.service import get_subject_for_agency
from consent.subjects import Subject
from kernel.ids import SHORT, new_id

from ..audit import subject_keys
from ..audit.log import Actor, AuditEvent, record
from ..audit.models import AuditEntry
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..deps import Caller
from ..errors import NotFound
from ..policy import flags as policy_flags
from .models import AgencyNotice, BestInterestsDecision
from .service import notify_agency

# The reference column alone (read for every decision's input): no object to build.
_LATEST_REFERENCE = (select(BestInterestsDecision.reference)
                     .where(BestInterestsDecision.subject_id == bindparam("subject_id"))
                     .order_by(BestInterestsDecision.recorded_at.desc(), BestInterestsDecision.id.desc())
                     .limit(1))


def best_interests_ref(session: Session, subject_id: str) -> str | None:
    """The reference of the latest best-interests decision (CH2), None when there is none."""
    reference: str | None = session.scalar(_LATEST_REFERENCE, {"subject_id": subject_id})
    return reference


def enrich_input(session: Session, document: dict[str, Any]) -> None:
    """Add what the child rules read: ``subject.best_interests_ref`` (CH19) and, on each consent
    given by a guardian who is now suspected, ``guardian_suspected: true`` (CH7)."""
    subject_doc = document.get("subject") or {}
    subject_id = subject_doc.get("id")
    if not isinstance(subject_id, str):
        return
    subject_doc["best_interests_ref"] = best_interests_ref(session, subject_id)
    subject = session.get(Subject, subject_id)
    if subject is None or not subject.guardian_suspected or not subject.parental_guardian_id:
        return
    ids = [c["id"] for c in document.get("consents") or [] if isinstance(c, dict) and "id" in c]
    if not ids:
        return
    suspected = {r.id for r in session.scalars(select(ConsentRecord).where(ConsentRecord.id.in_(ids)))
                 if r.guardian_id == subject.parental_guardian_id}
    for consent in document["consents"]:
        if consent.get("id") in suspected:
            consent["guardian_suspected"] = True


def is_child_document(document: dict[str, Any]) -> bool:
    subject = document.get("subject") or {}
    return policy_flags.is_child(subject)


def record_best_interests(session: Session, ctx: GatewayContext, caller: Caller, subject_id: str, *,
                          reference: str, decision_code: str, recorded_by: str) -> dict[str, Any]:
    now = ctx.clock.now()
    with session.begin():
        if get_subject_for_agency(session, subject_id, caller.agency_id) is None:
            raise NotFound("unknown_subject")
        row = BestInterestsDecision(id=new_id("bid", size=SHORT), subject_id=subject_id,
                                    agency_id=caller.agency_id, reference=reference, decision_code=decision_code,
                                    recorded_by=recorded_by, recorded_at=now)
        session.add(row)
        record(session, AuditEvent(AuditTag.SUBJECT_ATTRIBUTE_CHANGE, subject_id=subject_id,
                                   reason="best_interests_recorded",
                                   details={"best_interests_ref": reference, "decision_code": decision_code}),
               actor=caller.actor(), at=now)
        return {"id": row.id, "subject_id": subject_id, "reference": reference, "decision_code": decision_code,
                "recorded_at": now}


def _already(session: Session, agency_id: str, subject_id: str, kind: str, key: str, value: str) -> bool:
    rows = session.scalars(select(AgencyNotice).where(AgencyNotice.agency_id == agency_id,
                                                      AgencyNotice.subject_id == subject_id,
                                                      AgencyNotice.kind == kind))
    return any(r.details.get(key) == value for r in rows)


def earlier_adult_recipients(session: Session, subject_id: str) -> list[str]:
    """Agencies that received this person's data while they were handled as an adult (from the audit log)."""
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == str(AuditTag.EXCHANGE_SUBMIT),
                                                       subject_keys.matches(AuditEntry.subject_id, subject_id),
                                                       AuditEntry.decision == "allow"))
    return sorted({e.recipient_agency_id for e in entries
                   if e.recipient_agency_id and not (e.details or {}).get("child")})


#: Attributes whose change can make a person a child or a guardian suspect: a change of any of them
#: runs the reviews below in the same transaction (CH7, CH20).
REVIEWED_ATTRIBUTES = frozenset({"adult_on", "age_band", "age_disputed", "age_assessment_outcome",
                                 "age_appeal_status", "guardian_suspected", "parental_guardian_id"})


def review_subject(session: Session, subject: Subject, *, actor: Actor, now: datetime,
                   always_audit: bool = False) -> dict[str, Any]:
    """Run the child reviews for a subject in the caller's transaction; idempotent.

    - CH7: the guardian is suspected -> the guardian advocate (through the owner agency) is told;
      the guardian's consents stop counting at once (``enrich_input``).
    - CH20, S29: the person is now handled as a child -> every earlier recipient of adult-profile
      data is told to re-evaluate, and the owner agency gets a guardian-advocate task.
    """
    subject_id = subject.id
    notices: list[dict[str, Any]] = []
    child = handled_as_child(subject, now)
    owner = subject.owner_agency_id
    if child and subject.guardian_suspected:
        ref = subject.parental_guardian_id or "unknown"
        if not _already(session, owner, subject_id, "guardian_suspected", "guardian_id", ref):
            n = notify_agency(session, owner, subject_id, "guardian_suspected", now=now, details={
                "guardian_id": ref, "guardian_advocate_id": subject.guardian_advocate_id,
                "action": "consent_and_access_revoked"})
            notices.append({"agency_id": owner, "kind": n.kind})
    if child:
        for recipient in earlier_adult_recipients(session, subject_id):
            if _already(session, recipient, subject_id, "age_corrected_to_child", "subject_id", subject_id):
                continue
            n = notify_agency(session, recipient, subject_id, "age_corrected_to_child", now=now, details={
                "subject_id": subject_id, "action": "apply_child_rules_to_data_received"})
            notices.append({"agency_id": recipient, "kind": n.kind})
        if notices and not _already(session, owner, subject_id, "guardian_advocate_task", "subject_id",
                                    subject_id):
            n = notify_agency(session, owner, subject_id, "guardian_advocate_task", now=now, details={
                "subject_id": subject_id, "guardian_advocate_id": subject.guardian_advocate_id,
                "action": "review_case_as_child"})
            notices.append({"agency_id": owner, "kind": n.kind})
    if always_audit or notices:
        record(session, AuditEvent(AuditTag.SUBJECT_ATTRIBUTE_CHANGE, subject_id=subject_id, reason="child_review",
                                   details={"child": child, "notices": len(notices),
                                            "best_interests_ref": best_interests_ref(session, subject_id)}),
               actor=actor, at=now)
    return {"subject_id": subject_id, "child": child, "notices": notices}


def review(session: Session, ctx: GatewayContext, caller: Caller, subject_id: str) -> dict[str, Any]:
    """The reviews on demand (they also run by themselves on every change of a reviewed attribute)."""
    now = ctx.clock.now()
    with session.begin():
        subject = get_subject_for_agency(session, subject_id, caller.agency_id)
        if subject is None:
            raise NotFound("unknown_subject")
        return review_subject(session, subject, actor=caller.actor(), now=now, always_audit=True)
