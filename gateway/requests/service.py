"""Information requests: create, read (inbox and outbox), answer through the policy, decline.

A request names a reference the holder can resolve (its own subject id, given to the requester
earlier, or an opaque reference) and never personal data; the requester is not told whether the
reference resolves. The holder answers with a referral that the policy decides as usual
(:func:`gateway.exchange.service.plan`, from the holder to the requester, for the request's purpose
and fields): allowed, the request records the plan and the envelope the requester will receive;
refused, it records the policy's reasons. Or the holder declines with a closed reason code. Every
step is audited. Deadlines follow the urgency levels of digest 6.5: an urgent request is due within
24 hours; otherwise the requester may set a date within 90 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kernel.ids import SHORT, new_id

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..deps import Caller
from ..errors import Conflict, NotFound, Unprocessable
from ..exchange import service as exchange
from ..registry.models import Agency, AgencyKind, VettingStatus
from .models import DeclineReason, InformationRequest, RequestStatus

URGENT_DUE = timedelta(hours=24)
LONGEST_DUE = timedelta(days=90)
URGENCIES = ("urgent", "medium", "low")
MAX_FIELDS = 60


@dataclass(frozen=True)
class RequestSpec:
    holder_agency_id: str
    subject_ref: str
    purpose: str
    fields: tuple[str, ...]
    basis: str
    urgency: str = "medium"
    respond_by: datetime | None = None


def _actor(caller: Caller) -> Actor:
    """The agency and, when its client acts for one, the signed-in person (a decline names its decliner)."""
    return Actor(agency_id=caller.agency_id, role=caller.kind, user=caller.user)


def due_at(spec: RequestSpec, now: datetime) -> datetime | None:
    """When the answer is due: 24 hours for an urgent request (digest 6.5), else the requester's date."""
    if spec.urgency == "urgent":
        return now + URGENT_DUE
    if spec.respond_by is None:
        return None
    if not now < spec.respond_by <= now + LONGEST_DUE:
        raise Unprocessable("respond_by_invalid", "A reply date lies in the future and within 90 days.")
    return spec.respond_by


def create(session: Session, ctx: GatewayContext, caller: Caller, spec: RequestSpec, *,
           known_fields: frozenset[str], known_purposes: frozenset[str]) -> InformationRequest:
    """Record a request (the caller's transaction). Nothing about the person is checked or revealed."""
    now = ctx.clock.now()
    if spec.holder_agency_id == caller.agency_id:
        raise Unprocessable("holder_is_requester", "An agency does not send requests to itself.")
    holder = session.get(Agency, spec.holder_agency_id)
    if holder is None or holder.kind == AgencyKind.GATEWAY_OPERATOR or holder.vetting_status != VettingStatus.VETTED:
        raise Unprocessable("unknown_holder", "The holder is not a vetted agency.")
    if spec.purpose not in known_purposes:
        raise Unprocessable("unknown_purpose", "The purpose is not one the policy knows.")
    if not spec.fields or len(spec.fields) > MAX_FIELDS or not set(spec.fields) <= known_fields:
        raise Unprocessable("invalid_field_list", f"Name between 1 and {MAX_FIELDS} catalogue fields.")
    if spec.urgency not in URGENCIES:
        raise Unprocessable("urgency_invalid", "Urgency is urgent, medium or low.")
    request = InformationRequest(
        id=new_id("ireq", size=SHORT), requester_agency_id=caller.agency_id,
        holder_agency_id=holder.id, subject_ref=spec.subject_ref, purpose=spec.purpose,
        fields=sorted(set(spec.fields)), basis=spec.basis, urgency=spec.urgency, status=RequestStatus.OPEN,
        created_at=now, due_at=due_at(spec, now), closed_at=None, decline_reason=None, refusal_reasons=None,
        plan_id=None, envelope_id=None,
    )
    session.add(request)
    session.flush()
    record(session, AuditEvent(AuditTag.INFORMATION_REQUEST_CREATE, purpose=spec.purpose,
                               recipient_agency_id=holder.id,
                               details={"request_id": request.id, "basis": spec.basis, "fields": len(request.fields),
                                        "urgency": spec.urgency}),
           actor=_actor(caller), at=now)
    return request


def listing(session: Session, caller: Caller, box: str) -> list[InformationRequest]:
    """``inbox``: requests to the caller; ``outbox``: requests it made. Newest first."""
    column = InformationRequest.holder_agency_id if box == "inbox" else InformationRequest.requester_agency_id
    return list(session.scalars(select(InformationRequest).where(column == caller.agency_id)
                                .order_by(InformationRequest.created_at.desc(), InformationRequest.id)))


def get(session: Session, caller: Caller, request_id: str, *, holder_only: bool = False) -> InformationRequest:
    """A request the caller is party to; anyone else gets ``unknown_request`` (no existence oracle)."""
    request = session.get(InformationRequest, request_id)
    parties = {request.holder_agency_id} if request and holder_only else (
        {request.holder_agency_id, request.requester_agency_id} if request else set())
    if request is None or caller.agency_id not in parties:
        raise NotFound("unknown_request")
    return request


def _open(request: InformationRequest) -> None:
    if request.status != RequestStatus.OPEN:
        raise Conflict(f"request_{request.status}", f"This request is already {request.status}.")


def decline(session: Session, ctx: GatewayContext, caller: Caller, request_id: str, reason: str) -> InformationRequest:
    """The holder declines with a closed reason code (the caller's transaction). A person's decision:
    the route lets only a signed-in staff member's token through, and the audit entry names them."""
    if reason not in set(DeclineReason):
        raise Unprocessable("decline_reason_invalid", "Decline with one of: " + ", ".join(DeclineReason) + ".")
    request = get(session, caller, request_id, holder_only=True)
    _open(request)
    now = ctx.clock.now()
    request.status, request.decline_reason, request.closed_at = RequestStatus.DECLINED, reason, now
    record(session, AuditEvent(AuditTag.INFORMATION_REQUEST_DECLINE, decision="deny", reason=reason,
                               purpose=request.purpose, recipient_agency_id=request.requester_agency_id,
                               details={"request_id": request.id}),
           actor=_actor(caller), at=now)
    return request


def answer(session: Session, ctx: GatewayContext, caller: Caller, request_id: str, *,
           user_role: str, user_id: str,
           request_id_header: str | None = None) -> dict[str, Any]:
    """The holder answers with a referral the policy decides as usual; the request records the outcome.

    The plan runs in its own transaction (as ``POST /v1/plans`` does); the request is then
    updated in a second one. A crash between them leaves an unused plan that expires, and an
    open request that can be answered again.
    """
    with session.begin():
        request = get(session, caller, request_id, holder_only=True)
        _open(request)
        plan_request = exchange.PlanRequest(subject_id=request.subject_ref,
                                            recipient_agency_id=request.requester_agency_id,
                                            purpose=request.purpose, fields=tuple(request.fields),
                                            user_role=user_role, user_id=user_id)
    plan = exchange.plan(session, ctx, caller, plan_request, request_id_header)
    now = ctx.clock.now()
    with session.begin():
        request = get(session, caller, request_id, holder_only=True)
        _open(request)
        allowed = bool(plan.get("allow"))
        request.status = RequestStatus.ANSWERED if allowed else RequestStatus.REFUSED
        request.closed_at = now
        request.plan_id, request.envelope_id = plan.get("plan_id"), plan.get("envelope_id")
        request.refusal_reasons = None if allowed else list(plan.get("reasons") or [])
        record(session, AuditEvent(AuditTag.INFORMATION_REQUEST_PLAN, decision="allow" if allowed else "deny",
                                   reason=None if allowed else (request.refusal_reasons or ["denied"])[0],
                                   subject_id=request.subject_ref, purpose=request.purpose,
                                   recipient_agency_id=request.requester_agency_id,
                                   details={"request_id": request.id, "plan_id": request.plan_id}),
               actor=_actor(caller), at=now)
    return plan


def document(request: InformationRequest, caller: Caller, now: datetime) -> dict[str, Any]:
    """The wire form. The requester never sees the holder's plan beyond the envelope it will receive."""
    holder = caller.agency_id == request.holder_agency_id
    return {
        "id": request.id, "requester_agency_id": request.requester_agency_id,
        "holder_agency_id": request.holder_agency_id, "subject_ref": request.subject_ref,
        "purpose": request.purpose, "fields": list(request.fields), "basis": request.basis,
        "urgency": request.urgency, "status": request.status, "created_at": request.created_at,
        "due_at": request.due_at, "overdue": bool(request.due_at and request.status == RequestStatus.OPEN
                                                  and now > request.due_at),
        "closed_at": request.closed_at, "decline_reason": request.decline_reason,
        "refusal_reasons": request.refusal_reasons, "envelope_id": request.envelope_id,
        **({"plan_id": request.plan_id} if holder else {}),
    }


def about_subject(session: Session, subject_id: str) -> list[InformationRequest]:
    """Requests that named this subject id (for the person's own view)."""
    return list(session.scalars(select(InformationRequest).where(or_(InformationRequest.subject_ref == subject_id))
                                .order_by(InformationRequest.created_at)))
