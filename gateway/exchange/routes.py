"""``/v1/plans``, ``/v1/envelopes``, ``/v1/inbox``, ``/v1/outbox``: the exchange API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..audit.log import AuditEvent, record_refusal
from ..audit.tags import AuditTag
from ..auth.permission import Permission
from ..context import GatewayContext
from ..deps import Caller, ContextDep, SessionDep, person_token, require_person, require_scope
from ..errors import Forbidden
from ..responses import AcknowledgementOut, EnvelopeOut, OutboxOut, PlanOut, PreviewApprovalOut, SubmissionOut
from ..staff.roles import Entitlement, entitled
from . import service

router = APIRouter(prefix="/v1", tags=["exchange"])
Sender = Annotated[Caller, Depends(require_scope(Permission.REFERRALS_WRITE))]
Receiver = Annotated[Caller, Depends(require_scope(Permission.REFERRALS_READ))]
WithThePerson = Annotated[Caller, Depends(require_person(Permission.REFERRALS_WRITE,
                                                        Entitlement.ATTEST_PERSON_PRESENT))]

FIELD_NAME = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,4}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanBody(Strict):
    subject_id: str = Field(min_length=3, max_length=64)
    recipient_agency_id: str = Field(min_length=2, max_length=64)
    purpose: str = Field(min_length=2, max_length=40, pattern=r"^[a-z_]+$")
    fields: list[Annotated[str, Field(max_length=120, pattern=FIELD_NAME)]] = Field(min_length=1, max_length=200)
    exception_grant_id: str | None = Field(default=None, max_length=64)
    """An approved exception grant to decide under (digest 4); it is used up by the submit."""


class PreviewApprovalBody(Strict):
    preview_hash: str = Field(pattern=r"^hmac-sha256:[0-9a-f]{64}$",
                              description="The preview's keyed commitment (SDK: Preview.hash); an unkeyed "
                                          "sha256 of the preview could be searched with a dictionary.")
    channel: str = Field(pattern=r"^(in_person|video|phone|portal)$")


class SubmitBody(Strict):
    plan_id: str = Field(min_length=3, max_length=64)
    manifest: dict[str, Any]
    signature: str = Field(min_length=80, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    ciphertexts: dict[Annotated[str, Field(max_length=120)], Annotated[str, Field(max_length=700_000)]] = Field(
        min_length=1, max_length=200)
    exception_grant_id: str | None = Field(default=None, max_length=64)
    """The exception grant the plan relied on; consumed in the same transaction as the envelope."""
    endpoint_id: str | None = Field(default=None, max_length=64)
    """Ask for a push to this verified endpoint of the recipient (otherwise the recipient pulls)."""


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def planning_person(caller: Caller, ctx: GatewayContext, operation: str) -> tuple[str, str]:
    """The policy role and account id of the person a decision is made for (a plan, an answer, a
    linkage question): from their account, never from the request. The policy decides with a person's
    role and there is no default role, so the agency's system alone is refused
    (``person_token_required``), and so is a person with no referral role (``role_not_entitled``);
    both audited, whatever the agency publishes."""
    error: Forbidden | None = None
    if caller.person is None:
        error = Forbidden("person_token_required", "This decision is made with a person's role: act for the "
                          "signed-in staff member with their person token (RFC 8693).")
    elif caller.person.policy_role is None or not entitled(caller.person.roles, Entitlement.REFERRAL_WORK):
        error = Forbidden("role_not_entitled", "The signed-in person's roles do not include referral work.")
    if error is not None:
        record_refusal(ctx.sessions, AuditEvent(AuditTag.STAFF_PERSON_REFUSE, decision="deny", reason=error.reason,
                                                details={"entitlement": Entitlement.REFERRAL_WORK.value,
                                                         "operation": operation}),
                       actor=caller.actor(), at=ctx.clock.now())
        raise error
    assert caller.person is not None and caller.person.policy_role is not None  # narrowed above
    return caller.person.policy_role, caller.person.account_id


@router.post("/plans", response_model=PlanOut, openapi_extra=person_token(Entitlement.REFERRAL_WORK))
def create_plan(body: PlanBody, caller: Sender, ctx: ContextDep, session: SessionDep,
                request: Request) -> dict[str, Any]:
    """Ask what may be sent: the decision (permitted fields, reasons, basis, obligations) and, if allowed,
    a plan id and envelope id that expire. With a token acting for a signed-in person, the policy
    decides with that person's role from their account (a volunteer stays a volunteer)."""
    user_role, user_id = planning_person(caller, ctx, "/v1/plans")
    return service.plan(session, ctx, caller, service.PlanRequest(
        subject_id=body.subject_id, recipient_agency_id=body.recipient_agency_id, purpose=body.purpose,
        fields=tuple(body.fields), user_role=user_role, user_id=user_id,
        exception_grant_id=body.exception_grant_id,
    ), request_id=_rid(request))


@router.post("/plans/{plan_id}/preview-approvals", status_code=201, response_model=PreviewApprovalOut,
             openapi_extra=person_token(Entitlement.ATTEST_PERSON_PRESENT))
def approve_preview(plan_id: str, body: PreviewApprovalBody, caller: WithThePerson, ctx: ContextDep,
                    session: SessionDep) -> dict[str, Any]:
    """Record that the person approved the preview with this hash (the submit must carry the same hash),
    attested by the signed-in advocate with them (their person token is required)."""
    return service.record_preview_approval(session, ctx, caller, plan_id, preview_hash=body.preview_hash,
                                           approved_by=caller.user or "", channel=body.channel)


@router.post("/envelopes", status_code=201, response_model=SubmissionOut)
def submit_envelope(
    body: SubmitBody, caller: Sender, ctx: ContextDep, session: SessionDep, request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> JSONResponse:
    """Submit a sealed referral. Policy is decided again now; nothing is stored if anything fails."""
    exclude = {"endpoint_id"} if body.exception_grant_id else {"endpoint_id", "exception_grant_id"}
    outcome = service.submit(session, ctx, caller, body.model_dump(exclude=exclude),
                             idempotency_key=idempotency_key, endpoint_id=body.endpoint_id,
                             request_id=_rid(request))
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)


@router.get("/inbox", response_model=list[EnvelopeOut])
def get_inbox(caller: Receiver, ctx: ContextDep, session: SessionDep, request: Request,
              limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict[str, Any]]:
    """Envelopes waiting for you, oldest first. Acknowledge each once it is safely stored on your side."""
    return service.inbox(session, ctx, caller, limit=limit, request_id=_rid(request))


@router.post("/envelopes/{envelope_id}/ack", response_model=AcknowledgementOut)
def acknowledge_envelope(envelope_id: str, caller: Receiver, ctx: ContextDep, session: SessionDep,
                         request: Request) -> dict[str, Any]:
    """Idempotent acknowledgement; the ciphertext is purged after the retention window."""
    return service.acknowledge(session, ctx, caller, envelope_id, request_id=_rid(request))


@router.get("/outbox/{outbox_envelope_id}", response_model=OutboxOut)
def outbox_status(outbox_envelope_id: str, caller: Sender, session: SessionDep) -> dict[str, Any]:
    """Where your envelope is: queued, delivered, acknowledged, purged, or expired (never acknowledged)."""
    return service.outbox_status(session, caller, outbox_envelope_id)
