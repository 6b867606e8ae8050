"""``/v1/agencies/{id}/keys/bindings``, ``.../keys/{key_id}/proof`` and ``.../key-events``: keys an agency
binds itself, and the evidence an SDK checks before it trusts a key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from .. import db
from ..audit.log import entry_document
from ..deps import CallerDep, ContextDep, SessionDep
from ..errors import NotFound
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


@router.post("/{agency_id}/keys/bindings", response_model=KeyOut, status_code=201)
def bind_key(agency_id: str, body: BindingIn, caller: CallerDep, ctx: ContextDep, session: SessionDep) -> KeyOut:
    """Add a key the agency signed a binding for with its current signing key (the agency only, not the operator)."""
    if caller.agency_id != agency_id:
        raise NotFound("unknown_agency")
    with session.begin():
        key = bindings.bind_key(session, agency_id, body.binding, body.signature, actor=caller.actor(),
                                now=ctx.clock.now())
        return KeyOut.of(key)


@router.get("/{agency_id}/keys/{key_id}/proof", response_model=KeyProofOut)
def key_proof(agency_id: str, key_id: str, session: SessionDep) -> KeyProofOut:
    """Every log entry about this key, with inclusion proofs in the newest witnessed checkpoint (no token)."""
    with db.read_transaction(session):
        proof = bindings.key_proof(session, agency_id, key_id)
        return KeyProofOut(key=KeyOut.of(proof.key), checkpoint=proof.checkpoint, tree_size=proof.tree_size,
                           events=proof.events)


@router.get("/{agency_id}/key-events")
def key_events(agency_id: str, session: SessionDep) -> list[dict[str, Any]]:
    """Every log entry about this agency's keys, whoever made it (no token: an agency's monitor reads this)."""
    with db.read_transaction(session):
        return [{**entry_document(e), "leaf_hash": e.leaf_hash} for e in bindings.key_events(session, agency_id)]
