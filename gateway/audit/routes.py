"""``/v1/audit``: signed checkpoints, inclusion and consistency proofs, an agency's own entries.

Readers are agencies whose token carries ``audit:read`` (they see only entries they acted
in or received) and signed-in console staff (DPO, monitoring body: every entry, and each
read of entries is itself logged). Proofs and checkpoints carry hashes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastAPIPath
from pydantic import BaseModel, Field
from sqlalchemy import and_, or_

from crypto.checkpoint import Checkpoint

from .. import db
from ..auth.permission import Permission
from ..console.auth import ConsoleAuth
from ..deps import ContextDep, OperatorDep, get_caller
from ..errors import Conflict, Forbidden, NotFound, Unauthenticated, Unprocessable
from ..query_bounds import INT64_MAX, utc_query_time
from . import checkpoints, search, tree
from .log import Actor, AuditEvent, entry_document, record
from .models import AuditEntry
from .tags import AuditTag

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@dataclass(frozen=True)
class Reader:
    """Who reads the log: an agency (own entries only) or console staff (everything, logged)."""

    actor: Actor
    agency_id: str | None
    staff: bool


def get_reader(request: Request, ctx: ContextDep) -> Reader:
    if request.headers.get("authorization"):
        caller = get_caller(request, ctx)
        if Permission.AUDIT_READ not in caller.scopes:
            raise Forbidden("insufficient_scope", "This call needs the scope audit:read.")
        return Reader(actor=caller.actor(), agency_id=caller.agency_id, staff=False)
    with ctx.sessions() as session, session.begin():
        staff, _row = ConsoleAuth(ctx).current(session, request)
    if staff is None:
        raise Unauthenticated("missing_token", "A Bearer access token or a console session is required.")
    return Reader(actor=staff.actor(), agency_id=None, staff=True)


ReaderDep = Annotated[Reader, Depends(get_reader)]


class CheckpointOut(BaseModel):
    """A signed tree head. Signed bytes: RFC 8785 JSON of every field but ``signature``."""

    type: str
    origin: str
    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str


class InclusionProofOut(BaseModel):
    seq: int
    tree_size: int
    leaf_hash: str
    proof: list[str] = Field(description="RFC 9162 audit path, hex, from the leaf up")
    root_hash: str = Field(description="The root the path leads to (compare with a signed checkpoint)")
    checkpoint: CheckpointOut | None = None


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[str] = Field(description="RFC 9162 consistency proof, hex")


class ActorOut(BaseModel):
    agency_id: str | None
    role: str | None
    user: str | None


class EntryOut(BaseModel):
    """Exactly the document the leaf hash covers, plus the hash: recompute it to check the entry."""

    seq: int
    entry_id: str
    at: str
    request_id: str | None
    actor: ActorOut
    action: str
    subject_id: str | None
    purpose: str | None
    recipient_agency_id: str | None
    classes_requested: list[str]
    classes_released: list[str]
    policy_version: str | None
    basis: dict[str, Any]
    decision: str
    reason: str | None
    details: dict[str, Any]
    leaf_hash: str


class EntryPage(BaseModel):
    entries: list[EntryOut]
    next_after: int | None = Field(description="Pass as ``after`` for the next page; null at the end")


def _checkpoint_out(value: Checkpoint | None) -> CheckpointOut | None:
    return CheckpointOut(**value.to_json()) if value is not None else None


@router.get("/checkpoints/latest", response_model=CheckpointOut)
def latest_checkpoint(reader: ReaderDep, ctx: ContextDep) -> CheckpointOut:
    """The newest signed checkpoint. Keep it, and ask for a consistency proof from it next time."""
    with ctx.sessions() as session, db.read_transaction(session):  # readers never queue behind writers
        found = _checkpoint_out(checkpoints.latest_checkpoint(session))
    if found is None:
        raise NotFound("no_checkpoint", "No checkpoint has been signed yet.")
    return found


@router.get("/checkpoints/{tree_size}", response_model=CheckpointOut)
def checkpoint_at(tree_size: Annotated[int, FastAPIPath(ge=0, le=INT64_MAX)], reader: ReaderDep,
                  ctx: ContextDep) -> CheckpointOut:
    """The most recent signed checkpoint of exactly ``tree_size`` entries."""
    with ctx.sessions() as session, db.read_transaction(session):  # readers never queue behind writers
        found = _checkpoint_out(checkpoints.get_checkpoint(session, tree_size))
    if found is None:
        raise NotFound("no_checkpoint", "No checkpoint of that size.")
    return found


@router.post("/checkpoints", response_model=CheckpointOut, status_code=201)
def create_checkpoint(caller: OperatorDep, ctx: ContextDep) -> CheckpointOut:
    """Sign a checkpoint now (operator only). It covers the entry recording this request."""
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.AUDIT_CHECKPOINT, decision="allow", details={"trigger": "on_demand"}),
               actor=caller.actor(), at=ctx.clock.now())
        made = checkpoints.create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer,
                                             at=ctx.clock.now(), signer=ctx.note_signer())
    return CheckpointOut(**made.to_json())


def _utc(moment: datetime | None) -> datetime | None:
    """Query times without an offset are read as UTC (a time that is not a UTC time, such as year 1 at
    +01:00, is refused with 422 rather than overflowing)."""
    return utc_query_time(moment)


def _own(reader: Reader) -> Any:
    """Entries the agency acted in, received, or sent (a system entry about its envelope names it so).

    A refusal that names the agency as the would-be recipient is not the recipient's to read: a
    plan refused for lack of consent would tell a police officer that an advocacy service holds a
    person who refused police involvement. Its actor and the DPO still read it."""
    return or_(AuditEntry.actor_agency_id == reader.agency_id,
               and_(AuditEntry.recipient_agency_id == reader.agency_id, AuditEntry.decision != "deny"),
               AuditEntry.details["sender_agency_id"].as_string() == reader.agency_id)


def _mine(reader: Reader, entry: AuditEntry) -> bool:
    """:func:`_own` for one loaded entry."""
    return (entry.actor_agency_id == reader.agency_id
            or (entry.recipient_agency_id == reader.agency_id and entry.decision != "deny")
            or (entry.details or {}).get("sender_agency_id") == reader.agency_id)


@router.get("/entries/{seq}/inclusion-proof", response_model=InclusionProofOut)
def inclusion_proof(
    seq: Annotated[int, FastAPIPath(ge=0, le=INT64_MAX)], reader: ReaderDep, ctx: ContextDep,
    tree_size: Annotated[int | None, Query(ge=1, le=INT64_MAX,
                                           description="Default: the latest checkpoint's size")] = None,
) -> InclusionProofOut:
    """Prove that entry ``seq`` is in the tree of ``tree_size`` entries (an agency: its own entries only)."""
    with ctx.sessions() as session, db.read_transaction(session):  # readers never queue behind writers
        entry = session.get(AuditEntry, seq) if seq >= 0 else None
        mine = entry is not None and _mine(reader, entry)
        if entry is None or not (reader.staff or mine):
            raise NotFound("unknown_entry")
        latest = checkpoints.latest_checkpoint(session)
        if tree_size is None:
            if latest is None or latest.tree_size <= seq:
                raise Conflict("not_checkpointed", "No signed checkpoint covers this entry yet; ask again after "
                               "the next one, or name a tree_size.")
            tree_size = latest.tree_size
        if not seq < tree_size <= tree.tree_size(session):
            raise Unprocessable("bad_tree_size", "tree_size must be above seq and at most the log's size.")
        proof = tree.inclusion_proof(session, seq, tree_size)
        root = tree.root_at(session, tree_size)
        signed = checkpoints.get_checkpoint(session, tree_size)
    return InclusionProofOut(seq=seq, tree_size=tree_size, leaf_hash=entry.leaf_hash, proof=[p.hex() for p in proof],
                             root_hash=root.hex(), checkpoint=_checkpoint_out(signed))


@router.get("/consistency-proof", response_model=ConsistencyProofOut)
def consistency_proof(
    reader: ReaderDep, ctx: ContextDep, first: Annotated[int, Query(ge=0, le=INT64_MAX)],
    second: Annotated[int, Query(ge=0, le=INT64_MAX)],
) -> ConsistencyProofOut:
    """Prove that the log of ``first`` entries is a prefix of the log of ``second`` entries."""
    with ctx.sessions() as session, db.read_transaction(session):  # readers never queue behind writers
        if not first <= second <= tree.tree_size(session):
            raise Unprocessable("bad_tree_size", "Need first <= second <= the log's size.")
        proof = tree.consistency_proof(session, first, second)
    return ConsistencyProofOut(first=first, second=second, proof=[p.hex() for p in proof])


@router.get("/entries", response_model=EntryPage)
def list_entries(
    reader: ReaderDep, ctx: ContextDep,
    after: Annotated[int, Query(ge=-1, le=INT64_MAX, description="Entries with seq above this")] = -1,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    action: Annotated[str | None, Query(max_length=60)] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> EntryPage:
    """Entries in seq order. An agency sees only those where it acted or was the recipient."""
    filt = search.EntryFilter(action=action, subject_id=subject_id, since=_utc(since), until=_utc(until))
    with ctx.sessions() as session, session.begin():
        rows = search.find_entries(session, filt, extra=None if reader.staff else _own(reader), after=after,
                                   limit=limit, newest_first=False)
        if reader.staff:
            record(session, AuditEvent(AuditTag.AUDIT_VIEW, decision="allow", purpose="oversight",
                                       subject_id=subject_id if rows and subject_id else None,
                                       details={"view": "api", "filters": filt.describe(), "results": len(rows)}),
                   actor=reader.actor, at=ctx.clock.now())
        entries = [EntryOut(**entry_document(e), leaf_hash=e.leaf_hash) for e in rows]
    return EntryPage(entries=entries, next_after=entries[-1].seq if len(entries) == limit else None)
