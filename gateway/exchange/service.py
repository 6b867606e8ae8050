"""Plan, submit, inbox, acknowledge, purge: the exchange as functions of (session, context, caller).

Promises kept here:

- the gateway decides on every plan and every submit against the consents in force at
  that moment (no cached decision: a withdrawal committed one millisecond earlier wins);
- it stores only what policy permits, as ciphertext, and never holds a key that opens it;
- an accepted submit stores the envelope and its audit entry in one transaction; a refused
  one stores nothing but its audit entry (written on its own) and says exactly why;
- retries with the same idempotency key get the first answer; a crash leaves either
  everything or nothing of a submit.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from connectors.referral import MANIFEST_TYPE, MANIFEST_VERSION
from consent.placement import PLACEMENT_KEY_LABEL
from consent.vocabulary import Purpose
from crypto.canonical import canonical_json
from crypto.encoding import b64u_decode, b64u_encode
from crypto.envelope import ciphertext_hash
from crypto.errors import CryptoError
from crypto.signing import verify_document
from kernel.ids import new_id

from .. import db, sealing, staleness
from ..accounts import AccountStatus, StaffAccount
from ..audit.log import Actor, AuditEvent, record, record_refusal
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..deps import Caller
from ..errors import BadRequest, Conflict, Forbidden, GatewayError, NotFound, Unprocessable
from ..exceptions import children as exception_children
from ..exceptions import service as exceptions
from ..policy.decision import Decision
from ..policy.engine import decide
from ..registry import service as registry
from ..registry.binding_chain import chain as binding_chain
from ..registry.binding_chain import unbound_reason
from ..registry.models import Agency, AgencyEndpoint, AgencyKey, KeyKind, TrustStatus
from . import state, unsafe_contact
from .catalogue import classes_of, risk_summary_fields
from .inputs import policy_input
from .manifest import check_manifest
from .models import Envelope, EnvelopePart, EnvelopeStatus, IdempotencyRecord, Plan, PlanStatus, PreviewApproval

MAX_FIELDS = 200
_PURPOSES = frozenset(p.value for p in Purpose)
UNRECOGNISED = "(unrecognised)"
"""What a refusal's audit entry says in place of an id that does not exist or is not the caller's:
the client's text (a name, an address) never reaches the permanent log."""



@dataclass(frozen=True)
class PlanRequest:
    subject_id: str
    recipient_agency_id: str
    purpose: str
    fields: tuple[str, ...]
    user_role: str
    """The policy role of the signed-in person the plan is made for (from their account), required."""
    user_id: str
    """That person's staff account."""
    exception_grant_id: str | None = None


def _prefetch(session: Session, entity: type[Agency] | type[AgencyKey], ids: set[str]) -> list[Any]:
    """Load the rows of ``ids`` the session does not hold yet, in one query.

    Keep the returned list while the rows are needed: the session's identity map holds rows
    weakly, and while they are held ``session.get`` answers from it without a query. Rows are
    read in the caller's transaction, as ``session.get`` would read them.
    """
    missing = [i for i in ids if identity_key(entity, i) not in session.identity_map]
    if not missing:
        return []
    return list(session.scalars(select(entity).where(entity.id.in_(missing))))


def _decide(
    session: Session, ctx: GatewayContext, caller: Caller, *, subject_id: str, recipient_id: str, purpose: str,
    fields: tuple[str, ...] | list[str], user_role: str, user_id: str | None = None,
    exception_grant_id: str | None = None, recipient_key_verified: bool | None = None,
    recipient_user_role: str | None = None,
) -> tuple[Decision, dict[str, Any]]:
    """Evaluate the policy now, from the database state this transaction sees.

    ``user_role`` is the policy role of the signed-in person the decision is made for, from their
    account (a plan's, at submit): required, never defaulted. Without one nothing is decided
    (``person_role_required``), so a missing role can never lift the volunteer firewall.

    ``recipient_key_verified`` is passed when this transaction already resolved a verified key of
    the recipient (the submit, for the manifest's key); otherwise it is looked up here.

    Also returns the audit details a decision about a child carries (CH2): ``child`` and the
    best-interests justification reference relied on (the subject's recorded decision or the grant's).
    """
    if not user_role:
        raise Forbidden("person_role_required", "A decision is made for a signed-in person, with the role "
                        "from their account; there is no default role.")
    now = ctx.clock.now()
    # Held until the decision is made, so later reads of the subject come from the session.
    subject_row = state.own_subject(session, subject_id, caller.agency_id)
    if subject_row is None:
        raise NotFound("unknown_subject")
    subject = state.subject_document(subject_row, now, recipient_id=recipient_id,
                                     placement_key=ctx.at_rest_key(PLACEMENT_KEY_LABEL))
    held = _prefetch(session, Agency, {caller.agency_id, recipient_id})  # both agencies, one query
    requester = registry.get_agency(session, caller.agency_id)
    recipient = session.get(Agency, recipient_id)
    key_verified = False
    if recipient is not None and recipient_key_verified is not None:
        key_verified = recipient_key_verified
    elif recipient is not None:
        try:
            registry.resolve_recipient(session, recipient_id)
            key_verified = True
        except GatewayError:
            key_verified = False
    document = policy_input(
        now=now, requester=requester, recipient=recipient, recipient_id=recipient_id,
        recipient_key_verified=key_verified, purpose=purpose, fields=fields, subject=subject,
        consents=state.consents_in_force(session, subject_id, now), user_role=user_role, user_id=user_id,
        recipient_user_role=recipient_user_role,
    )
    document["requester"]["exception_policy"] = exceptions.policy_document(requester)
    exception_children.enrich_input(session, document)
    if exception_grant_id is not None:
        claim = exceptions.claim_for_decision(session, ctx, caller, exception_grant_id, subject_id=subject_id,
                                              recipient_agency_id=recipient_id, purpose=purpose)
        document["exception"], document["court_order"] = claim.exception, claim.court_order
    child: dict[str, Any] = {}
    if exception_children.is_child_document(document):
        grant_ref = (document.get("exception") or {}).get("best_interests_ref")
        child = {"child": True, "best_interests_ref": grant_ref or document["subject"].get("best_interests_ref")}
    del held
    if ctx.policy is None:
        return Decision.deny("policy_engine_unavailable", "none"), child
    return decide(ctx.policy, document), child


_AGENCY_ID = re.compile(r"[A-Za-z0-9_.:\-]{2,64}")


def plan(session: Session, ctx: GatewayContext, caller: Caller, request: PlanRequest,
         request_id: str | None = None) -> dict[str, Any]:
    """Ask the policy what may go (see :func:`_plan`); a refused exception grant is audited on its own."""
    if not _AGENCY_ID.fullmatch(request.recipient_agency_id):
        # No agency can have this id (a space, say): refused as an unknown recipient, and audited
        # without the id itself (it is whatever the caller typed).
        record_refusal(ctx.sessions, AuditEvent(
            AuditTag.EXCHANGE_PLAN, decision="deny", reason="unknown_recipient", subject_id=None,
            purpose=request.purpose, details={"recipient": "malformed_id"},
        ), actor=_actor(caller, request.user_id), at=ctx.clock.now(), request_id=request_id)
        raise Unprocessable("unknown_recipient",
                            "No agency has this id (agency ids are letters, digits and - _ . : only).")
    # Sealed classes (issue 22): refused, audited, without a court access order for this recipient.
    sealing.refuse_sealed(session, ctx, agency_id=caller.agency_id, actor=_actor(caller, request.user_id),
                          subject_id=request.subject_id, recipient_agency_id=request.recipient_agency_id,
                          classes=classes_of(ctx.settings.policy_dir, request.fields))
    try:
        answer = _plan(session, ctx, caller, request, request_id)
    except GatewayError as exc:
        if request.exception_grant_id and exc.reason.startswith("exception_"):
            # Past the subject check and the grant's ownership (an unknown one is ``unknown_*``): those
            # ids are the caller's; the recipient and purpose are checked here, being the client's text.
            with db.read_transaction(session):
                recipient = _known_agency(session, request.recipient_agency_id)
            record_refusal(ctx.sessions, AuditEvent(
                AuditTag.EXCEPTION_REFUSE, decision="deny", reason=exc.reason, subject_id=request.subject_id,
                purpose=_known_purpose(request.purpose), recipient_agency_id=recipient,
                details={"grant_id": request.exception_grant_id, "stage": "plan"},
            ), actor=_actor(caller, request.user_id), at=ctx.clock.now(), request_id=request_id)
        raise
    # Decisions that rely on stale key details warn the sender (issue 22; digest 7.1 re-checking).
    answer["warnings"] = staleness.plan_warnings(session, ctx, subject_id=request.subject_id,
                                                 fields=answer.get("permitted_fields") or [])
    return answer


def _plan(session: Session, ctx: GatewayContext, caller: Caller, request: PlanRequest,
          request_id: str | None = None) -> dict[str, Any]:
    """Ask the policy what may go; on allow, reserve a plan (and envelope id) that expires.

    The answer is the decision either way. A refusal is audited (on its own transaction)
    and, when no consent covers the recipient, the person is told (CR32, S34).
    """
    if not request.fields or len(request.fields) > MAX_FIELDS:
        raise Unprocessable("invalid_field_list", f"Name between 1 and {MAX_FIELDS} fields.")
    now = ctx.clock.now()
    with session.begin():
        decision, child = _decide(
            session, ctx, caller, subject_id=request.subject_id, recipient_id=request.recipient_agency_id,
            purpose=request.purpose, fields=request.fields, user_role=request.user_role, user_id=request.user_id,
            exception_grant_id=request.exception_grant_id,
        )
        event = AuditEvent(
            AuditTag.EXCHANGE_PLAN,
            decision="allow" if decision.allow else "deny",
            reason=None if decision.allow else (decision.reasons[0] if decision.reasons else "denied"),
            subject_id=request.subject_id,  # _decide found it among the caller's own subjects
            purpose=_known_purpose(request.purpose),
            recipient_agency_id=_known_agency(session, request.recipient_agency_id),
            classes_requested=tuple(classes_of(ctx.settings.policy_dir, request.fields)),
            classes_released=tuple(classes_of(ctx.settings.policy_dir, decision.permitted_fields))
            if decision.allow else (),
            policy_version=decision.policy_version,
            basis={"consent_ids": list(decision.basis.consent_ids), "exception": decision.basis.exception},
            details={"denied_fields": len(decision.denied_fields), "explanation": list(decision.explanation),
                     **({"exception_grant_id": request.exception_grant_id} if request.exception_grant_id else {}),
                     **child},
        )
        body = decision.to_document()
        unsafe_contact.alert_blocked_contact(session, decision, subject_id=request.subject_id,
                                             requester_agency_id=caller.agency_id,
                                             recipient_agency_id=request.recipient_agency_id,
                                             purpose=request.purpose, now=now)
        if not decision.allow:
            if "no_consent" in decision.reasons or "recipient_not_named" in decision.reasons:
                state.notify_consent_needed(session, request.subject_id, request.recipient_agency_id,
                                            request.purpose, now, requester_agency_id=caller.agency_id)
            record(session, event, actor=_actor(caller, request.user_id), at=now, request_id=request_id)
            return {"plan_id": None, "envelope_id": None, "expires_at": None, **body,
                    "subject_id": request.subject_id, "recipient_agency_id": request.recipient_agency_id,
                    "purpose": request.purpose}
        the_plan = Plan(
            id=new_id("plan"), envelope_id=new_id("env"), sender_agency_id=caller.agency_id,
            recipient_agency_id=request.recipient_agency_id, subject_id=request.subject_id, purpose=request.purpose,
            requested_fields=sorted(set(request.fields)), permitted_fields=list(decision.permitted_fields),
            decision=body, status=PlanStatus.OPEN, created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.plan_ttl_s),
            planner_role=request.user_role, planner_account_id=request.user_id,
        )
        session.add(the_plan)
        event = AuditEvent(**{**event.__dict__, "details": {**event.details, "plan_id": the_plan.id}})
        record(session, event, actor=_actor(caller, request.user_id), at=now, request_id=request_id)
        return _plan_answer(the_plan)


def _known_purpose(purpose: str) -> str:
    """A purpose of the vocabulary as is; anything else (the client's text) as :data:`UNRECOGNISED`."""
    return purpose if purpose in _PURPOSES else UNRECOGNISED


def _known_agency(session: Session, agency_id: str) -> str:
    """A registered agency's id as is; anything else as :data:`UNRECOGNISED` (never the client's text)."""
    return agency_id if session.get(Agency, agency_id) is not None else UNRECOGNISED


def _plan_answer(the_plan: Plan) -> dict[str, Any]:
    return {
        "plan_id": the_plan.id,
        "envelope_id": the_plan.envelope_id,
        "expires_at": the_plan.expires_at,
        "subject_id": the_plan.subject_id,
        "recipient_agency_id": the_plan.recipient_agency_id,
        "purpose": the_plan.purpose,
        **the_plan.decision,
    }


def _actor(caller: Caller, user_id: str | None = None) -> Actor:
    return Actor(agency_id=caller.agency_id, role=caller.kind, user=user_id)


def _own_plan(session: Session, caller: Caller, plan_id: str) -> Plan:
    the_plan = session.get(Plan, plan_id)
    if the_plan is None or the_plan.sender_agency_id != caller.agency_id:
        raise NotFound("unknown_plan")
    return the_plan


def record_preview_approval(session: Session, ctx: GatewayContext, caller: Caller, plan_id: str, *,
                            preview_hash: str, approved_by: str, channel: str) -> dict[str, Any]:
    """The advocate records that the person approved the preview with this hash (CR18, CR19)."""
    now = ctx.clock.now()
    with session.begin():
        the_plan = _own_plan(session, caller, plan_id)
        if the_plan.expires_at <= now:
            raise Conflict("plan_expired", "The plan expired; ask for a new one.")
        existing = session.get(PreviewApproval, plan_id)
        if existing is not None:
            if existing.preview_hash != preview_hash:
                raise Conflict("preview_already_approved", "A different preview was already approved.")
            return {"plan_id": plan_id, "preview_hash": existing.preview_hash, "approved_at": existing.approved_at}
        session.add(PreviewApproval(plan_id=plan_id, preview_hash=preview_hash, approved_by=approved_by,
                                    channel=channel, approved_at=now))
        record(session, AuditEvent(AuditTag.EXCHANGE_PLAN, reason="preview_approved", subject_id=the_plan.subject_id,
                                   purpose=the_plan.purpose, recipient_agency_id=the_plan.recipient_agency_id,
                                   details={"plan_id": plan_id, "approved_by": approved_by, "channel": channel}),
               actor=_actor(caller, approved_by), at=now)
        return {"plan_id": plan_id, "preview_hash": preview_hash, "approved_at": now}


# ------------------------------------------------------------------------------ submit

def request_hash(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class SubmitOutcome:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def submit(session: Session, ctx: GatewayContext, caller: Caller, body: dict[str, Any], *,
           idempotency_key: str | None, endpoint_id: str | None = None,
           request_id: str | None = None) -> SubmitOutcome:
    """Check everything again, then store the envelope and its audit entry in one transaction."""
    if not idempotency_key:
        raise BadRequest("idempotency_key_required", "Send an Idempotency-Key header with every submit.")
    digest = request_hash({**body, "endpoint_id": endpoint_id})
    now = ctx.clock.now()
    answer: dict[str, Any] = {}
    try:
        with session.begin():
            # A retry gets the first answer: looked up in the transaction that would otherwise store.
            earlier = session.get(IdempotencyRecord, (caller.agency_id, idempotency_key))
            if earlier is None:
                envelope, decision = _check_and_store(session, ctx, caller, body, endpoint_id=endpoint_id,
                                                      now=now, request_id=request_id)
                answer = {"envelope_id": envelope.id, "status": envelope.status, "plan_id": envelope.plan_id,
                          "recipient_agency_id": envelope.recipient_agency_id,
                          "expires_at": envelope.expires_at.isoformat(), "policy_version": decision.policy_version}
                session.add(IdempotencyRecord(
                    agency_id=caller.agency_id, key=idempotency_key, request_hash=digest, status_code=201,
                    response=answer, created_at=now,
                    expires_at=now + timedelta(seconds=ctx.settings.idempotency_retention_s),
                ))
                session.flush()
    except IntegrityError:
        # A concurrent request with the same key (or plan) committed first: answer as it did.
        session.rollback()
        replay = _replay(session, caller, idempotency_key, digest)
        if replay is not None:
            return replay
        raise Conflict("plan_already_used", "This plan was already used for another envelope.") from None
    except GatewayError as exc:
        session.rollback()
        if exc.reason == "plan_already_used":
            # A retry that raced its first attempt (perhaps on another replica): the first answer.
            replay = _replay(session, caller, idempotency_key, digest)
            if replay is not None:
                return replay
        record_refusal(ctx.sessions, _submit_refusal(session, ctx, caller, body, endpoint_id, exc.reason),
                       actor=_actor(caller), at=now, request_id=request_id)
        raise
    if earlier is not None:
        return _replayed(earlier, digest)  # outside the try: a reused key is refused, not audited
    return SubmitOutcome(201, answer)


def _submit_refusal(session: Session, ctx: GatewayContext, caller: Caller, body: dict[str, Any],
                    endpoint_id: str | None, reason: str) -> AuditEvent:
    """The audit entry of a refused submit, from the caller's own plan, never from the manifest.

    Only ids that exist and belong to the caller are recorded: the plan's subject, purpose and
    recipient (the manifest's copies may say anything), the plan id, the classes of the plan's
    fields, and an endpoint of the plan's recipient; anything else is :data:`UNRECOGNISED`.
    """
    with db.read_transaction(session):
        raw_plan = body.get("plan_id")
        the_plan = session.get(Plan, raw_plan) if isinstance(raw_plan, str) and len(raw_plan) <= 64 else None
        if the_plan is None or the_plan.sender_agency_id != caller.agency_id:
            return AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="deny", reason=reason,
                              details={"plan_id": UNRECOGNISED,
                                       "endpoint_id": UNRECOGNISED if endpoint_id else None})
        endpoint = None
        if endpoint_id is not None:
            row = session.get(AgencyEndpoint, endpoint_id) if len(endpoint_id) <= 64 else None
            endpoint = row.id if row is not None and row.agency_id == the_plan.recipient_agency_id else UNRECOGNISED
        return AuditEvent(
            AuditTag.EXCHANGE_SUBMIT, decision="deny", reason=reason, subject_id=the_plan.subject_id,
            purpose=the_plan.purpose, recipient_agency_id=the_plan.recipient_agency_id,
            classes_requested=tuple(classes_of(ctx.settings.policy_dir, the_plan.permitted_fields)),
            details={"plan_id": the_plan.id, "endpoint_id": endpoint},
        )


def _manifest_fields(manifest: Any) -> list[str]:
    """Field names of a manifest that may be malformed in any way (it comes from the client)."""
    entries = manifest.get("fields") if isinstance(manifest, dict) else None
    if not isinstance(entries, list):
        return []
    return [str(e.get("name")) for e in entries if isinstance(e, dict)]


def _replay(session: Session, caller: Caller, key: str, digest: str) -> SubmitOutcome | None:
    with session.begin():
        existing = session.get(IdempotencyRecord, (caller.agency_id, key))
        return None if existing is None else _replayed(existing, digest)


def _replayed(existing: IdempotencyRecord, digest: str) -> SubmitOutcome:
    """The first answer for this key, if it came with the same request."""
    if existing.request_hash != digest:
        raise Unprocessable("idempotency_key_reused", "This Idempotency-Key was used with another request.")
    return SubmitOutcome(existing.status_code, dict(existing.response), replayed=True)


def _check_and_store(session: Session, ctx: GatewayContext, caller: Caller, body: dict[str, Any], *,
                     endpoint_id: str | None, now: datetime, request_id: str | None) -> tuple[Envelope, Decision]:
    manifest: dict[str, Any] = body["manifest"]
    ciphertexts: dict[str, str] = body["ciphertexts"]
    check_manifest(manifest)  # only the protocol's keys: nothing else is stored or relayed
    the_plan = _own_plan(session, caller, str(body["plan_id"]))
    if the_plan.status != PlanStatus.OPEN:
        raise Conflict("plan_already_used", "This plan was already used for another envelope.")
    if the_plan.expires_at <= now:
        raise Conflict("plan_expired", "The plan expired; ask for a new one (policy is decided again).")
    # The manifest must describe this plan exactly.
    expected = {
        "type": MANIFEST_TYPE, "v": MANIFEST_VERSION,
        "envelope_id": the_plan.envelope_id, "plan_id": the_plan.id, "subject_id": the_plan.subject_id,
        "purpose": the_plan.purpose, "sender_agency_id": caller.agency_id,
        "recipient_agency_id": the_plan.recipient_agency_id,
    }
    for name, value in expected.items():
        if manifest.get(name) != value:
            raise Unprocessable("manifest_mismatch", f"The manifest's {name} does not match the plan.")
    entries = manifest.get("fields")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("ciphertext_hash"), str)
        for e in entries
    ):
        raise Unprocessable("manifest_invalid", "Each manifest field needs a name and a ciphertext hash.")
    fields = _manifest_fields(manifest)
    if not fields or len(set(fields)) != len(fields):
        raise Unprocessable("manifest_invalid", "The manifest must list each field once.")
    outside = sorted(set(fields) - set(the_plan.permitted_fields))
    if outside:
        raise Unprocessable("field_outside_plan", "The manifest lists fields the plan does not permit.",
                            extra={"fields": outside})
    if set(fields) != set(ciphertexts):
        raise Unprocessable("ciphertexts_mismatch", "Ciphertexts and manifest list different fields.")
    sealed: dict[str, bytes] = {}
    for entry in manifest["fields"]:
        try:
            raw = b64u_decode(ciphertexts[entry["name"]])
        except (ValueError, CryptoError) as exc:
            raise Unprocessable("ciphertext_invalid", "A ciphertext is not base64url.") from exc
        if ciphertext_hash(raw) != entry.get("ciphertext_hash"):
            raise Unprocessable("ciphertext_hash_mismatch", "A ciphertext does not match its manifest hash.")
        sealed[entry["name"]] = raw
    # Both keys and both agencies read below (and in _decide): two queries instead of four.
    key_ids = {str(manifest.get("sender_key_id")), str(manifest.get("recipient_key_id"))}
    held = [*_prefetch(session, AgencyKey, key_ids),
            *_prefetch(session, Agency, {caller.agency_id, the_plan.recipient_agency_id})]
    # The sender's signature, with a key the registry has verified.
    sender_key = session.get(AgencyKey, str(manifest.get("sender_key_id")))
    if sender_key is None or sender_key.agency_id != caller.agency_id or sender_key.kind != KeyKind.SIGNING:
        raise Unprocessable("sender_key_unknown", "The manifest names a signing key that is not yours.")
    if sender_key.status != TrustStatus.VERIFIED:
        raise Unprocessable(f"sender_key_{sender_key.status}", f"Your signing key is {sender_key.status}.")
    if unbound_reason(sender_key, binding_chain(session, caller.agency_id)) is not None:
        raise Unprocessable("sender_key_not_bound_by_agency",
                            "Your signing key is not bound by your agency's own signature.")
    try:
        verify_document(b64u_decode(sender_key.public_key), manifest, str(body["signature"]))
    except (CryptoError, ValueError) as exc:
        raise Unprocessable("signature_invalid", "The manifest signature does not verify.") from exc
    # The recipient key as of now: never a pending or revoked one.
    recipient = registry.resolve_recipient(session, the_plan.recipient_agency_id,
                                           str(manifest.get("recipient_key_id")))
    endpoint = None
    if endpoint_id is not None:
        endpoint = registry.verified_endpoint(session, the_plan.recipient_agency_id, endpoint_id)
    # Decide again, now, on exactly the fields being sent.
    grant_id = body.get("exception_grant_id")
    if (the_plan.decision.get("basis") or {}).get("exception") and not grant_id:
        raise Unprocessable("exception_grant_required", "This plan relied on an exception grant; send its id.")
    # With the planner's role and account, kept on the plan: the submit is machine work, but the
    # decision is the planning person's, so the submitting token can neither raise nor lose the role.
    planner_role, planner_id = _planner(session, the_plan)
    decision, child = _decide(session, ctx, caller, subject_id=the_plan.subject_id,
                              recipient_id=the_plan.recipient_agency_id, purpose=the_plan.purpose, fields=fields,
                              user_role=planner_role, user_id=planner_id,
                              exception_grant_id=str(grant_id) if grant_id else None,
                              recipient_key_verified=True)  # the manifest's key, resolved above
    if not decision.allow or set(fields) - set(decision.permitted_fields):
        raise Unprocessable(_refusal_reason(session, ctx, the_plan, decision, fields),
                            "The policy no longer permits this referral.",
                            extra={"policy_reasons": list(decision.reasons)})
    obligations = decision.obligations
    if obligations.include_risk_summary and not set(fields) & risk_summary_fields(ctx.settings.policy_dir):
        raise Unprocessable("risk_summary_missing", "A referral to this service must carry the risk summary.")
    if obligations.person_preview_required:
        approval = session.get(PreviewApproval, the_plan.id)
        if approval is None:
            raise Unprocessable("preview_not_approved", "The person has not approved a preview of this referral.")
        if (manifest.get("preview") or {}).get("commitment") != approval.preview_hash:
            raise Unprocessable("preview_hash_mismatch", "The referral differs from the preview the person approved.")
    envelope = Envelope(
        id=the_plan.envelope_id, plan_id=the_plan.id, sender_agency_id=caller.agency_id,
        recipient_agency_id=the_plan.recipient_agency_id, recipient_key_id=recipient.encryption_key.id,
        sender_key_id=sender_key.id, endpoint_id=endpoint.id if endpoint else None,
        subject_id=the_plan.subject_id, purpose=the_plan.purpose, manifest=manifest,
        signature=str(body["signature"]), policy_version=decision.policy_version, status=EnvelopeStatus.QUEUED,
        created_at=now, expires_at=now + timedelta(seconds=ctx.settings.undelivered_expiry_s),
        next_attempt_at=now if endpoint else None,
        parts=[EnvelopePart(field=name, ciphertext=raw) for name, raw in sorted(sealed.items())],
    )
    the_plan.status = PlanStatus.USED
    session.add(envelope)
    classes = tuple(classes_of(ctx.settings.policy_dir, fields))
    record(session, AuditEvent(
        AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id=the_plan.subject_id, purpose=the_plan.purpose,
        recipient_agency_id=the_plan.recipient_agency_id,
        classes_requested=classes,
        classes_released=classes,
        policy_version=decision.policy_version,
        basis={"consent_ids": list(decision.basis.consent_ids), "exception": decision.basis.exception},
        details={"envelope_id": envelope.id, "plan_id": the_plan.id, "fields": len(fields),
                 "previewed": manifest.get("preview") is not None,  # never the commitment itself
                 "risk_summary_basis": "L9.risk_summary" in decision.explanation,
                 **({"exception_grant_id": grant_id} if grant_id else {}), **child},
    ), actor=_actor(caller), at=now, request_id=request_id)
    session.flush()
    if grant_id and decision.basis.exception is not None:
        # Single use, in this very transaction: a concurrent second use finds no approved row.
        exceptions.consume(session, ctx, caller, str(grant_id), envelope_id=envelope.id, fields=fields,
                           classes=list(classes),
                           policy_version=decision.policy_version)
    del held
    return envelope, decision


def _planner(session: Session, the_plan: Plan) -> tuple[str, str]:
    """The role and account of the person the plan was made for, if that person can still act.

    A plan without them (made before migration 0027) is refused rather than decided with a default
    role; so is one whose planner was revoked, suspended or moved since (the plan dies with them)."""
    if not the_plan.planner_role or not the_plan.planner_account_id:
        raise Unprocessable("plan_without_person", "This plan records no planning person; ask for a new plan.")
    account = session.get(StaffAccount, the_plan.planner_account_id)
    if (account is None or account.agency_id != the_plan.sender_agency_id or account.disabled
            or account.status != AccountStatus.ACTIVE):
        raise Unprocessable("planner_not_active", "The person this plan was made for can no longer act; "
                            "a signed-in colleague must plan again.")
    return the_plan.planner_role, the_plan.planner_account_id


def _refusal_reason(session: Session, ctx: GatewayContext, the_plan: Plan, decision: Decision,
                    fields: list[str]) -> str:
    """Name the change that made the plan's decision stale: a withdrawal beats a generic policy code."""
    basis_ids = list(the_plan.decision.get("basis", {}).get("consent_ids", []))
    statuses = state.consent_statuses(session, basis_ids, ctx.clock.now()) if basis_ids else {}
    for wanted in ("withdrawn", "expired", "superseded"):
        if wanted in statuses.values():
            return f"consent_{wanted}"
    if decision.reasons:
        return str(decision.reasons[0])
    denied = {d.field: d.reason for d in decision.denied_fields}
    for field in fields:
        if field in denied:
            return denied[field]
    return "policy_denied"


# ------------------------------------------------------------------------------ delivery

def envelope_document(envelope: Envelope) -> dict[str, Any]:
    """What a recipient receives: the signed manifest and the ciphertexts (the gateway cannot open them)."""
    return {
        "envelope_id": envelope.id,
        "sender_agency_id": envelope.sender_agency_id,
        "sender_key_id": envelope.sender_key_id,
        "subject_id": envelope.subject_id,
        "purpose": envelope.purpose,
        "created_at": envelope.created_at.isoformat(),
        "status": envelope.status,
        "manifest": envelope.manifest,
        "signature": envelope.signature,
        "ciphertexts": {p.field: b64u_encode(p.ciphertext) for p in envelope.parts},
    }


def _transition(session: Session, envelope: Envelope, expected: tuple[str, ...], **values: Any) -> bool:
    """Change ``envelope``'s row only if its status is still one of ``expected``; True if it changed.

    The guard is in the UPDATE itself, so an envelope another transaction moved on (acknowledged,
    purged) is never moved back, and the caller audits only a change it made. The loaded object
    is brought up to date either way.
    """
    changed = session.execute(
        update(Envelope).where(Envelope.id == envelope.id, Envelope.status.in_(expected)).values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], changed).rowcount == 1:
        for name, value in values.items():
            set_committed_value(envelope, name, value)
        return True
    session.refresh(envelope)
    return False


_WAITING = (EnvelopeStatus.QUEUED, EnvelopeStatus.DELIVERED)


def inbox(session: Session, ctx: GatewayContext, caller: Caller, *, limit: int = 20,
          request_id: str | None = None) -> list[dict[str, Any]]:
    """Envelopes waiting for the caller (not yet acknowledged), oldest first; fetching marks them delivered.

    Each envelope is marked delivered (and its ``deliver`` entry written) once, by the fetch that
    moved it from ``queued``; an envelope acknowledged meanwhile is neither handed out nor touched.
    """
    now = ctx.clock.now()
    with session.begin():
        pending = list(session.scalars(
            select(Envelope)
            .where(Envelope.recipient_agency_id == caller.agency_id,
                   Envelope.status.in_(_WAITING),
                   Envelope.expires_at > now)
            .order_by(Envelope.created_at, Envelope.id)
            .limit(limit)
            .options(selectinload(Envelope.parts))  # one query for every envelope's parts, not one each
        ))
        documents = []
        for envelope in pending:
            if envelope.status == EnvelopeStatus.QUEUED and _transition(
                session, envelope, (EnvelopeStatus.QUEUED,), status=EnvelopeStatus.DELIVERED, delivered_at=now,
            ):
                record(session, AuditEvent(
                    AuditTag.EXCHANGE_DELIVER, subject_id=envelope.subject_id, purpose=envelope.purpose,
                    recipient_agency_id=envelope.recipient_agency_id,
                    details={"envelope_id": envelope.id, "channel": "pull"},
                ), actor=_actor(caller), at=now, request_id=request_id)
            if envelope.status in _WAITING:
                documents.append(envelope_document(envelope))
        return documents


def _own_envelope(session: Session, caller: Caller, envelope_id: str, *, as_recipient: bool) -> Envelope:
    envelope = session.get(Envelope, envelope_id)
    if envelope is None:
        raise NotFound("unknown_envelope")
    owner = envelope.recipient_agency_id if as_recipient else envelope.sender_agency_id
    if owner != caller.agency_id:
        raise NotFound("unknown_envelope")
    return envelope


def acknowledge(session: Session, ctx: GatewayContext, caller: Caller, envelope_id: str,
                request_id: str | None = None) -> dict[str, Any]:
    """Idempotent: the first ack starts the retention clock; later ones change nothing."""
    now = ctx.clock.now()
    with session.begin():
        envelope = _own_envelope(session, caller, envelope_id, as_recipient=True)
        if envelope.status == EnvelopeStatus.EXPIRED:
            raise Conflict("envelope_expired", "This envelope expired before it was acknowledged.")
        if envelope.acknowledged_at is None and _transition(
            session, envelope, _WAITING, status=EnvelopeStatus.ACKNOWLEDGED, acknowledged_at=now,
            delivered_at=envelope.delivered_at or now,
            purge_after=now + timedelta(seconds=ctx.settings.ciphertext_retention_s),
        ):
            record(session, AuditEvent(
                AuditTag.EXCHANGE_ACK, subject_id=envelope.subject_id, purpose=envelope.purpose,
                recipient_agency_id=envelope.recipient_agency_id, details={"envelope_id": envelope.id},
            ), actor=_actor(caller), at=now, request_id=request_id)
        elif envelope.status == EnvelopeStatus.EXPIRED:
            raise Conflict("envelope_expired", "This envelope expired before it was acknowledged.")
        return {"envelope_id": envelope.id, "status": envelope.status,
                "acknowledged_at": envelope.acknowledged_at.isoformat() if envelope.acknowledged_at else None}


def outbox_status(session: Session, caller: Caller, envelope_id: str) -> dict[str, Any]:
    """What the sender may know: where its envelope is (never the content, which it already has)."""
    with db.read_transaction(session):
        envelope = _own_envelope(session, caller, envelope_id, as_recipient=False)
        return {
            "envelope_id": envelope.id, "status": envelope.status, "recipient_agency_id": envelope.recipient_agency_id,
            "created_at": envelope.created_at.isoformat(),
            "delivered_at": envelope.delivered_at.isoformat() if envelope.delivered_at else None,
            "acknowledged_at": envelope.acknowledged_at.isoformat() if envelope.acknowledged_at else None,
            "expires_at": envelope.expires_at.isoformat(),
        }


def purge(ctx: GatewayContext) -> dict[str, int]:
    """Delete ciphertext that is acknowledged and past retention, or never acknowledged and expired.

    Each purge or expiry is audited in the transaction that deletes the ciphertext; an
    expired envelope's sender sees ``expired`` in its outbox (and in the DPO console).
    """
    now = ctx.clock.now()
    counts = {"purged": 0, "expired": 0}
    with ctx.sessions() as session, session.begin():
        query = select(Envelope).where(
            ((Envelope.status == EnvelopeStatus.ACKNOWLEDGED) & (Envelope.purge_after <= now))
            | (Envelope.status.in_(_WAITING) & (Envelope.expires_at <= now))
        ).order_by(Envelope.id)
        if db.is_postgres(session):
            query = query.with_for_update(skip_locked=True)  # each replica claims different envelopes
        for envelope in list(session.scalars(query)):
            expired = envelope.status != EnvelopeStatus.ACKNOWLEDGED
            if not _transition(session, envelope, _WAITING if expired else (EnvelopeStatus.ACKNOWLEDGED,),
                               status=EnvelopeStatus.EXPIRED if expired else EnvelopeStatus.PURGED,
                               purged_at=now):
                continue  # moved on since it was read: not this purge's to audit
            session.execute(delete(EnvelopePart).where(EnvelopePart.envelope_id == envelope.id))
            session.expire(envelope, ["parts"])
            counts["expired" if expired else "purged"] += 1
            record(session, AuditEvent(
                AuditTag.EXCHANGE_EXPIRE if expired else AuditTag.EXCHANGE_PURGE,
                decision="info", reason="never_acknowledged" if expired else "retention_elapsed",
                subject_id=envelope.subject_id, purpose=envelope.purpose,
                recipient_agency_id=envelope.recipient_agency_id,
                details={"envelope_id": envelope.id, "sender_agency_id": envelope.sender_agency_id},
            ), actor=Actor.system(), at=now)
    return counts
