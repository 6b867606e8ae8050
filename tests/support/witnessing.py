"""A witness for in-process tests: cut a checkpoint note and have the monitoring body cosign it.

The gateway's configured witness (its key listed in ``witnesses.txt``) cosigns the newest note
and the cosignature is stored, as ``POST /v1/audit/checkpoint/cosignatures`` would do.
"""

from __future__ import annotations

from crypto import note as notes
from crypto.keys import generate_signing_seed
from gateway.audit.checkpoints import create_checkpoint
from gateway.audit.notes import latest_noted, store_cosignatures
from gateway.context import GatewayContext

WITNESS = "monitoring.test/witness"


def witness_seed(ctx: GatewayContext) -> bytes:
    """The test witness's key, created once per context and listed in the gateway's witnesses.txt."""
    seed = ctx.extras.get("test_witness_seed")
    if not isinstance(seed, bytes):
        seed = generate_signing_seed()
        ctx.extras["test_witness_seed"] = seed
        vkey = notes.signer_verifier(WITNESS, seed, notes.COSIGNATURE).vkey()
        path = ctx.settings.witnesses_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(vkey + "\n")
    return seed


def checkpoint_and_cosign(ctx: GatewayContext) -> None:
    """Cut a checkpoint (with its note) now, and have the test witness cosign it."""
    seed = witness_seed(ctx)
    signer = ctx.note_signer()
    assert signer is not None, "the context has no checkpoint key"
    with ctx.sessions() as session, session.begin():
        create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer, at=ctx.clock.now(), signer=signer)
    with ctx.sessions() as session, session.begin():
        row = latest_noted(session)
        assert row is not None and row.note is not None
        note = notes.parse_note(row.note)
        cosigned = notes.Note(note.text, (*note.signatures, notes.cosign(
            note.text, WITNESS, seed, timestamp=int(ctx.clock.now().timestamp()))))
        store_cosignatures(session, cosigned.render(), ctx.witnesses(), at=ctx.clock.now())
