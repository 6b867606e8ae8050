"""Exception grants: request (refused at once outside the agency's published policy, S35),
approval by a second person of the same agency (four eyes), single use inside the submit's
own transaction, and the notices afterwards (the person, unless a recorded rule defers it,
and their advocate agency).

The policy (``policies/gateway/exceptions.rego``) decides what a valid grant covers; this
module keeps what the policy cannot: who asked, who approved, and that a grant is used once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.notices import notify_person
from consent.service import get_subject_for_agency
from consent.subjects import Subject, coarse_language
from kernel.ids import new_id
from kernel.timestamps import rfc3339

from ..audit.log import Actor, AuditEvent, record, record_refusal
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..deps import Caller
from ..errors import Conflict, GatewayError, NotFound, Unprocessable
from ..registry.models import Agency
from ..staff.independence import issuer_chain, not_independent, shared_issuer
from ..staff.service import deferral_max_days, legal_deferral_max_days
from .models import AgencyNotice, ExceptionGrant, ExceptionPolicyExplanation, GrantStatus

#: Default and maximum life of a grant. Exceptions expire quickly (digest 4); the policy's
#: per-basis ``max_validity_hours`` is a further ceiling.
DEFAULT_TTL_S = 15 * 60
MAX_TTL_S = 60 * 60


class DeferReason(StrEnum):
    """Why the person may be told later than at use. Only a covert investigation (digest 8.2; the
    victim-view question of digest §9 item 9 is for legal review) defers, and never without an end."""

    COVERT_INVESTIGATION = "covert_investigation"



@cache
def bases(policy_dir: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((policy_dir / "data" / "exceptions.json").read_text(encoding="utf-8"))
    return dict(document["exceptions"])


def published(agency: Agency, basis: str, scenario: str) -> bool:
    """L1, S35: the agency published this basis and scenario in the registry in advance."""
    return any(isinstance(e, dict) and e.get("basis") == basis and scenario in (e.get("scenarios") or [])
               for e in agency.exception_policy)


def policy_document(agency: Agency) -> dict[str, list[str]]:
    """The ``requester.exception_policy`` input: basis -> scenarios."""
    out: dict[str, list[str]] = {}
    for entry in agency.exception_policy:
        if isinstance(entry, dict) and isinstance(entry.get("basis"), str):
            out.setdefault(entry["basis"], []).extend(str(s) for s in entry.get("scenarios") or [])
    return out


#: Bases that are usable only after the person was told of the agency's exception policy (L1: the
#: general safeguarding override must be "explained to victims at the outset"). The emergency bases
#: (an unconscious person, L3) cannot wait for that and are limited by their own scope instead.
EXPLAINED_IN_ADVANCE = frozenset({"L1"})
#: "At the outset": the explanation was given within a week of the subject's intake, and recorded
#: within a week of being given (no backdating later).
EXPLANATION_WINDOW = timedelta(days=7)


def explained(session: Session, subject_id: str, agency_id: str, at: datetime) -> bool:
    """L1: the agency recorded that it told this person its exception policy, at or before ``at``."""
    found = session.scalar(select(ExceptionPolicyExplanation.id).where(
        ExceptionPolicyExplanation.subject_id == subject_id, ExceptionPolicyExplanation.agency_id == agency_id,
        ExceptionPolicyExplanation.given_at <= at).limit(1))
    return found is not None


def record_explanation(session: Session, ctx: GatewayContext, caller: Caller, subject_id: str, *,
                       given_at: datetime, given_by: str, policy_version: str, language: str) -> dict[str, Any]:
    """Record that the person was told, at the outset, when this agency may share without asking (L1)."""
    now = ctx.clock.now()
    with session.begin():
        subject = get_subject_for_agency(session, subject_id, caller.agency_id)
        if subject is None:
            raise NotFound("unknown_subject")
        if given_at > now:
            raise Unprocessable("explanation_in_future", "An explanation cannot be recorded before it was given.")
        if now - given_at > EXPLANATION_WINDOW:
            raise Unprocessable("explanation_recorded_late",
                                "An explanation is recorded within a week of giving it, not backdated later.")
        if given_at - subject.created_at > EXPLANATION_WINDOW:
            raise Unprocessable("explanation_not_at_outset",
                                "L1 needs the exception policy explained at the outset, within a week of intake.")
        row = ExceptionPolicyExplanation(id=new_id("epx"), subject_id=subject_id, agency_id=caller.agency_id,
                                         given_at=given_at, given_by=given_by, policy_version=policy_version,
                                         language=coarse_language(language), recorded_at=now)
        session.add(row)
        record(session, AuditEvent(AuditTag.SUBJECT_ATTRIBUTE_CHANGE, subject_id=subject_id,
                                   reason="exception_policy_explained",
                                   details={"explanation_id": row.id, "policy_version": policy_version}),
               actor=_actor(caller, given_by), at=now)
        return {"id": row.id, "subject_id": subject_id, "agency_id": caller.agency_id, "given_at": given_at,
                "policy_version": policy_version, "language": row.language}


@dataclass(frozen=True)
class GrantRequest:
    subject_id: str
    basis: str
    scenario: str
    justification_code: str
    justification_ref: str
    recipient_agency_id: str
    purpose: str
    classes: tuple[str, ...]
    fields: tuple[str, ...] = ()
    requested_by: str = ""
    ttl_s: int = DEFAULT_TTL_S
    best_interests_ref: str | None = None
    defer_until: datetime | None = None
    defer_reason: str | None = None


def _actor(caller: Caller, user: str | None) -> Actor:
    return Actor(agency_id=caller.agency_id, role=caller.kind, user=user)


def _event(action: AuditTag, grant: ExceptionGrant | GrantRequest, *, decision: str = "info",
           reason: str | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent(
        action, decision=decision, reason=reason, subject_id=grant.subject_id, purpose=grant.purpose,
        recipient_agency_id=grant.recipient_agency_id, classes_requested=tuple(sorted(grant.classes)),
        basis={"consent_ids": [], "exception": grant.basis},
        details={"scenario": grant.scenario, "justification_code": grant.justification_code,
                 "justification_ref": grant.justification_ref, **(details or {})},
    )


def _refuse(ctx: GatewayContext, caller: Caller, grant: ExceptionGrant | GrantRequest, reason: str,
            user: str | None, error: GatewayError, details: dict[str, Any] | None = None) -> GatewayError:
    """Audit a refusal on its own transaction and hand back the error to raise."""
    record_refusal(ctx.sessions, _event(AuditTag.EXCEPTION_REFUSE, grant, decision="deny", reason=reason,
                                        details=details), actor=_actor(caller, user), at=ctx.clock.now())
    return error


def grant_view(grant: ExceptionGrant) -> dict[str, Any]:
    return {
        "id": grant.id, "agency_id": grant.agency_id, "subject_id": grant.subject_id, "basis": grant.basis,
        "scenario": grant.scenario, "justification_code": grant.justification_code,
        "justification_ref": grant.justification_ref, "recipient_agency_id": grant.recipient_agency_id,
        "purpose": grant.purpose, "classes": list(grant.classes), "fields": list(grant.fields),
        "status": grant.status, "requested_by": grant.requested_by, "requested_at": grant.requested_at,
        "approved_by": grant.approved_by, "approved_at": grant.approved_at, "expires_at": grant.expires_at,
        "used_at": grant.used_at, "used_envelope_id": grant.used_envelope_id,
        "best_interests_ref": grant.best_interests_ref,
        "defer_until": grant.defer_until, "defer_reason": grant.defer_reason,
    }


def request_grant(session: Session, ctx: GatewayContext, caller: Caller, req: GrantRequest) -> dict[str, Any]:
    """Record a request; it is refused at once when the agency did not publish basis + scenario (S35)."""
    now = ctx.clock.now()
    known = bases(ctx.settings.policy_dir)
    if req.basis not in known:
        raise _refuse(ctx, caller, req, "exception_unknown_basis", req.requested_by,
                      Unprocessable("exception_unknown_basis", "The claimed exception basis does not exist."))
    if not 60 <= req.ttl_s <= MAX_TTL_S:
        raise Unprocessable("exception_ttl_invalid", f"A grant lives between 60 and {MAX_TTL_S} seconds.")
    if (req.defer_until is None) != (req.defer_reason is None):
        raise Unprocessable("defer_rule_incomplete", "A deferral needs both defer_until and defer_reason.")
    if req.defer_reason is not None and req.defer_reason != DeferReason.COVERT_INVESTIGATION:
        raise Unprocessable("defer_reason_not_allowed", "Only a covert investigation defers telling the person.")
    if req.defer_until is not None:
        legal_max = legal_deferral_max_days(ctx.settings.policy_dir)
        with session.begin():
            published_max = deferral_max_days(session, caller.agency_id, legal_max)
        _check_deferral(ctx, caller, req, published_max, legal_max, now)
    with session.begin():
        agency = session.get(Agency, caller.agency_id)
        if agency is None:
            raise NotFound("unknown_agency")
        if get_subject_for_agency(session, req.subject_id, caller.agency_id) is None:
            raise NotFound("unknown_subject")
        if session.get(Agency, req.recipient_agency_id) is None:
            raise Unprocessable("unknown_recipient", "The grant must name one registered recipient agency.")
        if not published(agency, req.basis, req.scenario):
            reason = "exception_not_in_agency_policy"
            error: GatewayError = Unprocessable(
                reason, "Your agency has not published this exception basis and scenario in advance.")
        elif not known[req.basis].get("enabled") or known[req.basis].get("claim") not in ("exception", "court_order"):
            reason = "exception_basis_not_enabled"
            error = Unprocessable(reason, "This exception basis cannot be invoked through this gateway yet.")
        elif req.basis in EXPLAINED_IN_ADVANCE and not explained(session, req.subject_id, caller.agency_id, now):
            reason = "exception_policy_not_explained"
            error = Unprocessable(reason, "The person was not told of your agency's exception policy at the outset.")
        else:
            grant = ExceptionGrant(
                id=new_id("exg"), agency_id=caller.agency_id, subject_id=req.subject_id, basis=req.basis,
                scenario=req.scenario, justification_code=req.justification_code,
                justification_ref=req.justification_ref, recipient_agency_id=req.recipient_agency_id,
                purpose=req.purpose, classes=sorted(set(req.classes)), fields=sorted(set(req.fields)),
                status=GrantStatus.REQUESTED, requested_by=req.requested_by, requested_at=now,
                expires_at=now + timedelta(seconds=req.ttl_s), best_interests_ref=req.best_interests_ref,
                defer_until=req.defer_until, defer_reason=req.defer_reason,
            )
            session.add(grant)
            session.flush()
            record(session, _event(AuditTag.EXCEPTION_REQUEST, grant, details={"grant_id": grant.id}),
                   actor=_actor(caller, req.requested_by), at=now)
            return grant_view(grant)
    raise _refuse(ctx, caller, req, reason, req.requested_by, error)


def _check_deferral(ctx: GatewayContext, caller: Caller, req: GrantRequest, published_max: int | None,
                    legal_max: int, now: datetime) -> None:
    """A deferral ends, and no later than the agency's published maximum (itself never above the
    legal one); an agency that published none cannot defer. Refusals are audited."""
    assert req.defer_until is not None
    error: GatewayError | None = None
    if published_max is None:
        error = Unprocessable("deferral_not_published", "Your agency has published no deferral maximum.")
    elif req.defer_until <= now:
        error = Unprocessable("deferral_in_past", "A deferral ends in the future.")
    elif req.defer_until > now + timedelta(days=min(published_max, legal_max)):
        error = Unprocessable("deferral_too_long", f"Your agency defers at most {min(published_max, legal_max)} "
                              f"days (the legal maximum is {legal_max}).")
    if error is not None:
        raise _refuse(ctx, caller, req, error.reason, req.requested_by, error,
                      {"defer_until": rfc3339(req.defer_until)})


def _own_grant(session: Session, caller: Caller, grant_id: str, *, lock: bool = False) -> ExceptionGrant:
    query = select(ExceptionGrant).where(ExceptionGrant.id == grant_id)
    grant = session.scalars(query.with_for_update() if lock else query).first()
    if grant is None or grant.agency_id != caller.agency_id:
        raise NotFound("unknown_exception_grant")
    return grant


def approve_grant(session: Session, ctx: GatewayContext, caller: Caller, grant_id: str,
                  approver_id: str) -> dict[str, Any]:
    """Four eyes: a second person of the same agency, not the requester, approves before expiry.

    ``approver_id`` is the authenticated staff account (never a name from the request): the same
    account cannot approve what it requested however its name is spelled, and neither can an account
    whose current credentials the requester issued, or that issued the requester's
    (:mod:`gateway.staff.independence`): one administrator is not two pairs of eyes."""
    now = ctx.clock.now()
    details: dict[str, Any] = {"grant_id": grant_id}
    with session.begin():
        grant = _own_grant(session, caller, grant_id, lock=True)
        reason: str
        error: GatewayError
        requester_chain = issuer_chain(session, grant.requested_by)
        approver_chain = issuer_chain(session, approver_id)
        relation = not_independent(requester_id=grant.requested_by, approver_id=approver_id,
                                   requester_chain=requester_chain, approver_chain=approver_chain)
        if approver_id == grant.requested_by:
            reason, error = "exception_self_approval", Unprocessable(
                "exception_self_approval", "The requester cannot approve their own exception.")
        elif relation is not None:
            details["relation"] = relation
            reason, error = "exception_approver_not_independent", Unprocessable(
                "exception_approver_not_independent",
                "The approver's and the requester's accounts are not independent: one of them created or "
                "recovered the other's credentials. Another supervisor must approve.",
                extra={"relation": relation})
        elif grant.status != GrantStatus.REQUESTED:
            reason, error = "exception_not_pending", Conflict("exception_not_pending",
                                                              f"The grant is {grant.status}.")
        elif grant.expires_at <= now:
            reason, error = "exception_expired", Conflict("exception_expired", "The grant has expired.")
        else:
            grant.status = GrantStatus.APPROVED
            grant.approved_by = approver_id
            grant.approved_at = now
            # Both credentials from one administrator is allowed (a small agency has one), and said,
            # so a DPO can review those approvals: that administrator could hold both accounts.
            shared = shared_issuer(requester_chain, approver_chain)
            record(session, _event(AuditTag.EXCEPTION_APPROVE, grant, decision="allow",
                                   details={"grant_id": grant.id, "requested_by": grant.requested_by,
                                            **({"credentials_issued_by_one_administrator": True}
                                               if shared else {})}),
                   actor=_actor(caller, approver_id), at=now)
            return grant_view(grant)
        snapshot = _snapshot(grant)
    raise _refuse(ctx, caller, snapshot, reason, approver_id, error, details)


def _snapshot(grant: ExceptionGrant) -> GrantRequest:
    return GrantRequest(subject_id=grant.subject_id, basis=grant.basis, scenario=grant.scenario,
                        justification_code=grant.justification_code, justification_ref=grant.justification_ref,
                        recipient_agency_id=grant.recipient_agency_id, purpose=grant.purpose,
                        classes=tuple(grant.classes))


def get_grant(session: Session, caller: Caller, grant_id: str) -> dict[str, Any]:
    with session.begin():
        return grant_view(_own_grant(session, caller, grant_id))


def list_grants(session: Session, caller: Caller, subject_id: str | None = None) -> list[dict[str, Any]]:
    with session.begin():
        query = select(ExceptionGrant).where(ExceptionGrant.agency_id == caller.agency_id)
        if subject_id is not None:
            query = query.where(ExceptionGrant.subject_id == subject_id)
        return [grant_view(g) for g in session.scalars(query.order_by(ExceptionGrant.requested_at))]


# ------------------------------------------------------------------------------ use

@dataclass(frozen=True)
class PolicyClaim:
    """What a grant puts into the policy input."""

    grant_id: str
    exception: dict[str, Any] | None
    court_order: dict[str, Any] | None


def claim_for_decision(session: Session, ctx: GatewayContext, caller: Caller, grant_id: str, *,
                       subject_id: str, recipient_agency_id: str, purpose: str) -> PolicyClaim:
    """Load a grant for a plan or submit. Gateway-side checks first (ownership, single use, the
    grant's own subject/recipient/purpose); the policy then checks approval, expiry and scope."""
    grant = _own_grant(session, caller, grant_id)
    if grant.status == GrantStatus.USED:
        raise Conflict("exception_grant_used", "This exception grant was already used; grants are single-use.")
    if grant.subject_id != subject_id:
        raise Unprocessable("exception_grant_subject_mismatch", "The exception grant is for another person.")
    if grant.recipient_agency_id != recipient_agency_id:
        raise Unprocessable("exception_recipient_mismatch", "The exception grant names another recipient.")
    if grant.purpose != purpose:
        raise Unprocessable("exception_purpose_not_allowed", "The exception grant is for another purpose.")
    basis = bases(ctx.settings.policy_dir).get(grant.basis, {})
    if basis.get("claim") == "court_order":
        # L8: the court order reference is the justification reference; four eyes still apply here.
        if grant.status != GrantStatus.APPROVED:
            raise Unprocessable("exception_second_approver_missing",
                                "An exception needs a second approver who is not the requester.")
        if grant.expires_at <= ctx.clock.now():
            raise Unprocessable("exception_expired", "The exception grant has expired.")
        return PolicyClaim(grant.id, None, {"reference": grant.justification_ref, "grant_id": grant.id})
    approved = grant.status == GrantStatus.APPROVED
    return PolicyClaim(grant.id, {
        "basis": grant.basis, "scenario": grant.scenario, "grant_id": grant.id, "classes": list(grant.classes),
        "fields": list(grant.fields), "recipient_agency_id": grant.recipient_agency_id, "approved": approved,
        "second_approver_id": grant.approved_by if approved else None, "expires_at": rfc3339(grant.expires_at),
        "best_interests_ref": grant.best_interests_ref,
        "defer_until": rfc3339(grant.defer_until) if grant.defer_until is not None else None,
        "defer_reason": grant.defer_reason,
    }, None)


def consume(session: Session, ctx: GatewayContext, caller: Caller, grant_id: str, *, envelope_id: str,
            fields: list[str], classes: list[str], policy_version: str, user: str | None = None) -> None:
    """Mark the grant used in the caller's (submit's) transaction: a second use finds no approved row."""
    now = ctx.clock.now()
    result = session.execute(
        update(ExceptionGrant)
        .where(ExceptionGrant.id == grant_id, ExceptionGrant.status == GrantStatus.APPROVED)
        .values(status=GrantStatus.USED, used_at=now, used_envelope_id=envelope_id)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise Conflict("exception_grant_used", "This exception grant was already used; grants are single-use.")
    grant = session.get(ExceptionGrant, grant_id)
    assert grant is not None
    session.refresh(grant)
    deferred = grant.defer_until is not None and grant.defer_until > now
    record(session, AuditEvent(
        AuditTag.EXCEPTION_USE, decision="allow", subject_id=grant.subject_id, purpose=grant.purpose,
        recipient_agency_id=grant.recipient_agency_id, classes_requested=tuple(classes),
        classes_released=tuple(classes), policy_version=policy_version,
        basis={"consent_ids": [], "exception": grant.basis},
        details={"grant_id": grant.id, "envelope_id": envelope_id, "scenario": grant.scenario,
                 "justification_code": grant.justification_code, "justification_ref": grant.justification_ref,
                 "approved_by": grant.approved_by, "requested_by": grant.requested_by, "fields": len(fields),
                 **({"best_interests_ref": grant.best_interests_ref} if grant.best_interests_ref else {}),
                 **({"deferred_until": rfc3339(grant.defer_until), "defer_reason": grant.defer_reason}
                    if deferred and grant.defer_until is not None else {})},
    ), actor=_actor(caller, user), at=now)
    # The person, through the portal (unless a recorded rule defers it) ...
    notify_person(session, grant.subject_id, "exception_used", now=now,
                  details={"basis": grant.basis, "grant_id": grant.id,
                           "recipient_agency_id": grant.recipient_agency_id, "classes": sorted(classes)},
                  defer_until=grant.defer_until if deferred else None,
                  defer_reason=grant.defer_reason if deferred else None)
    # ... and their advocate: the agency that owns the case (told at once, even when deferred).
    subject = session.get(Subject, grant.subject_id)
    if subject is not None:
        notify_agency(session, subject.owner_agency_id, grant.subject_id, "exception_used", now=now,
                      details={"basis": grant.basis, "grant_id": grant.id,
                               "recipient_agency_id": grant.recipient_agency_id})


def notify_agency(session: Session, agency_id: str, subject_id: str, kind: str, *, now: datetime,
                  details: dict[str, Any] | None = None) -> AgencyNotice:
    notice = AgencyNotice(id=new_id("anc"), agency_id=agency_id, subject_id=subject_id, kind=kind,
                          details=dict(details or {}), created_at=now)
    session.add(notice)
    session.flush()
    return notice


def agency_notices(session: Session, caller: Caller) -> list[dict[str, Any]]:
    with session.begin():
        rows = session.scalars(select(AgencyNotice).where(AgencyNotice.agency_id == caller.agency_id)
                               .order_by(AgencyNotice.created_at, AgencyNotice.id))
        return [{"id": n.id, "subject_id": n.subject_id, "kind": n.kind, "details": n.details,
                 "created_at": n.created_at} for n in rows]
