"""Runs the NRM timers: finds the cases whose deadlines have passed, records each alert once,
tells the agencies concerned and writes the audit entry, all in one transaction.

Safe on several replicas at once: an alert is unique per (case, kind, deadline), so a second
replica's insert fails and that case's transaction is rolled back without effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from consent.age import handled_as_child
from consent.subjects import Subject, SubjectAttributeChange
from consent.vocabulary import NrmOutcome
from kernel.ids import SHORT, new_id

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..exceptions.service import notify_agency
from ..registry.models import Agency, AgencyKind, VettingStatus
from .models import SlaAlert
from .timers import CHILD_ENTITLEMENTS_DUE, STAGE1_DUE_CHILD, Audience, CaseTimes, Due, due_alerts

_AUDIENCE_KINDS = {Audience.NRM_COORDINATOR: AgencyKind.COMPETENT_AUTHORITY,
                   Audience.MONITORING_BODY: AgencyKind.MONITORING_BODY}


def _in_force_at(session: Session, subject: Subject, attribute: str, at: datetime | None) -> datetime | None:
    """When the value the attribute held at ``at`` was recorded, from the subject's change log;
    None when it was empty then (or ``at`` is None). A later change (a move to another shelter)
    does not undo a placement that was in place in time."""
    if at is None:
        return None
    change = session.scalars(select(SubjectAttributeChange)
                             .where(SubjectAttributeChange.subject_id == subject.id,
                                    SubjectAttributeChange.attribute == attribute,
                                    SubjectAttributeChange.changed_at <= at)
                             .order_by(SubjectAttributeChange.seq.desc()).limit(1)).first()
    if change is None or change.new_value in (None, "null"):
        return None
    return change.changed_at


def _child_at(subject: Subject, at: datetime | None) -> bool:
    return at is not None and handled_as_child(subject, at)


def case_times(session: Session, subject: Subject) -> CaseTimes:
    entitlements_due = (subject.stage1_decided_at + CHILD_ENTITLEMENTS_DUE
                        if subject.stage1_decided_at is not None else None)
    return CaseTimes(
        child_at_referral=_child_at(subject, subject.nrm_referred_at),
        child_at_stage1=_child_at(subject, subject.stage1_decided_at),
        referred_at=subject.nrm_referred_at, stage1_outcome=subject.stage1_outcome,
        stage1_decided_at=subject.stage1_decided_at, stage2_outcome=subject.stage2_outcome,
        guardian_advocate_since=_in_force_at(session, subject, "guardian_advocate_id", entitlements_due),
        accommodation_since=_in_force_at(session, subject, "placement_ref", entitlements_due),
    )


def _candidates(session: Session, now: datetime) -> list[str]:
    """Cases with a timer that may have run out (the pure function decides exactly)."""
    waiting_stage1 = and_(Subject.stage1_outcome.is_(None), Subject.nrm_referred_at <= now - STAGE1_DUE_CHILD)
    after_positive = and_(Subject.stage1_outcome == str(NrmOutcome.POSITIVE), Subject.stage2_outcome.is_(None))
    return list(session.scalars(select(Subject.id).where(Subject.nrm_referred_at.is_not(None),
                                                         or_(waiting_stage1, after_positive))
                                .order_by(Subject.id)))


def _recipients(session: Session, subject: Subject, due: Due) -> list[str]:
    """The owner, and the NRM co-ordinators and monitoring bodies of the owner's jurisdiction only
    (a case never reaches, say, an authority of the person's country of origin)."""
    owner = session.get(Agency, subject.owner_agency_id)
    ids: set[str] = {subject.owner_agency_id} if Audience.OWNER in due.audiences else set()
    kinds = [str(_AUDIENCE_KINDS[a]) for a in due.audiences if a is not Audience.OWNER]
    if owner is not None and kinds:
        ids.update(session.scalars(select(Agency.id).where(Agency.kind.in_(kinds),
                                                           Agency.jurisdiction == owner.jurisdiction,
                                                           Agency.vetting_status == str(VettingStatus.VETTED))))
    return sorted(ids)


def _raise(session: Session, subject: Subject, due: Due, now: datetime) -> dict[str, Any] | None:
    exists = session.scalar(select(SlaAlert.id).where(SlaAlert.subject_id == subject.id,
                                                      SlaAlert.kind == str(due.kind), SlaAlert.due_at == due.due_at))
    if exists is not None:
        return None
    notified = _recipients(session, subject, due)
    alert = SlaAlert(id=new_id("sla", size=SHORT), subject_id=subject.id,
                     owner_agency_id=subject.owner_agency_id, kind=str(due.kind), rule=due.rule, due_at=due.due_at,
                     raised_at=now, missing=list(due.missing), notified=notified)
    session.add(alert)
    details = {"alert_id": alert.id, "rule": due.rule, "due_at": due.due_at.isoformat(),
               "missing": list(due.missing), "audiences": [str(a) for a in due.audiences]}
    for agency_id in notified:
        notify_agency(session, agency_id, subject.id, str(due.kind), now=now, details=details)
    record(session, AuditEvent(AuditTag.NRM_SLA_ALERT, decision="info", reason=str(due.kind), subject_id=subject.id,
                               details={**details, "notified": notified}),
           actor=Actor.system(), at=now)
    return {"id": alert.id, "subject_id": subject.id, "kind": alert.kind, "rule": alert.rule,
            "due_at": due.due_at, "missing": list(due.missing), "notified": notified}


def run_timers(sessions: sessionmaker[Session], now: datetime) -> list[dict[str, Any]]:
    """Raise every alert due at ``now`` that was not raised before; returns the new ones.

    One transaction per case: a case that fails (or that another replica handles at the same
    moment) does not hold up the others, and SQLite's write lock is held one case at a time.
    """
    with sessions() as session, session.begin():
        candidates = _candidates(session, now)
    raised: list[dict[str, Any]] = []
    for subject_id in candidates:
        session = sessions()
        try:
            with session.begin():
                subject = session.get(Subject, subject_id)
                if subject is None:
                    continue
                rows = [_raise(session, subject, due, now) for due in due_alerts(case_times(session, subject), now)]
                session.flush()
            raised.extend(row for row in rows if row is not None)
        except IntegrityError:
            continue  # another replica raised this case's alert in the same round; the next round sees it
        finally:
            session.close()
    return raised


def list_alerts(session: Session, *, limit: int = 200) -> list[SlaAlert]:
    return list(session.scalars(select(SlaAlert).order_by(SlaAlert.raised_at.desc(), SlaAlert.id).limit(limit)))
