"""``/v1/subjects``: pseudonymous subjects, their attributes and attribute history.

Only the agency that created a subject sees it; to every other agency it answers 404,
exactly as for an id that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select, tuple_

from consent import AuditAction, MandatedNoticeSpec, RefusedError, record_refusal
from consent import subjects as service
from consent.placement import PLACEMENT_KEY_LABEL

from ..audit.log import Actor
from ..auth.permission import Permission
from ..deps import Caller, ContextDep, SessionDep, person_token, require_person, require_scope
from ..errors import NotFound
from ..exceptions import children
from ..staff.roles import Entitlement
from .adapters import GatewayAuditSink, RegistryDirectory, actor_of, consent_errors, proven_staff
from .schemas import (
    AttributeChangeIn,
    AttributeChangeOut,
    MandatedNoticeIn,
    MandatedNoticeOut,
    SubjectCreate,
    SubjectOut,
)

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])
SubjectWriter = Annotated[Caller, Depends(require_scope(Permission.SUBJECTS_WRITE))]
#: A new subject, an attribute change or a mandated-reporter notice names the staff member: the
#: signed-in person the token acts for.
SubjectRecorder = Annotated[Caller, Depends(require_person(Permission.SUBJECTS_WRITE, Entitlement.RECORD_FOR_PERSON))]
RECORDED_BY_PERSON = person_token(Entitlement.RECORD_FOR_PERSON)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _notice(body: MandatedNoticeIn, caller: Caller) -> MandatedNoticeSpec:
    return MandatedNoticeSpec(given_at=body.given_at, given_by=proven_staff(caller)[0],
                              notice_version=body.notice_version, language=body.language)


@router.post("", response_model=SubjectOut, status_code=201, openapi_extra=RECORDED_BY_PERSON)
def create_subject(body: SubjectCreate, caller: SubjectRecorder, ctx: ContextDep, session: SessionDep,
                   request: Request) -> SubjectOut:
    """Issue a pseudonym for a person; at a mandated-reporter agency, only with the notice (CR8)."""
    actor = actor_of(caller, proven_staff(caller)[0])
    sink = GatewayAuditSink(ctx.clock, _request_id(request))
    notice = _notice(body.mandated_reporter_notice, caller) if body.mandated_reporter_notice else None
    with consent_errors():
        try:
            with session.begin():
                directory = RegistryDirectory(session)
                owner = directory.get(caller.agency_id)
                if owner is None:
                    raise NotFound("unknown_agency")
                subject = service.create_subject(
                    session, owner=owner, attributes=body.attributes.given(), directory=directory, actor=actor,
                    now=ctx.clock.now(), audit=sink, mandated_notice=notice,
                    placement_key=ctx.at_rest_key(PLACEMENT_KEY_LABEL),
                )
                return SubjectOut.of(subject, ctx.clock.now())
        except RefusedError as exc:
            # Audited in a transaction of its own: the refused subject was never stored.
            record_refusal(ctx.sessions, sink, action=AuditAction.SUBJECT_REFUSE,
                           reasons=[f.reason for f in exc.failures], actor=actor)
            raise


@router.get("/{subject_id}", response_model=SubjectOut)
def show_subject(subject_id: str, caller: SubjectWriter, ctx: ContextDep, session: SessionDep) -> SubjectOut:
    with consent_errors():
        subject = service.get_subject(session, subject_id, agency_id=caller.agency_id)
        return SubjectOut.of(subject, ctx.clock.now())


@router.post("/{subject_id}/attributes", response_model=list[AttributeChangeOut], openapi_extra=RECORDED_BY_PERSON)
def change_attributes(subject_id: str, body: AttributeChangeIn, caller: SubjectRecorder, ctx: ContextDep,
                      session: SessionDep, request: Request) -> list[AttributeChangeOut]:
    """Change attributes with a reason code; every change is logged and audited. A change that makes the
    person a child or their guardian a suspect tells those concerned in the same transaction (CH7, CH20)."""
    changed_by = proven_staff(caller)[0]
    actor = actor_of(caller, changed_by)
    with consent_errors(), session.begin():
        rows = service.change_attributes(
            session, subject_id, body.changes.given(), reason=body.reason, agency_id=caller.agency_id,
            directory=RegistryDirectory(session), actor=actor, now=ctx.clock.now(),
            audit=GatewayAuditSink(ctx.clock, _request_id(request)),
            placement_key=ctx.at_rest_key(PLACEMENT_KEY_LABEL),
        )
        if any(r.attribute in children.REVIEWED_ATTRIBUTES for r in rows):
            # CH7, CH20: a suspected guardian or an age correction tells those concerned at once.
            subject = service.get_subject(session, subject_id, agency_id=caller.agency_id)
            reviewer = Actor(agency_id=caller.agency_id, role=caller.kind, user=changed_by)
            children.review_subject(session, subject, actor=reviewer, now=ctx.clock.now())
        return [AttributeChangeOut.of(r) for r in rows]


@router.get("/{subject_id}/attribute-history", response_model=list[AttributeChangeOut])
def attribute_history(subject_id: str, caller: SubjectWriter, session: SessionDep) -> list[AttributeChangeOut]:
    with consent_errors():
        return [AttributeChangeOut.of(r) for r in service.attribute_history(session, subject_id,
                                                                            agency_id=caller.agency_id)]


@router.post("/{subject_id}/mandated-reporter-notices", response_model=MandatedNoticeOut, status_code=201,
             openapi_extra=RECORDED_BY_PERSON)
def record_mandated_notice(subject_id: str, body: MandatedNoticeIn, caller: SubjectRecorder, ctx: ContextDep,
                           session: SessionDep, request: Request) -> MandatedNoticeOut:
    """Record that the person was told this agency is a mandated reporter (CR8, S09)."""
    with consent_errors(), session.begin():
        notice = service.record_mandated_notice(
            session, subject_id, _notice(body, caller), agency_id=caller.agency_id,
            actor=actor_of(caller, proven_staff(caller)[0]),
            now=ctx.clock.now(), audit=GatewayAuditSink(ctx.clock, _request_id(request)),
        )
        return MandatedNoticeOut.of(notice)


@router.get("", response_model=list[SubjectOut])
def list_subjects(caller: SubjectWriter, ctx: ContextDep, session: SessionDep,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50,
                  before: Annotated[str | None, Query(max_length=64)] = None) -> list[SubjectOut]:
    """The caller's own subjects, newest first (the workspace's list of people); ``before`` pages on by
    a subject id from the previous page. Another agency's subjects are never listed."""
    query = select(service.Subject).where(service.Subject.owner_agency_id == caller.agency_id)
    if before is not None:
        anchor = session.get(service.Subject, before)
        if anchor is None or anchor.owner_agency_id != caller.agency_id:
            raise NotFound("unknown_subject")
        query = query.where(tuple_(service.Subject.created_at, service.Subject.id)
                            < tuple_(anchor.created_at, anchor.id))
    rows = session.scalars(query.order_by(service.Subject.created_at.desc(), service.Subject.id.desc()).limit(limit))
    now = ctx.clock.now()
    return [SubjectOut.of(subject, now) for subject in rows]
