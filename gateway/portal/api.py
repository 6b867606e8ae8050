"""``/v1``: what the advocate's agency does for the person's portal, with the person present.

- set the PIN and an optional duress PIN (Argon2id hashes only; setting them also lifts a lock);
- lift a lockout after too many failed sign-ins;
- read the portal access status of a subject;
- read the agency's silent alerts (a duress sign-in): ids and a code, nothing else.

Only the subject's owner agency, with ``subjects:write``; to anyone else the subject does
not exist (404, the same answer as for an id nobody issued).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from consent.portal_access import PIN_MAX, PIN_MIN, PortalAccess, lift_lockout, set_pins
from consent.service import get_subject_for_agency

from ..audit.log import AuditEvent, record
from ..audit.tags import AuditTag
from ..auth.permission import Permission
from ..deps import Caller, ContextDep, SessionDep, person_token, require_person, require_scope
from ..errors import Conflict, NotFound, Unprocessable
from ..staff.roles import Entitlement
from .auth import PortalAuth
from .models import PortalAlert

router = APIRouter(prefix="/v1", tags=["portal"])
SubjectWriter = Annotated[Caller, Depends(require_scope(Permission.SUBJECTS_WRITE))]
WithThePerson = Annotated[Caller, Depends(require_person(Permission.SUBJECTS_WRITE, Entitlement.ATTEST_PERSON_PRESENT))]
"""The advocate, signed in, with the person: proven by the advocate's person token, not a flag."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Pin = Annotated[str, Field(min_length=PIN_MIN, max_length=PIN_MAX, pattern=r"^[0-9]+$")]


class PinIn(Strict):
    pin: Pin
    duress_pin: Pin | None = None


class PortalAccessOut(BaseModel):
    subject_id: str
    locator: str = Field(description="The public first group of the access code (not a secret).")
    pin_set: bool
    pin_needs_change: bool = Field(description="The PIN is shorter than six digits (set before the rule): "
                                               "choose a new one with the person at the next visit.")
    duress_pin_set: bool
    locked: bool
    failed_attempts: int
    locked_at: datetime | None
    pin_set_at: datetime | None

    @classmethod
    def of(cls, row: PortalAccess) -> PortalAccessOut:
        return cls(subject_id=row.subject_id, locator=row.locator, pin_set=row.pin_hash is not None,
                   pin_needs_change=row.pin_needs_change,
                   duress_pin_set=row.duress_pin_hash is not None, locked=row.locked_at is not None,
                   failed_attempts=row.failed_attempts or 0, locked_at=row.locked_at, pin_set_at=row.pin_set_at)


class AlertOut(BaseModel):
    id: str
    subject_id: str
    code: str
    raised_at: datetime


class AlertsOut(BaseModel):
    alerts: list[AlertOut]


def _access(session: SessionDep, subject_id: str, caller: Caller) -> PortalAccess:
    if get_subject_for_agency(session, subject_id, caller.agency_id) is None:
        raise NotFound("unknown_subject")
    row = session.get(PortalAccess, subject_id, with_for_update=True)
    if row is None:
        raise Conflict("no_access_code", "The person has no access code yet: it comes with their first consent.")
    return row


@router.get("/subjects/{subject_id}/portal-access", response_model=PortalAccessOut)
def portal_access_status(subject_id: str, caller: SubjectWriter, session: SessionDep) -> PortalAccessOut:
    with session.begin():
        return PortalAccessOut.of(_access(session, subject_id, caller))


@router.post("/subjects/{subject_id}/portal-access/pin", response_model=PortalAccessOut,
             openapi_extra=person_token(Entitlement.ATTEST_PERSON_PRESENT))
def set_portal_pin(subject_id: str, body: PinIn, caller: WithThePerson, ctx: ContextDep,
                   session: SessionDep) -> PortalAccessOut:
    """Set (or replace) the PIN and the optional duress PIN with the person present (the signed-in
    advocate's person token attests it); any lock is lifted and every open portal session ends."""
    hasher = ctx.secret_hasher()
    now = ctx.clock.now()
    with session.begin():
        _access(session, subject_id, caller)
        try:
            row = set_pins(session, subject_id, pin=body.pin, duress_pin=body.duress_pin, hasher=hasher, now=now)
        except ValueError as exc:
            raise Unprocessable(str(exc), "This PIN cannot be used: choose another with the person.") from None
        PortalAuth(ctx).store.end_all(session, subject_id)
        record(session, AuditEvent(AuditTag.PORTAL_PIN_SET, decision="info", subject_id=subject_id,
                                   details={"duress_pin": body.duress_pin is not None, "person_present": True}),
               actor=caller.actor(), at=now)
        return PortalAccessOut.of(row)


@router.post("/subjects/{subject_id}/portal-access/unlock", response_model=PortalAccessOut,
             openapi_extra=person_token(Entitlement.ATTEST_PERSON_PRESENT))
def unlock_portal_access(subject_id: str, caller: WithThePerson, ctx: ContextDep,
                         session: SessionDep) -> PortalAccessOut:
    """Lift a lockout (and the failure count): only the signed-in advocate can, after checking with
    the person (their person token is required)."""
    now = ctx.clock.now()
    with session.begin():
        row = _access(session, subject_id, caller)
        was_locked = row.locked_at is not None
        row = lift_lockout(session, subject_id)
        auth = PortalAuth(ctx)
        auth.throttle.success(session, [auth.code_key(subject_id)])  # no back-off left either
        record(session, AuditEvent(AuditTag.PORTAL_UNLOCK, decision="info", subject_id=subject_id,
                                   details={"was_locked": was_locked}),
               actor=caller.actor(), at=now)
        return PortalAccessOut.of(row)


@router.get("/alerts", response_model=AlertsOut)
def list_alerts(caller: SubjectWriter, session: SessionDep,
                limit: Annotated[int, Query(ge=1, le=100)] = 50) -> AlertsOut:
    """This agency's alerts, newest first: a duress sign-in by one of its subjects. Nothing about
    them is ever shown in the portal."""
    rows = session.scalars(select(PortalAlert).where(PortalAlert.owner_agency_id == caller.agency_id)
                           .order_by(PortalAlert.raised_at.desc(), PortalAlert.id).limit(limit))
    return AlertsOut(alerts=[AlertOut(id=a.id, subject_id=a.subject_id, code=a.code, raised_at=a.raised_at)
                             for a in rows])


__all__ = ["router"]
