"""``/v1/staff``: an agency's administrator manages their agency's staff accounts, through their
agency's client acting for them (a person token, RFC 8693). No one else can: not another agency,
not the gateway operator, not the agency's system on its own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from crypto.passwords import SecretHasher

from ..accounts import StaffRole
from ..audit.log import AuditEvent, record_refusal
from ..audit.tags import AuditTag
from ..auth.permission import Permission
from ..context import GatewayContext
from ..deps import Caller, ContextDep, SessionDep, person_token, require_person, require_scope
from ..errors import Forbidden, GatewayError, Unprocessable
from ..responses import DeferralMaximumOut, EnrolmentOut, PlansNeedPersonOut, StaffAccountOut, StaffRolesOut, WhoAmIOut
from . import service
from .roles import ENTITLEMENTS, Entitlement

router = APIRouter(prefix="/v1/staff", tags=["staff"])
Administrator = Annotated[Caller, Depends(require_person(Permission.REGISTRY_READ, Entitlement.MANAGE_STAFF))]
Publisher = Annotated[Caller, Depends(require_person(Permission.REGISTRY_READ, Entitlement.PUBLISH_RULES))]
Agency = Annotated[Caller, Depends(require_scope(Permission.REGISTRY_READ))]
ROLE = r"^[a-z_]{3,30}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(Strict):
    roles: list[Annotated[str, Field(pattern=ROLE)]] = Field(min_length=1, max_length=8)
    username: str | None = Field(default=None, min_length=12, max_length=120, pattern=r"^[a-z0-9][a-z0-9._-]+$")
    """Optional; by default a username nobody can guess (``<agency>-<8 random letters>``)."""


class PlansNeedPersonIn(Strict):
    required: bool
    """Always true: a plan is decided with a person's role, so it needs a signed-in person's token.
    ``false`` is refused (``person_bound_action``): no agency can let its system plan alone."""


class DeferralMaximumIn(Strict):
    deferral_max_days: int | None = Field(ge=1, le=3650)
    """The longest your agency may defer telling a person (a covert investigation); null: never. At most
    the legal ceiling of the policy data (``deferral.legal_max_days``, 90 days as shipped)."""


def _refused(ctx: GatewayContext, caller: Caller, exc: GatewayError, details: dict[str, Any]) -> None:
    """Every refused administration step is in the audit log, with its reason."""
    record_refusal(ctx.sessions, AuditEvent(AuditTag.STAFF_ACCOUNT_REFUSE, decision="deny", reason=exc.reason,
                                            details=details), actor=caller.actor(), at=ctx.clock.now())


def _hasher(ctx: ContextDep) -> SecretHasher:
    return ctx.secret_hasher()


@router.get("/roles", response_model=StaffRolesOut)
def staff_roles(caller: Agency) -> dict[str, Any]:
    """The fixed role vocabulary and what each entitlement needs."""
    return {"roles": [r.value for r in StaffRole if r != StaffRole.OPERATOR],
            "entitlements": {e.value: sorted(roles) for e, roles in ENTITLEMENTS.items()}}


@router.get("/me", response_model=WhoAmIOut)
def who_am_i(caller: Agency) -> dict[str, Any]:
    """Whom this token acts for: the agency's system alone, or a signed-in person and their roles."""
    person = caller.person
    return {"agency_id": caller.agency_id,
            "person": None if person is None else {"account_id": person.account_id, "roles": sorted(person.roles),
                                                   "policy_role": person.policy_role}}


@router.get("/accounts", response_model=list[StaffAccountOut], openapi_extra=person_token(Entitlement.MANAGE_STAFF))
def list_accounts(caller: Administrator, session: SessionDep) -> list[dict[str, Any]]:
    with session.begin():
        return service.list_accounts(session, caller.agency_id)


@router.post("/accounts", status_code=201, response_model=EnrolmentOut,
             openapi_extra=person_token(Entitlement.MANAGE_STAFF))
def create_account(body: AccountIn, caller: Administrator, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """A new staff account of your agency; hand the one-time enrolment code to the person yourself."""
    hasher = _hasher(ctx)
    try:
        with session.begin():
            return service.create_account(session, agency_id=caller.agency_id, roles=body.roles, hasher=hasher,
                                          actor=caller.actor(), now=ctx.clock.now(), username=body.username).view()
    except GatewayError as exc:
        _refused(ctx, caller, exc, {"step": "create"})
        raise


@router.post("/accounts/{account_id}/recovery", response_model=EnrolmentOut,
             openapi_extra=person_token(Entitlement.MANAGE_STAFF))
def recover_account(account_id: str, caller: Administrator, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """Lost device: every passkey and session ends, a new one-time enrolment code (audited)."""
    hasher = _hasher(ctx)
    try:
        with session.begin():
            return service.recover_account(session, agency_id=caller.agency_id, account_id=account_id,
                                           hasher=hasher, actor=caller.actor(), now=ctx.clock.now()).view()
    except GatewayError as exc:
        _refused(ctx, caller, exc, {"step": "recovery", "account_id": account_id[:64]})
        raise


@router.post("/accounts/{account_id}/revocation", response_model=StaffAccountOut,
             openapi_extra=person_token(Entitlement.MANAGE_STAFF))
def revoke_account(account_id: str, caller: Administrator, ctx: ContextDep, session: SessionDep) -> dict[str, Any]:
    """For good: sign-in, person tokens and exchanged tokens stop working on the next request."""
    try:
        with session.begin():
            return service.revoke_account(session, agency_id=caller.agency_id, account_id=account_id,
                                          actor=caller.actor(), now=ctx.clock.now())
    except GatewayError as exc:
        _refused(ctx, caller, exc, {"step": "revocation", "account_id": account_id[:64]})
        raise


@router.put("/plans-need-person", response_model=PlansNeedPersonOut,
            openapi_extra=person_token(Entitlement.PUBLISH_RULES))
def publish_plans_need_person(body: PlansNeedPersonIn, caller: Publisher, ctx: ContextDep,
                              session: SessionDep) -> dict[str, Any]:
    """Kept for existing integrations: planning needs a signed-in person for every agency, always (the
    policy decides with that person's role). ``required: true`` confirms it; ``false`` is refused with
    ``person_bound_action`` and audited: no agency may let its system plan, record a consent or change a
    subject without a person."""
    if not body.required:
        error = Unprocessable("person_bound_action", "Planning decides with a person's role and names them: it "
                              "always needs a signed-in person's token and cannot be turned off.")
        _refused(ctx, caller, error, {"step": "plans_need_person", "required": False})
        raise error
    with session.begin():
        return service.publish_plans_need_person(session, agency_id=caller.agency_id, required=body.required,
                                                 actor=caller.actor(), now=ctx.clock.now())


@router.put("/deferral-maximum", response_model=DeferralMaximumOut,
            openapi_extra=person_token(Entitlement.PUBLISH_RULES))
def publish_deferral_maximum(body: DeferralMaximumIn, caller: Publisher, ctx: ContextDep,
                             session: SessionDep) -> dict[str, Any]:
    """Publish the longest your agency may defer telling a person (never above the legal maximum)."""
    if caller.is_operator:
        raise Forbidden("operator_only_own_staff", "The gateway operator publishes no deferral rules.")
    with session.begin():
        return service.publish_deferral_max(session, agency_id=caller.agency_id, days=body.deferral_max_days,
                                            actor=caller.actor(), now=ctx.clock.now(),
                                            legal_max_days=service.legal_deferral_max_days(ctx.settings.policy_dir))
