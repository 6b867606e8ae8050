"""Runs the NRM timers: finds the cases whose deadlines have passed, records each alert once,
tells the agencies concerned and writes the audit entry, all in one transaction.

Safe on several replicas at once: an alert is unique per (case, kind, deadline), so a second
replica's insert fails and its round is rolled back without effect.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from consent.age import is_child
from consent.subjects import Subject, SubjectAttributeChange
from consent.vocabulary import NrmOutcome

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..exceptions.service import notify_agency
from ..registry.models import Agency, AgencyKind, VettingStatus
from .models import SlaAlert
from .timers import STAGE1_DUE_CHILD, Audience, CaseTimes, Due, due_alerts

_AUDIENCE_KINDS = {Audience.NRM_COORDINATOR: AgencyKind.COMPETENT_AUTHORITY,
                   Audience.MONITORING_BODY: AgencyKind.MONITORING_BODY}


def _since(session: Session, subject: Subject, attribute: str) -> datetime | None:
    """When the attribute got its current (non-empty) value, from the subject's change log."""
    if getattr(subject, attribute) is None:
        return None
    return session.scalar(select(SubjectAttributeChange.changed_at)
                          .where(SubjectAttributeChange.subject_id == subject.id,
                                 SubjectAttributeChange.attribute == attribute)
                          .order_by(SubjectAttributeChange.seq.desc()).limit(1))


def case_times(session: Session, subject: Subject, now: datetime) -> CaseTimes:
    return CaseTimes(
        child=bool(is_child(subject, now) or subject.age_disputed),
        referred_at=subject.nrm_referred_at, stage1_outcome=subject.stage1_outcome,
        stage1_decided_at=subject.stage1_decided_at, stage2_outcome=subject.stage2_outcome,
        guardian_advocate_since=_since(session, subject, "guardian_advocate_id"),
        accommodation_since=_since(session, subject, "placement_agency_id"),
    )


def _candidates(session: Session, now: datetime) -> list[Subject]:
    """Cases with a timer that may have run out (the pure function decides exactly)."""
    waiting_stage1 = and_(Subject.stage1_outcome.is_(None), Subject.nrm_referred_at <= now - STAGE1_DUE_CHILD)
    after_positive = and_(Subject.stage1_outcome == str(NrmOutcome.POSITIVE), Subject.stage2_outcome.is_(None))
    return list(session.scalars(select(Subject).where(Subject.nrm_referred_at.is_not(None),
                                                      or_(waiting_stage1, after_positive))
                                .order_by(Subject.id)))


def _recipients(session: Session, subject: Subject, due: Due) -> list[str]:
    ids: set[str] = set()
    for audience in due.audiences:
        if audience is Audience.OWNER:
            ids.add(subject.owner_agency_id)
        else:
            ids.update(session.scalars(select(Agency.id).where(Agency.kind == str(_AUDIENCE_KINDS[audience]),
                                                               Agency.vetting_status == str(VettingStatus.VETTED))))
    return sorted(ids)


def _raise(session: Session, subject: Subject, due: Due, now: datetime) -> dict[str, Any] | None:
    exists = session.scalar(select(SlaAlert.id).where(SlaAlert.subject_id == subject.id,
                                                      SlaAlert.kind == str(due.kind), SlaAlert.due_at == due.due_at))
    if exists is not None:
        return None
    notified = _recipients(session, subject, due)
    alert = SlaAlert(id="sla_" + secrets.token_urlsafe(12), subject_id=subject.id,
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
    """Raise every alert due at ``now`` that was not raised before; returns the new ones."""
    session = sessions()
    try:
        with session.begin():
            raised: list[dict[str, Any]] = []
            for subject in _candidates(session, now):
                for due in due_alerts(case_times(session, subject, now), now):
                    row = _raise(session, subject, due, now)
                    if row is not None:
                        raised.append(row)
            session.flush()
            return raised
    except IntegrityError:
        return []  # another replica raised the same alert in this round; the next round sees it
    finally:
        session.close()


def list_alerts(session: Session, *, limit: int = 200) -> list[SlaAlert]:
    return list(session.scalars(select(SlaAlert).order_by(SlaAlert.raised_at.desc(), SlaAlert.id).limit(limit)))
