"""``/v1/retention``: seal and erase a subject (telling every past recipient), legal holds and court
orders, the notices a recipient must acknowledge, staleness warnings (issue 22).

The subject's owner agency acts through a signed-in person (``case_decision``: seal, erase, orders;
``record_for_person``: confirming key details). A recipient's system reads and acknowledges its notices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from .auth.permission import Permission
from .deps import Caller, ContextDep, SessionDep, person_token, require_person, require_scope
from .responses import Answer, Stamp
from .retention_broadcast import acknowledge, notice_document, notices_for
from .retention_models import RetentionNotice, SubjectOrder
from .sealing import ACCESS_ORDER, HOLDS, SEALS, erase, lift_order, place_order, seal
from .staff.roles import Entitlement
from .staleness import verify_key_details, warnings_for

router = APIRouter(prefix="/v1/retention", tags=["retention"])
CaseDecider = Annotated[Caller, Depends(require_person(Permission.SUBJECTS_WRITE, Entitlement.CASE_DECISION))]
Recorder = Annotated[Caller, Depends(require_person(Permission.SUBJECTS_WRITE, Entitlement.RECORD_FOR_PERSON))]
Receiver = Annotated[Caller, Depends(require_scope(Permission.REFERRALS_READ))]
Holder = Annotated[Caller, Depends(require_scope(Permission.SUBJECTS_WRITE))]
Lifter = Annotated[Caller, Depends(require_person(Permission.SUBJECTS_WRITE, Entitlement.APPROVE_EXCEPTION))]
"""Lifting a hold or court order takes a person entitled to approve (a supervisor), and whoever lifts
one may not then erase the subject themselves (:func:`gateway.sealing.erase`): two people, not one."""

CODE = r"^[A-Za-z0-9_.:/\-]+$"
CLASS = Annotated[str, Field(pattern=r"^D\d{1,2}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SealBody(Strict):
    kind: str = Field(pattern="^(" + "|".join(SEALS) + ")$")
    classes: list[CLASS] = Field(default_factory=list, max_length=26)
    """The classes sealed; empty seals every class of the subject."""
    reference: str = Field(min_length=2, max_length=120, pattern=CODE)
    """The court's or authority's reference (a docket code, never personal data)."""


class OrderBody(Strict):
    kind: str = Field(pattern="^(" + "|".join((*HOLDS, ACCESS_ORDER)) + ")$")
    classes: list[CLASS] = Field(default_factory=list, max_length=26)
    reference: str = Field(min_length=2, max_length=120, pattern=CODE)
    recipient_agency_id: str | None = Field(default=None, min_length=2, max_length=64)
    """An access order only: the agency the court opened the sealed classes to."""
    days: int | None = Field(default=None, ge=1, le=3650)
    """How long the order stands (none: until lifted)."""


class NoticeSentOut(Answer):
    notice_id: str
    agency_id: str
    classes: list[str]


class OrderOut(Answer):
    id: str
    kind: str
    classes: list[str]
    recipient_agency_id: str | None
    created_at: Stamp
    ends_at: Stamp | None
    lifted_at: Stamp | None


class SealOut(Answer):
    order: OrderOut
    notices: list[NoticeSentOut]


class ErasureOut(Answer):
    erased: bool
    deleted: dict[str, int]
    notices: list[NoticeSentOut]


class NoticeOut(Answer):
    notice: dict[str, Any]
    """The signed document: notice_id, agency_id, action, classes, reference (sealed to your key: open it
    with the SDK), key_id, created_at, ack_due."""
    signature: str
    """The gateway's Ed25519 signature over the canonical JSON of ``notice`` (its JWKS key)."""
    acknowledged_at: Stamp | None
    overdue: bool


class ReviewOut(Answer):
    last_verified_at: Stamp


class WarningOut(Answer):
    id: str
    subject_id: str
    kind: str
    due_at: Stamp
    created_at: Stamp


def _order(order: SubjectOrder) -> dict[str, Any]:
    return {"id": order.id, "kind": order.kind, "classes": list(order.classes),
            "recipient_agency_id": order.recipient_agency_id, "created_at": order.created_at,
            "ends_at": order.ends_at, "lifted_at": order.lifted_at}


def _sent(notices: list[RetentionNotice]) -> list[dict[str, Any]]:
    return [{"notice_id": n.id, "agency_id": n.agency_id, "classes": list(n.classes)} for n in notices]


def _notice(notice: RetentionNotice, now: datetime) -> dict[str, Any]:
    return {"notice": notice_document(notice), "signature": notice.signature,
            "acknowledged_at": notice.acknowledged_at,
            "overdue": notice.acknowledged_at is None and notice.ack_due <= now}


@router.post("/subjects/{subject_id}/seals", status_code=201, response_model=SealOut,
             openapi_extra=person_token(Entitlement.CASE_DECISION))
def seal_subject(subject_id: str, body: SealBody, caller: CaseDecider, ctx: ContextDep,
                 session: SessionDep) -> dict[str, Any]:
    """Seal (vacate, expunge) classes of your subject: plans for them are refused without a court access
    order, and every agency that received them is sent a notice to acknowledge. ``409
    court_order_conflict`` when a court order on the subject covers the classes."""
    done = seal(session, ctx, agency_id=caller.agency_id, actor=caller.actor(), subject_id=subject_id,
                kind=body.kind, classes=list(body.classes), reference=body.reference)
    return {"order": _order(done.order), "notices": _sent(done.notices)}


@router.post("/subjects/{subject_id}/erasure", response_model=ErasureOut,
             openapi_extra=person_token(Entitlement.CASE_DECISION))
def erase_subject(subject_id: str, caller: CaseDecider, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Erase your subject: every past recipient is sent an ``erased`` notice, then every row about the
    person goes and the log forgets who it was. ``409 legal_hold_active`` (or ``court_order_conflict``)
    while a hold preserves the data."""
    done = erase(session, ctx, agency_id=caller.agency_id, actor=caller.actor(), subject_id=subject_id)
    return {"erased": True, "deleted": dict(done.erasure.deleted), "notices": _sent(done.notices)}


@router.post("/subjects/{subject_id}/orders", status_code=201, response_model=OrderOut,
             openapi_extra=person_token(Entitlement.CASE_DECISION))
def place_subject_order(subject_id: str, body: OrderBody, caller: CaseDecider, ctx: ContextDep,
                        session: SessionDep) -> dict[str, Any]:
    """Record a legal hold or a preserving court order (blocks erasure and the retention schedule), or a
    court access order opening sealed classes to one recipient."""
    return _order(place_order(session, ctx, agency_id=caller.agency_id, actor=caller.actor(), subject_id=subject_id,
                              kind=body.kind, classes=list(body.classes), reference=body.reference,
                              recipient_agency_id=body.recipient_agency_id, days=body.days))


@router.post("/orders/{order_id}/lift", response_model=OrderOut,
             openapi_extra=person_token(Entitlement.APPROVE_EXCEPTION))
def lift_subject_order(order_id: str, caller: Lifter, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Lift a hold or order of your agency (idempotent); the retention schedule resumes on its next run."""
    return _order(lift_order(session, ctx, agency_id=caller.agency_id, actor=caller.actor(), order_id=order_id))


@router.post("/subjects/{subject_id}/key-details-review", response_model=ReviewOut,
             openapi_extra=person_token(Entitlement.RECORD_FOR_PERSON))
def review_key_details(subject_id: str, caller: Recorder, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Confirm your subject's key details were re-checked with the person (the staleness clock restarts)."""
    with session.begin():
        review = verify_key_details(session, agency_id=caller.agency_id, subject_id=subject_id, actor=caller.actor(),
                                    at=ctx.clock.now())
        return {"last_verified_at": review.last_verified_at}


@router.get("/notices", response_model=list[NoticeOut])
def list_notices(caller: Receiver, ctx: ContextDep, session: SessionDep) -> list[dict[str, Any]]:
    """The sealing and erasure notices sent to your agency, oldest first."""
    with session.begin():
        now = ctx.clock.now()
        return [_notice(n, now) for n in notices_for(session, caller.agency_id)]


@router.post("/notices/{notice_id}/ack", response_model=NoticeOut)
def acknowledge_notice(notice_id: str, caller: Receiver, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Confirm your agency applied the notice (sealed or erased its copies). Idempotent."""
    with session.begin():
        now = ctx.clock.now()
        return _notice(acknowledge(session, caller.agency_id, notice_id, actor=caller.actor(), at=now), now)


@router.get("/warnings", response_model=list[WarningOut])
def list_warnings(caller: Holder, session: SessionDep) -> list[dict[str, Any]]:
    """Your subjects' stale key details and the deletions coming (``purge_due:<kind>``), oldest first."""
    with session.begin():
        return [{"id": w.id, "subject_id": w.subject_id, "kind": w.kind, "due_at": w.due_at,
                 "created_at": w.created_at} for w in warnings_for(session, caller.agency_id)]
