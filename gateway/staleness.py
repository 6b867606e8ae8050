"""Staleness: key details past their review, and deletions coming, announced before they happen.

The handbooks ask that "the key details of each person should be recorded and re-checked at each
assessment or review" (seed 001 line 17827; digest 7.1: ``last_verified_at`` on D1-D4, stale-data
warnings). The gateway keeps, per subject, when its agency last confirmed the key details
(:class:`SubjectReview`; the subject's creation until then). The scheduled job (:func:`warn`, run
with the retention schedule) raises, once per subject and due date, a :class:`RetentionWarning`
to the holding agency (the subject's owner), audited as ``retention:record:warn`` under the
person's pseudonym, and listed on the DPO console:

* ``key_details_stale``: ``review.key_details_days`` (90, quarterly) after the last verification, and
  again each further period while the details stay unchecked;
* ``purge_due:<kind>``: ``review.warn_days_before_purge`` (14) days before the schedule deletes an
  ended consent or a resolved portal request (what the agency may still want to act on). A subject
  under a legal hold is not warned: nothing of it is deleted while the hold stands.

The warning carries the kind and the due date only; the agency resolves the subject id it owns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ConsentEnding, ConsentRecord
from consent.subjects import Subject
from kernel.ids import SHORT, new_id

from .audit.log import Actor, AuditEvent, record
from .audit.tags import AuditTag
from .context import GatewayContext
from .errors import NotFound
from .exchange.catalogue import classes_of
from .portal.models import PortalRequest, RequestStatus
from .retention_models import RetentionWarning, SubjectReview
from .retention_schedule import Schedule, load_schedule

__all__ = ["KEY_DETAILS", "KEY_DETAILS_STALE", "plan_warnings", "verify_key_details", "warn", "warnings_for"]

KEY_DETAILS = frozenset({"D1", "D2", "D3", "D4"})
"""The key details the handbooks ask to re-check at each review (digest 7.1)."""

KEY_DETAILS_STALE = "key_details_stale"

Due = Callable[[str, datetime, str, Sequence[str], str | None], datetime | None]
"""(kind, since, subject id, classes, purpose) -> when the schedule deletes the record (None: a hold keeps it)."""


def verify_key_details(session: Session, *, agency_id: str, subject_id: str, actor: Actor,
                       at: datetime) -> SubjectReview:
    """The holding agency confirms the subject's key details are current (the staleness clock restarts)."""
    subject = session.get(Subject, subject_id)
    if subject is None or subject.owner_agency_id != agency_id:
        raise NotFound("unknown_subject", "No such subject at your agency.")
    review = session.get(SubjectReview, subject_id)
    if review is None:
        review = SubjectReview(subject_id=subject_id, last_verified_at=at, verified_by=actor.user)
        session.add(review)
    else:
        review.last_verified_at, review.verified_by = at, actor.user
    record(session, AuditEvent(AuditTag.SUBJECT_REVIEW, decision="allow", subject_id=subject_id,
                               classes_requested=("D1", "D2", "D3", "D4")), actor=actor, at=at)
    return review


def plan_warnings(session: Session, ctx: GatewayContext, *, subject_id: str, fields: Sequence[str]) -> list[str]:
    """``["key_details_stale"]`` when the permitted fields carry key details of a subject whose details were
    not re-checked within ``review.key_details_days``; else nothing (read in its own transaction)."""
    if not fields or not KEY_DETAILS & set(classes_of(ctx.settings.policy_dir, list(fields))):
        return []
    now = ctx.clock.now()
    with session.begin():
        subject = session.get(Subject, subject_id)
        if subject is None:
            return []
        review = session.get(SubjectReview, subject_id)
        since = review.last_verified_at if review is not None else subject.created_at
    days = load_schedule(ctx.settings.policy_dir).key_details_days
    return [KEY_DETAILS_STALE] if since + timedelta(days=days) <= now else []


def _raise(session: Session, *, agency_id: str, subject_id: str, kind: str, due_at: datetime, at: datetime,
           seen: set[tuple[str, str, datetime]]) -> bool:
    key = (subject_id, kind, due_at)
    if key in seen:
        return False
    seen.add(key)
    warning = RetentionWarning(id=new_id("rwn", size=SHORT), agency_id=agency_id, subject_id=subject_id,
                               kind=kind, due_at=due_at, created_at=at)
    session.add(warning)
    record(session, AuditEvent(AuditTag.RETENTION_WARN, decision="info", reason=kind.split(":", maxsplit=1)[0],
                               subject_id=subject_id, recipient_agency_id=agency_id,
                               details={"kind": kind, "due_at": due_at.isoformat(), "warning_id": warning.id}),
           actor=Actor.system(), at=at)
    return True


def warn(session: Session, schedule: Schedule, at: datetime, due: Due, held: set[str]) -> int:
    """Raise the warnings due at ``at`` that were not raised before; how many."""
    seen = {(w.subject_id, w.kind, w.due_at) for w in session.scalars(select(RetentionWarning))}
    # SQLite hands datetimes back without the zone: compare in one form.
    seen = {(s, k, d if d.tzinfo else d.replace(tzinfo=at.tzinfo)) for s, k, d in seen}
    raised = 0
    stale_before = at - timedelta(days=schedule.key_details_days)
    rows = session.execute(select(Subject.id, Subject.owner_agency_id, Subject.created_at,
                                  SubjectReview.last_verified_at)
                           .outerjoin(SubjectReview, SubjectReview.subject_id == Subject.id))
    for subject_id, owner, created_at, verified_at in rows:
        since = verified_at or created_at
        if subject_id in held or since > stale_before:
            continue
        # Due at the start of the review period it is in: one warning per period while still stale.
        period = timedelta(days=max(schedule.key_details_days, 1))
        raised += _raise(session, agency_id=owner, subject_id=subject_id, kind=KEY_DETAILS_STALE,
                         due_at=since + period * ((at - since) // period), at=at, seen=seen)
    horizon = at + timedelta(days=schedule.warn_days)
    owners = {sid: owner for sid, owner in session.execute(select(Subject.id, Subject.owner_agency_id))}
    for consent, ended in session.execute(select(ConsentRecord, ConsentEnding.at).join(
            ConsentEnding, ConsentEnding.consent_id == ConsentRecord.id)):
        when = due("consents_ended", ended, consent.subject_id, consent.data_classes, consent.purpose)
        holder = owners.get(consent.subject_id)
        if when is not None and holder and at < when <= horizon:
            raised += _raise(session, agency_id=holder, subject_id=consent.subject_id, kind="purge_due:consents_ended",
                             due_at=when, at=at, seen=seen)
    for request in session.scalars(select(PortalRequest).where(PortalRequest.status == RequestStatus.RESOLVED)):
        when = due("portal_requests", request.updated_at, request.subject_id,
                   [request.topic] if request.topic else [], None)
        holder = owners.get(request.subject_id)
        if when is not None and holder and at < when <= horizon:
            raised += _raise(session, agency_id=holder, subject_id=request.subject_id,
                             kind="purge_due:portal_requests", due_at=when, at=at, seen=seen)
    return raised


def warnings_for(session: Session, agency_id: str) -> list[RetentionWarning]:
    return list(session.scalars(select(RetentionWarning).where(RetentionWarning.agency_id == agency_id)
                                .order_by(RetentionWarning.created_at, RetentionWarning.id).limit(500)))
