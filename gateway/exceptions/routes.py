"""``/v1/exceptions``: request, approve (four eyes), read grants; the agency's exception notices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..auth.permission import Permission
from ..deps import Caller, ContextDep, SessionDep, person_token, require_person, require_scope
from ..responses import (
    AgencyNoticeOut,
    BestInterestsOut,
    ChildReviewOut,
    ExplanationOut,
    GrantOut,
    InterviewOut,
    ScheduledInterviewOut,
)
from ..staff.roles import Entitlement
from . import children, interviews, service

router = APIRouter(prefix="/v1/exceptions", tags=["exceptions"])
children_router = APIRouter(prefix="/v1/children", tags=["children"])
Sender = Annotated[Caller, Depends(require_scope(Permission.REFERRALS_WRITE))]
Requester = Annotated[Caller, Depends(require_person(Permission.REFERRALS_WRITE, Entitlement.REQUEST_EXCEPTION))]
Approver = Annotated[Caller, Depends(require_person(Permission.REFERRALS_WRITE, Entitlement.APPROVE_EXCEPTION))]
WithThePerson = Annotated[Caller, Depends(require_person(Permission.REFERRALS_WRITE,
                                                        Entitlement.ATTEST_PERSON_PRESENT))]
CaseDecider = Annotated[Caller, Depends(require_person(Permission.REFERRALS_WRITE, Entitlement.CASE_DECISION))]

CODE = r"^[A-Za-z0-9_.:\-]+$"
FIELD_NAME = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,4}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GrantBody(Strict):
    subject_id: str = Field(min_length=3, max_length=64)
    basis: str = Field(pattern=r"^L\d{1,2}[a-z]?$")
    scenario: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9_]+$")
    justification_code: str = Field(min_length=2, max_length=80, pattern=CODE)
    justification_ref: str = Field(min_length=2, max_length=120, pattern=CODE)
    """A reference to the written justification kept by the agency: never personal data."""
    recipient_agency_id: str = Field(min_length=2, max_length=64)
    purpose: str = Field(min_length=2, max_length=40, pattern=r"^[a-z_]+$")
    classes: list[Annotated[str, Field(pattern=r"^D\d{1,2}$")]] = Field(min_length=1, max_length=26)
    fields: list[Annotated[str, Field(max_length=120, pattern=FIELD_NAME)]] = Field(default_factory=list,
                                                                                     max_length=50)
    ttl_s: int = Field(default=service.DEFAULT_TTL_S, ge=60, le=service.MAX_TTL_S)
    best_interests_ref: str | None = Field(default=None, max_length=120, pattern=CODE)
    defer_until: AwareDatetime | None = None
    """Tell the person later than at use: only for a covert investigation, no later than your agency's
    published maximum (never above the legal one). The grant's second approver approves it too."""
    defer_reason: service.DeferReason | None = None


@router.post("", status_code=201, response_model=GrantOut, openapi_extra=person_token(Entitlement.REQUEST_EXCEPTION))
def request_grant(body: GrantBody, caller: Requester, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Ask for an exception grant; refused at once outside your published exception policy (S35).
    The requester is the signed-in person the token acts for (a person token is required)."""
    return service.request_grant(session, ctx, caller, service.GrantRequest(
        subject_id=body.subject_id, basis=body.basis, scenario=body.scenario,
        justification_code=body.justification_code, justification_ref=body.justification_ref,
        recipient_agency_id=body.recipient_agency_id, purpose=body.purpose, classes=tuple(body.classes),
        fields=tuple(body.fields), requested_by=caller.user or "", ttl_s=body.ttl_s,
        best_interests_ref=body.best_interests_ref, defer_until=body.defer_until, defer_reason=body.defer_reason,
    ))


class ExplanationBody(Strict):
    subject_id: str = Field(min_length=3, max_length=64)
    given_at: AwareDatetime
    policy_version: str = Field(min_length=1, max_length=64, pattern=CODE)
    language: str = Field(min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


@router.post("/explanations", status_code=201, response_model=ExplanationOut,
             openapi_extra=person_token(Entitlement.ATTEST_PERSON_PRESENT))
def record_explanation(body: ExplanationBody, caller: WithThePerson, ctx: ContextDep,
                       session: SessionDep) -> dict[str, Any]:
    """Record that the person was told, at the outset, when your agency may share without asking (L1);
    the general safeguarding override (L1) is refused for a person who was not. The staff member who
    told them records it, signed in (their person token)."""
    return service.record_explanation(session, ctx, caller, body.subject_id, given_at=body.given_at,
                                      given_by=caller.user or "", policy_version=body.policy_version,
                                      language=body.language)


@router.post("/{grant_id}/approvals", response_model=GrantOut,
             openapi_extra=person_token(Entitlement.APPROVE_EXCEPTION))
def approve_grant(grant_id: str, caller: Approver, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Four eyes: a second signed-in person of the same agency, entitled to approve and not the
    requester (checked on the account, not on a name), approves. No body: the token says who."""
    return service.approve_grant(session, ctx, caller, grant_id, caller.user or "")


@router.get("", response_model=list[GrantOut])
def list_grants(caller: Sender, session: SessionDep,
                subject_id: Annotated[str | None, Query(max_length=64)] = None) -> list[dict[str, Any]]:
    return service.list_grants(session, caller, subject_id)


@router.get("/notices", response_model=list[AgencyNoticeOut])
def agency_notices(caller: Sender, session: SessionDep) -> list[dict[str, Any]]:
    """What your agency must be told: exceptions used on your cases, suspected guardians, age corrections."""
    return service.agency_notices(session, caller)


@router.get("/{grant_id}", response_model=GrantOut)
def get_grant(grant_id: str, caller: Sender, session: SessionDep) -> dict[str, Any]:
    return service.get_grant(session, caller, grant_id)


class BestInterestsBody(Strict):
    reference: str = Field(min_length=2, max_length=120, pattern=CODE)
    decision_code: str = Field(min_length=2, max_length=40, pattern=r"^[a-z_]+$")


@children_router.post("/{subject_id}/best-interests", status_code=201, response_model=BestInterestsOut,
                      openapi_extra=person_token(Entitlement.CASE_DECISION))
def record_best_interests(subject_id: str, body: BestInterestsBody, caller: CaseDecider, ctx: ContextDep,
                          session: SessionDep) -> dict[str, Any]:
    """Record a best-interests decision for a child (CH2, CH19): a reference, never its text."""
    return children.record_best_interests(session, ctx, caller, subject_id, reference=body.reference,
                                          decision_code=body.decision_code, recorded_by=caller.user or "")


@children_router.post("/{subject_id}/review", response_model=ChildReviewOut)
def review_child(subject_id: str, caller: Sender, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """After an attribute change: tell the guardian advocate of a suspected guardian (CH7) and earlier
    recipients of adult-profile data of an age correction to child (CH20, S29). Idempotent."""
    return children.review(session, ctx, caller, subject_id)


class InterviewBody(Strict):
    kind: interviews.InterviewKind
    scheduled_for: AwareDatetime
    guardian_advocate_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=CODE)
    """The guardian advocate who will attend (CH10): must be the one allocated to the child."""
    guardian_advocate_briefed: bool = False
    """The guardian advocate has had an opportunity to speak to the child beforehand (CH10)."""
    parent_attending: bool = False
    parent_safety_ref: str | None = Field(default=None, min_length=2, max_length=120, pattern=CODE)
    """CH8: reference to the recorded assessment that the parent's attendance is safe."""
    interpreter: interviews.Interpreter = interviews.Interpreter.NONE


@children_router.post("/{subject_id}/interviews", status_code=201, response_model=ScheduledInterviewOut,
                      openapi_extra=person_token(Entitlement.CASE_DECISION))
def schedule_interview(subject_id: str, body: InterviewBody, caller: CaseDecider, ctx: ContextDep,
                       session: SessionDep) -> dict[str, Any]:
    """Schedule an interview or assessment of a child: refused without the allocated guardian advocate
    attending and briefed (CH10, S17), with a parent whose attendance was not assessed as safe (CH8), or
    with an interpreter who is not a child specialist (CH24)."""
    return interviews.schedule(session, ctx, caller, subject_id, interviews.InterviewRequest(
        kind=body.kind, scheduled_for=body.scheduled_for, guardian_advocate_id=body.guardian_advocate_id,
        guardian_advocate_briefed=body.guardian_advocate_briefed, parent_attending=body.parent_attending,
        parent_safety_ref=body.parent_safety_ref, interpreter=body.interpreter, scheduled_by=caller.user or ""))


@children_router.get("/{subject_id}/interviews", response_model=list[InterviewOut])
def list_interviews(subject_id: str, caller: Sender, session: SessionDep) -> list[dict[str, Any]]:
    return interviews.list_interviews(session, caller, subject_id)
