"""``/v1/linkage``: enrol a subject's linkage key, ask who else may know them, resolve a match;
the operator starts a new epoch when the agencies rotate their shared secret."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..auth.permission import Permission
from ..deps import Caller, ContextDep, OperatorDep, SessionDep, person_token, require_person, require_scope
from ..exchange.routes import planning_person
from ..responses import LinkageEpochOut, LinkageKeyOut, LinkageMatchOut, LinkageQueryOut
from ..staff.roles import Entitlement
from . import service

router = APIRouter(prefix="/v1/linkage", tags=["linkage"])
Agency = Annotated[Caller, Depends(require_scope(Permission.REFERRALS_WRITE))]
Recorder = Annotated[Caller, Depends(require_person(Permission.REFERRALS_WRITE, Entitlement.RECORD_FOR_PERSON))]
"""Enrolling or removing a person's linkage key records something about them: a signed-in person does
it (the audit entry names them); the agency's system alone is refused (``person_token_required``)."""
SubjectId = Annotated[str, Path(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyBody(Strict):
    """A linkage key as ``connectors.linkage.LinkageKey.document()`` makes it."""

    epoch: str = Field(min_length=1, max_length=40)
    clk: str = Field(min_length=4, max_length=400)
    check_value: str = Field(min_length=1, max_length=24)
    version: str = Field(min_length=1, max_length=40)


class QueryBody(Strict):
    subject_id: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class EpochBody(Strict):
    epoch: str = Field(min_length=1, max_length=40)


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


@router.put("/subjects/{subject_id}/key", response_model=LinkageKeyOut,
            openapi_extra=person_token(Entitlement.RECORD_FOR_PERSON))
def enrol_key(subject_id: SubjectId, body: KeyBody, caller: Recorder, ctx: ContextDep, session: SessionDep,
              request: Request) -> dict[str, Any]:
    """Store (or replace) your subject's linkage key; needs a consent in force for ``record_linkage``."""
    return service.enrol(session, ctx, caller, subject_id, body.model_dump(), request_id=_rid(request))


@router.delete("/subjects/{subject_id}/key", status_code=204,
               openapi_extra=person_token(Entitlement.RECORD_FOR_PERSON))
def remove_key(subject_id: SubjectId, caller: Recorder, ctx: ContextDep, session: SessionDep,
               request: Request) -> Response:
    """Delete your subject's linkage key."""
    service.remove(session, ctx, caller, subject_id, request_id=_rid(request))
    return Response(status_code=204)


@router.post("/queries", response_model=LinkageQueryOut, openapi_extra=person_token(Entitlement.REFERRAL_WORK))
def ask(body: QueryBody, caller: Agency, ctx: ContextDep, session: SessionDep, request: Request) -> dict[str, Any]:
    """Which agencies may already know this subject of yours? Agencies and strengths only, never data.
    Asked by a signed-in person (their person token): the policy decides with the role from their
    account, so the volunteer firewall applies; the agency's system alone is refused."""
    user_role, user_id = planning_person(caller, ctx, "/v1/linkage/queries")
    return service.query(session, ctx, caller, body.subject_id, user_role=user_role, user_id=user_id,
                         request_id=_rid(request))


@router.get("/matches/{match_id}", response_model=LinkageMatchOut, response_model_exclude_unset=True)
def match(match_id: Annotated[str, Path(max_length=64)], caller: Agency, session: SessionDep) -> dict[str, Any]:
    """A reported match, for its asker or its holder (what a follow-up request names)."""
    return service.match_view(session, caller, match_id)


@router.post("/epochs", status_code=201, response_model=LinkageEpochOut)
def start_epoch(body: EpochBody, caller: OperatorDep, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Operator: the agencies encode with a new shared secret from now on; older keys are deleted."""
    return service.start_epoch(session, ctx, caller, body.epoch)
