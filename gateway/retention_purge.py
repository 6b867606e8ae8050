"""Applying the retention schedule (:mod:`gateway.retention_schedule`): the scheduled deletions.

Each run deletes, in one transaction, every record past its period (the strictest profile that
applies to it) and audits each deletion: one ``retention:record:purge`` entry per record that
concerns a person (under the person's pseudonym, with the record's id, kind, data classes and
the profile that set the period); one entry per kind for the rows that concern no one
(idempotency answers, spent assertions, throttles), with their count. A subject with nothing
left about it is erased (:func:`gateway.erasure.erase_subject`, which destroys its key). Deletes
are idempotent, so every replica may run the job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from consent.models import ConsentEnding, ConsentReceipt, ConsentRecipient, ConsentRecord
from consent.notices import PersonNotice
from consent.subjects import Subject

from . import staleness
from .audit import subject_keys
from .audit.log import Actor, AuditEvent, record
from .audit.tags import AuditTag
from .auth.models import UsedAssertion
from .context import GatewayContext
from .erasure import erase_subject
from .exceptions.models import AgencyNotice, ExceptionGrant
from .exchange.models import (
    DeliveryAttempt,
    Envelope,
    EnvelopePart,
    EnvelopeStatus,
    IdempotencyRecord,
    Plan,
    PreviewApproval,
)
from .linkage.models import LinkageMatch, LinkageQuery
from .nrm.models import SlaAlert
from .nrm.service import _candidates as nrm_candidates
from .portal.models import PortalAlert, PortalRequest, PortalRequestEvent, RequestStatus
from .registry.models import Agency
from .requests.models import InformationRequest
from .retention_broadcast import sweep_overdue
from .retention_models import RetentionNotice, RetentionWarning, SubjectOrder
from .retention_schedule import Schedule, load_schedule
from .sealing import SEALS, active_holds
from .statistics.service import StatisticsService
from .web.throttle import Throttle

__all__ = ["apply_schedule"]

_LIVE_ENVELOPES = (EnvelopeStatus.QUEUED, EnvelopeStatus.DELIVERED)


class _Run:
    def __init__(self, session: Session, schedule: Schedule, now: datetime) -> None:
        self.session, self.schedule, self.now = session, schedule, now
        self.counts: dict[str, int] = {}
        self._jurisdictions: dict[str, str | None] = {}
        # Subjects under a legal hold or a preserving court order: nothing about them is deleted.
        self.held = {h.subject_id for h in active_holds(session, now)}

    def jurisdiction(self, subject_id: str) -> str | None:
        if subject_id not in self._jurisdictions:
            self._jurisdictions[subject_id] = self.session.scalar(
                select(Agency.jurisdiction).join(Subject, Subject.owner_agency_id == Agency.id)
                .where(Subject.id == subject_id))
        return self._jurisdictions[subject_id]

    def due(self, kind: str, since: datetime, subject_id: str | None, *, classes: Sequence[str] = (),
            purpose: str | None = None) -> str | None:
        """The profile whose period has run out for this record, or None if it is kept."""
        if subject_id is not None and subject_id in self.held:
            return None
        days, source = self.schedule.keep_days(kind, classes=classes, purpose=purpose,
                                               jurisdiction=self.jurisdiction(subject_id) if subject_id else None)
        return source if since + timedelta(days=days) <= self.now else None

    def deletes_at(self, kind: str, since: datetime, subject_id: str, classes: Sequence[str],
                   purpose: str | None) -> datetime | None:
        """When the schedule deletes this record (None while a hold keeps it)."""
        if subject_id in self.held:
            return None
        days, _ = self.schedule.keep_days(kind, classes=classes, purpose=purpose,
                                          jurisdiction=self.jurisdiction(subject_id))
        return since + timedelta(days=days)

    def audit(self, kind: str, record_id: str, subject_id: str, source: str, classes: Sequence[str] = ()) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        record(self.session, AuditEvent(
            AuditTag.RETENTION_PURGE, decision="info", subject_id=subject_id, classes_released=tuple(classes),
            details={"kind": kind, "id": record_id, "profile": source, "schedule": self.schedule.version}),
            actor=Actor.system(), at=self.now)

    def cutoff(self, kind: str) -> datetime:
        return self.now - timedelta(days=self.schedule.shortest(kind))


def _consents(run: _Run) -> None:
    rows = run.session.execute(
        select(ConsentRecord, ConsentEnding.at).join(ConsentEnding, ConsentEnding.consent_id == ConsentRecord.id)
        .where(ConsentEnding.at <= run.cutoff("consents_ended")).order_by(ConsentEnding.at)).all()
    for consent, ended_at in rows:
        source = run.due("consents_ended", ended_at, consent.subject_id, classes=consent.data_classes,
                         purpose=consent.purpose)
        if source is None:
            continue
        s = run.session
        s.execute(update(ConsentRecord).where(ConsentRecord.supersedes_id == consent.id).values(supersedes_id=None))
        for model in (ConsentEnding, ConsentReceipt, ConsentRecipient):
            s.execute(delete(model).where(model.consent_id == consent.id))
        s.execute(delete(ConsentRecord).where(ConsentRecord.id == consent.id))
        run.audit("consents_ended", consent.id, consent.subject_id, source, consent.data_classes)


def _notices(run: _Run) -> None:
    for notice in run.session.scalars(select(PersonNotice).where(PersonNotice.created_at <= run.cutoff(
            "person_notices"))):
        source = run.due("person_notices", notice.created_at, notice.subject_id)
        if source is not None:
            run.session.execute(delete(PersonNotice).where(PersonNotice.id == notice.id))
            run.audit("person_notices", notice.id, notice.subject_id, source)


def _portal_requests(run: _Run) -> None:
    for request in run.session.scalars(select(PortalRequest).where(
            PortalRequest.status == RequestStatus.RESOLVED, PortalRequest.updated_at <= run.cutoff("portal_requests"))):
        classes = [request.topic] if request.topic else []
        source = run.due("portal_requests", request.updated_at, request.subject_id, classes=classes)
        if source is not None:
            run.session.execute(delete(PortalRequestEvent).where(PortalRequestEvent.request_id == request.id))
            run.session.execute(delete(PortalRequest).where(PortalRequest.id == request.id))
            run.audit("portal_requests", request.id, request.subject_id, source, classes)


def _plans(run: _Run) -> None:
    unused = ~exists().where(Envelope.plan_id == Plan.id)
    for plan in run.session.scalars(select(Plan).where(Plan.expires_at <= run.cutoff("plans"), unused)):
        source = run.due("plans", plan.expires_at, plan.subject_id, purpose=plan.purpose)
        if source is not None:
            run.session.execute(delete(PreviewApproval).where(PreviewApproval.plan_id == plan.id))
            run.session.execute(delete(Plan).where(Plan.id == plan.id))
            run.audit("plans", plan.id, plan.subject_id, source)


def _per_record(run: _Run, kind: str, rows: Sequence[Any], remove: Callable[[Any], None]) -> None:
    """Each row: ``(row, id, since, subject id, classes, purpose)``; delete and audit the ones past due."""
    for row, record_id, since, subject_id, classes, purpose in rows:
        source = run.due(kind, since, subject_id, classes=classes, purpose=purpose)
        if source is None:
            continue
        remove(row)
        if subject_id is not None:
            run.audit(kind, record_id, subject_id, source, classes)
        else:
            run.counts[kind] = run.counts.get(kind, 0) + 1
            record(run.session, AuditEvent(AuditTag.RETENTION_PURGE, decision="info", details={
                "kind": kind, "id": record_id, "profile": source, "schedule": run.schedule.version}),
                actor=Actor.system(), at=run.now)


def _delete(model: Any, column: Any, run: _Run) -> Callable[[Any], None]:
    def remove(row: Any) -> None:
        run.session.execute(delete(model).where(column == getattr(row, column.key)))
    return remove


def _issue_22_tables(run: _Run) -> None:
    """Agency notices, exception grants, linkage questions, alerts, envelope metadata, information
    requests, and this issue's own notices, orders and warnings."""
    s, cut = run.session, run.cutoff
    _per_record(run, "agency_notices", [
        (n, n.id, n.created_at, n.subject_id, (), None)
        for n in s.scalars(select(AgencyNotice).where(AgencyNotice.created_at <= cut("agency_notices")))],
        _delete(AgencyNotice, AgencyNotice.id, run))
    _per_record(run, "exception_grants", [
        (g, g.id, g.expires_at, g.subject_id, g.classes, g.purpose)
        for g in s.scalars(select(ExceptionGrant).where(ExceptionGrant.expires_at <= cut("exception_grants")))],
        _delete(ExceptionGrant, ExceptionGrant.id, run))

    def remove_query(query: LinkageQuery) -> None:
        s.execute(delete(LinkageMatch).where(LinkageMatch.query_id == query.id))
        s.execute(delete(LinkageQuery).where(LinkageQuery.id == query.id))
    _per_record(run, "linkage_rows", [
        (q, q.id, q.at, q.subject_id, (), None)
        for q in s.scalars(select(LinkageQuery).where(LinkageQuery.at <= cut("linkage_rows")))], remove_query)
    _per_record(run, "alerts", [
        (a, a.id, a.raised_at, a.subject_id, (), None)
        for a in s.scalars(select(PortalAlert).where(PortalAlert.raised_at <= cut("alerts")))],
        _delete(PortalAlert, PortalAlert.id, run))
    # An NRM deadline alert goes only once its case waits no more (else the timer would raise it again).
    waiting = set(nrm_candidates(s, run.now))
    _per_record(run, "alerts", [
        (a, a.id, a.raised_at, a.subject_id, (), None)
        for a in s.scalars(select(SlaAlert).where(SlaAlert.raised_at <= cut("alerts"))) if a.subject_id not in waiting],
        _delete(SlaAlert, SlaAlert.id, run))

    def remove_envelope(envelope: Envelope) -> None:
        s.execute(delete(DeliveryAttempt).where(DeliveryAttempt.envelope_id == envelope.id))
        s.execute(delete(EnvelopePart).where(EnvelopePart.envelope_id == envelope.id))
        s.execute(delete(Envelope).where(Envelope.id == envelope.id))
    _per_record(run, "envelope_metadata", [
        (e, e.id, e.purged_at, e.subject_id, (), e.purpose)
        for e in s.scalars(select(Envelope).where(Envelope.purged_at.is_not(None),
                                                  Envelope.purged_at <= cut("envelope_metadata")))],
        remove_envelope)
    _per_record(run, "information_requests", [
        (r, r.id, r.closed_at, r.subject_ref, (), r.purpose)
        for r in s.scalars(select(InformationRequest).where(
            InformationRequest.status != "open", InformationRequest.closed_at.is_not(None),
            InformationRequest.closed_at <= cut("information_requests")))],
        _delete(InformationRequest, InformationRequest.id, run))
    _per_record(run, "retention_notices", [
        (n, n.id, n.acknowledged_at, None, (), None)
        for n in s.scalars(select(RetentionNotice).where(RetentionNotice.acknowledged_at.is_not(None),
                                                         RetentionNotice.acknowledged_at <= cut("retention_notices")))],
        _delete(RetentionNotice, RetentionNotice.id, run))
    ended = [(o, o.id, o.lifted_at or o.ends_at, o.subject_id, (), None) for o in s.scalars(
        select(SubjectOrder).where(SubjectOrder.kind.not_in(SEALS), or_(
            SubjectOrder.lifted_at <= cut("subject_orders"), SubjectOrder.ends_at <= cut("subject_orders"))))]
    # Held subjects keep their rows; an ended order of a held subject is not a hold any more.
    _per_record(run, "subject_orders", [r for r in ended if r[2] is not None],
                _delete(SubjectOrder, SubjectOrder.id, run))
    _per_record(run, "retention_warnings", [
        (w, w.id, w.created_at, w.subject_id, (), None)
        for w in s.scalars(select(RetentionWarning).where(RetentionWarning.created_at <= cut("retention_warnings")))],
        _delete(RetentionWarning, RetentionWarning.id, run))


def _rows(run: _Run) -> None:
    """Rows about no one: counted, one entry per kind."""
    s, now, default = run.session, run.now, run.schedule.default

    def gone(result: Any) -> int:
        return int(getattr(result, "rowcount", 0) or 0)

    purged = {
        "idempotency_keys": gone(s.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.expires_at <= now - timedelta(days=default["idempotency_keys"])))),
        "assertions": gone(s.execute(delete(UsedAssertion).where(
            UsedAssertion.expires_at <= now - timedelta(days=default["assertions"])))),
        "throttles": Throttle.purge(s, now, older_than_s=default["throttles"] * 86_400),
    }
    for kind, count in purged.items():
        if count:
            run.counts[kind] = run.counts.get(kind, 0) + count
            record(s, AuditEvent(AuditTag.RETENTION_PURGE, decision="info",
                                 details={"kind": kind, "count": count, "profile": "default",
                                          "schedule": run.schedule.version}), actor=Actor.system(), at=now)


def _subjects(run: _Run, ctx: GatewayContext) -> None:
    s = run.session
    left = [exists().where(ConsentRecord.subject_id == Subject.id), exists().where(Plan.subject_id == Subject.id),
            exists().where(PersonNotice.subject_id == Subject.id),
            exists().where(PortalRequest.subject_id == Subject.id),
            exists().where(Envelope.subject_id == Subject.id, Envelope.status.in_([str(x) for x in _LIVE_ENVELOPES]))]
    candidates = list(s.scalars(select(Subject).where(Subject.created_at <= run.cutoff("subject_attributes"),
                                                      *(~condition for condition in left))))
    # Keys made for ids that never were subjects (a refused request naming an unknown id) go too.
    stray = ~exists().where(Subject.id == subject_keys.SubjectKey.subject_id)
    gone = s.execute(delete(subject_keys.SubjectKey).where(
        subject_keys.SubjectKey.created_at <= run.cutoff("subject_attributes"), stray))
    if getattr(gone, "rowcount", 0):
        run.counts["stray_subject_keys"] = int(gone.rowcount)  # type: ignore[attr-defined]
    units = StatisticsService(ctx).units
    for subject in candidates:
        source = run.due("subject_attributes", subject.created_at, subject.id)
        if source is None:
            continue
        run.counts["subject_attributes"] = run.counts.get("subject_attributes", 0) + 1
        erase_subject(s, subject.id, actor=Actor.system(), at=run.now, units=units)


def apply_schedule(ctx: GatewayContext, schedule: Schedule | None = None) -> dict[str, int]:
    """Delete what the schedule no longer allows to keep (one transaction); the count per kind."""
    schedule = schedule or load_schedule(ctx.settings.policy_dir)
    with ctx.sessions() as session, session.begin():
        run = _Run(session, schedule, ctx.clock.now())
        _consents(run)
        _notices(run)
        _portal_requests(run)
        _plans(run)
        _issue_22_tables(run)
        _rows(run)
        session.flush()
        _subjects(run, ctx)
        overdue = sweep_overdue(session, run.now)
        warned = staleness.warn(session, schedule, run.now, run.deletes_at, run.held)
        return {**run.counts, **({"notices_overdue": overdue} if overdue else {}),
                **({"warnings": warned} if warned else {})}
