"""Public, unauthenticated, cacheable transparency endpoints: checkpoint notes, proofs, cosignatures.

Nothing here needs a token: a checkpoint, a consistency proof and a cosignature are
hashes and signatures, and whoever checks them must not depend on the gateway letting them.

* ``GET /v1/audit/checkpoint``: the newest checkpoint note (C2SP), with the witness
  cosignatures it has so far (``text/plain``). Witnesses read this.
* ``GET /v1/audit/checkpoint/witnessed``: the newest note that has at least one cosignature.
  Agencies' SDKs read this and count the cosignatures of the witnesses *they* trust.
* ``GET /v1/audit/checkpoint/key``: the checkpoint key as a verifier key (compare its
  fingerprint out of band before trusting it).
* ``GET /v1/audit/proof/consistency?first=&second=``: RFC 9162 consistency proof.
* ``POST /v1/audit/checkpoint/cosignatures``: a witness sends back the note it cosigned.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ..deps import ContextDep
from ..errors import NotFound, Unprocessable
from ..responses import CosignaturesOut
from . import tree
from .log import Actor, AuditEvent, record_refusal
from .notes import CosignatureRefused, latest_noted, note_with_cosignatures, store_cosignatures
from .routes import ConsistencyProofOut
from .tags import AuditTag

router = APIRouter(prefix="/v1/audit", tags=["transparency"])
NOTE_TYPE = "text/plain; charset=utf-8"
MAX_NOTE_BYTES = 16 * 1024


def _note_response(text: str) -> PlainTextResponse:
    # Short-lived public caching: every reader may share one copy for a second.
    return PlainTextResponse(text, media_type=NOTE_TYPE, headers={"Cache-Control": "public, max-age=1"})


@router.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint_note(ctx: ContextDep) -> PlainTextResponse:
    """The newest signed checkpoint note with the cosignatures it has (no token needed)."""
    with ctx.sessions() as session:
        row = latest_noted(session)
        if row is None:
            raise NotFound("no_checkpoint", "No checkpoint has been signed yet.")
        return _note_response(note_with_cosignatures(session, row))


@router.get("/checkpoint/witnessed", response_class=PlainTextResponse)
def witnessed_note(ctx: ContextDep) -> PlainTextResponse:
    """The newest checkpoint note that a witness has cosigned, with every cosignature (no token needed)."""
    with ctx.sessions() as session:
        row = latest_noted(session, witnessed=True)
        if row is None:
            raise NotFound("no_witnessed_checkpoint", "No witness has cosigned a checkpoint yet.")
        return _note_response(note_with_cosignatures(session, row))


@router.get("/checkpoint/key", response_class=PlainTextResponse)
def checkpoint_key(ctx: ContextDep) -> PlainTextResponse:
    """The checkpoint key (``name+keyid+base64``). Trust it only after comparing it out of band."""
    signer = ctx.note_signer()
    if signer is None:
        raise NotFound("no_checkpoint_key")
    return PlainTextResponse(signer.verifier().vkey() + "\n", media_type=NOTE_TYPE,
                             headers={"Cache-Control": "public, max-age=3600"})


@router.get("/proof/consistency", response_model=ConsistencyProofOut)
def consistency(ctx: ContextDep, first: Annotated[int, Query(ge=0)],
                second: Annotated[int, Query(ge=0)]) -> JSONResponse:
    """Prove the log of ``first`` entries is a prefix of the log of ``second`` entries (no token needed)."""
    with ctx.sessions() as session:
        if not first <= second <= tree.tree_size(session):
            raise Unprocessable("bad_tree_size", "Need first <= second <= the log's size.")
        proof = tree.consistency_proof(session, first, second)
    return JSONResponse({"first": first, "second": second, "proof": [p.hex() for p in proof]},
                        headers={"Cache-Control": "public, max-age=60"})


@router.post("/checkpoint/cosignatures", status_code=201, response_model=CosignaturesOut)
async def add_cosignatures(request: Request, ctx: ContextDep) -> JSONResponse:
    """A witness's cosigned note: kept if a configured witness's cosignature verifies over a stored note.

    Self-authenticating, so no token; not itself an audit entry (that would grow the log on
    every cosignature), but every refusal is audited.
    """
    body = await request.body()
    if len(body) > MAX_NOTE_BYTES:
        raise Unprocessable("malformed_note", "A cosigned note is at most 16 KiB.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unprocessable("malformed_note", "A note is UTF-8 text.") from None
    try:
        with ctx.sessions() as session, session.begin():
            kept = store_cosignatures(session, text, ctx.witnesses(), at=ctx.clock.now())
    except CosignatureRefused as exc:
        record_refusal(ctx.sessions, AuditEvent(AuditTag.AUDIT_COSIGNATURE_REFUSE, decision="deny",
                                                reason=exc.reason),
                       actor=Actor(role="witness"), at=ctx.clock.now())
        if exc.reason == "unknown_checkpoint":
            raise NotFound(exc.reason, exc.detail) from None
        raise Unprocessable(exc.reason, exc.detail) from None
    return JSONResponse({"witnesses": kept}, status_code=201)

