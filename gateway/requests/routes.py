"""``/v1/information-requests``: ask another agency for named information; its inbox; answer or decline."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from .. import db
from ..auth.permission import Permission
from ..deps import Caller, ContextDep, SessionDep, person_token, require_person, require_scope
from ..exchange.catalogue import field_classes
from ..exchange.routes import planning_person
from ..responses import InformationRequestOut, PlanOut
from ..staff.roles import Entitlement
from . import service
from .models import DeclineReason

router = APIRouter(prefix="/v1/information-requests", tags=["information requests"])
Writer = Annotated[Caller, Depends(require_scope(Permission.REFERRALS_WRITE))]
Reader = Annotated[Caller, Depends(require_scope(Permission.REFERRALS_READ))]
Person = Annotated[Caller, Depends(require_person(Permission.REFERRALS_WRITE, Entitlement.REFERRAL_WORK))]
"""Asking for information about a person, and declining to give it, are a person's decisions (the same
people who may answer): the agency's system alone is refused with ``person_token_required``, audited,
and the audit entry names the signed-in person."""
FIELD_NAME = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,4}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestBody(Strict):
    holder_agency_id: str = Field(min_length=2, max_length=64)
    subject_ref: str = Field(min_length=6, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    """The holder's subject id given to the requester earlier, or an opaque reference; never a name."""
    purpose: str = Field(min_length=2, max_length=40, pattern=r"^[a-z_]+$")
    fields: list[Annotated[str, Field(max_length=120, pattern=FIELD_NAME)]] = Field(min_length=1, max_length=60)
    basis: str = Field(pattern=r"^(consent|L\d{1,2}[a-z]?)$")
    urgency: Literal["urgent", "medium", "low"] = "medium"
    respond_by: datetime | None = None


class DeclineBody(Strict):
    reason: DeclineReason


class AnswerBody(Strict):
    """Nothing to say: the plan is made for the person the token acts for (role from their account)."""


@cache
def _purposes(policy_dir: Path) -> frozenset[str]:
    document = json.loads((policy_dir / "data" / "purposes.json").read_text(encoding="utf-8"))
    return frozenset(document["purposes"])


@router.post("", status_code=201, response_model=InformationRequestOut, response_model_exclude_unset=True,
             openapi_extra=person_token(Entitlement.REFERRAL_WORK))
def create_request(body: RequestBody, caller: Person, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Ask another agency for named information, as the signed-in person the token acts for (audited
    with them): the request claims a basis, so a person answers for it."""
    policy_dir = ctx.settings.policy_dir
    with session.begin():
        request = service.create(session, ctx, caller, service.RequestSpec(
            holder_agency_id=body.holder_agency_id, subject_ref=body.subject_ref, purpose=body.purpose,
            fields=tuple(body.fields), basis=body.basis, urgency=body.urgency, respond_by=body.respond_by,
        ), known_fields=frozenset(field_classes(policy_dir)), known_purposes=_purposes(policy_dir))
        return service.document(request, caller, ctx.clock.now())


@router.get("", response_model=list[InformationRequestOut], response_model_exclude_unset=True)
def list_requests(caller: Reader, ctx: ContextDep, session: SessionDep,
                  box: Annotated[Literal["inbox", "outbox"], Query()] = "inbox") -> list[dict[str, Any]]:
    """``inbox``: requests to the calling agency; ``outbox``: those it made."""
    with db.read_transaction(session):
        now = ctx.clock.now()
        return [service.document(r, caller, now) for r in service.listing(session, caller, box)]


@router.get("/{request_id}", response_model=InformationRequestOut, response_model_exclude_unset=True)
def show_request(request_id: str, caller: Reader, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    with db.read_transaction(session):
        return service.document(service.get(session, caller, request_id), caller, ctx.clock.now())


@router.post("/{request_id}/decline", response_model=InformationRequestOut, response_model_exclude_unset=True,
             openapi_extra=person_token(Entitlement.REFERRAL_WORK))
def decline_request(request_id: str, body: DeclineBody, caller: Person, ctx: ContextDep,
                    session: SessionDep) -> dict[str, Any]:
    """Decline with a closed reason code, as the signed-in person the token acts for (audited with them)."""
    with session.begin():
        request = service.decline(session, ctx, caller, request_id, str(body.reason))
        return service.document(request, caller, ctx.clock.now())


@router.post("/{request_id}/answer", response_model=PlanOut, openapi_extra=person_token(Entitlement.REFERRAL_WORK))
def answer_request(request_id: str, body: AnswerBody, caller: Writer, ctx: ContextDep, session: SessionDep,
                   request: Request) -> dict[str, Any]:
    """Run the holder's referral to the requester through the policy; the answer is the plan (as
    ``POST /v1/plans`` returns it): seal and submit it as usual when allowed."""
    user_role, user_id = planning_person(caller, ctx, "/v1/information-requests/{id}/answer")
    return service.answer(session, ctx, caller, request_id, user_role=user_role, user_id=user_id,
                          request_id_header=getattr(request.state, "request_id", None))
