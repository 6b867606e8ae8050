"""``/v1/agencies/{id}/keys/bindings``, ``.../keys/{key_id}/proof`` and ``.../key-events``: keys an agency
binds itself, and the evidence an SDK checks before it trusts a key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from .. import db
from ..audit.log import Actor, AuditEvent, entry_document, record_refusal
from ..audit.routes import EntryOut
from ..audit.tags import AuditTag
from ..deps import CallerDep, ContextDep, OperatorDep, SessionDep
from ..errors import GatewayError, NotFound
from . import bindings
from .schemas import KeyOut

router = APIRouter(prefix="/v1/agencies", tags=["registry"])


class BindingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    binding: dict[str, Any]
    signature: str = Field(min_length=80, max_length=100)


class KeyProofOut(BaseModel):
    key: KeyOut
    checkpoint: str = Field(description="The newest witnessed checkpoint note (C2SP), with its cosignatures")
    tree_size: int
    events: list[dict[str, Any]] = Field(description="Each log entry about this key and its inclusion proof")


class EnrolmentOut(BaseModel):
    enrolment_id: str
    secret: str = Field(description="Shown once. Give it to the agency out of band; it works once, for 14 days.")


class SignedBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    binding: dict[str, Any]
    signature: str = Field(min_length=80, max_length=100)


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str = Field(min_length=20, max_length=64)
    bindings: list[SignedBinding] = Field(min_length=1, max_length=2)


@router.post("/{agency_id}/enrolment-secrets", response_model=EnrolmentOut, status_code=201)
def issue_enrolment_secret(agency_id: str, caller: OperatorDep, ctx: ContextDep, session: SessionDep) -> EnrolmentOut:
    """A one-time secret with which the agency enrols its first keys itself (operator only)."""
    with session.begin():
        enrolment_id, secret = bindings.issue_enrolment_secret(session, agency_id, actor=caller.actor(),
                                                               now=ctx.clock.now())
    return EnrolmentOut(enrolment_id=enrolment_id, secret=secret)


@router.post("/{agency_id}/enrol", response_model=list[KeyOut], status_code=201)
def enrol(agency_id: str, body: EnrolmentIn, ctx: ContextDep, session: SessionDep) -> list[KeyOut]:
    """First enrolment by the agency itself: keys bound by its new signing key, with a one-time secret (no token)."""
    try:
        with session.begin():
            keys = bindings.enrol(session, agency_id, body.secret, [(b.binding, b.signature) for b in body.bindings],
                                  now=ctx.clock.now())
            return [KeyOut.of(k) for k in keys]
    except GatewayError as exc:
        record_refusal(ctx.sessions, AuditEvent(AuditTag.REGISTRY_ENROLMENT_REFUSE, decision="deny",
                                                reason=exc.reason, details={"agency_id": agency_id}),
                       actor=Actor(role="enrolment"), at=ctx.clock.now())
        raise


@router.post("/{agency_id}/keys/bindings", response_model=KeyOut, status_code=201)
def bind_key(agency_id: str, body: BindingIn, caller: CallerDep, ctx: ContextDep, session: SessionDep) -> KeyOut:
    """Add a key the agency signed a binding for with its current signing key (the agency only, not the operator)."""
    if caller.agency_id != agency_id:
        raise NotFound("unknown_agency")
    with session.begin():
        key = bindings.bind_key(session, agency_id, body.binding, body.signature, actor=caller.actor(),
                                now=ctx.clock.now())
        return KeyOut.of(key)


class RevocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revocation: dict[str, Any]
    signature: str = Field(min_length=80, max_length=100)


@router.post("/{agency_id}/keys/{key_id}/revocation", response_model=KeyOut)
def revoke_signed(agency_id: str, key_id: str, body: RevocationIn, ctx: ContextDep, session: SessionDep) -> KeyOut:
    """Revoke a key on the agency's own signed word (no token: the signature is the authority, so an
    agency that lost the key it signs in with can still revoke it with its other signing key)."""
    try:
        with session.begin():
            key = bindings.revoke_signed(session, agency_id, key_id, body.revocation, body.signature,
                                         now=ctx.clock.now())
            return KeyOut.of(key)
    except GatewayError as exc:
        record_refusal(ctx.sessions, AuditEvent(AuditTag.REGISTRY_KEY_REVOKE_REFUSE, decision="deny",
                                                reason=exc.reason, details={"agency_id": agency_id, "key_id": key_id}),
                       actor=Actor(role="agency-signature"), at=ctx.clock.now())
        raise


@router.get("/{agency_id}/keys/{key_id}/proof", response_model=KeyProofOut)
def key_proof(agency_id: str, key_id: str, session: SessionDep) -> KeyProofOut:
    """Every log entry about this key, with inclusion proofs in the newest witnessed checkpoint (no token)."""
    with db.read_transaction(session):
        proof = bindings.key_proof(session, agency_id, key_id)
        return KeyProofOut(key=KeyOut.of(proof.key), checkpoint=proof.checkpoint, tree_size=proof.tree_size,
                           events=proof.events)


@router.get("/{agency_id}/key-events", response_model=list[EntryOut])
def key_events(agency_id: str, session: SessionDep) -> list[dict[str, Any]]:
    """Every log entry about this agency's keys, whoever made it (no token: an agency's monitor reads this)."""
    with db.read_transaction(session):
        return [{**entry_document(e), "leaf_hash": e.leaf_hash} for e in bindings.key_events(session, agency_id)]
