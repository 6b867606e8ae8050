"""The attacks of issue 15, run the way an operator with database access and the gateway's keys would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select

from crypto.checkpoint import sign_checkpoint
from gateway.audit import tree
from gateway.audit.log import compute_leaf_hash
from gateway.audit.models import AuditCheckpoint, AuditEntry, AuditTreeNode
from gateway.context import GatewayContext
from tests.support.tamper import unguarded


def rewrite_history(ctx: GatewayContext, agency_id: str) -> int:
    """Delete every entry ``agency_id`` acted in or received, renumber the rest, rebuild the tree and
    re-sign every checkpoint (token key and checkpoint key) with its original timestamp. Returns how
    many entries went."""
    signer = ctx.note_signer()
    assert signer is not None
    columns = [c.name for c in cast(Table, AuditEntry.__table__).columns]
    with unguarded(ctx.engine), ctx.sessions() as session, session.begin():
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        rows: list[dict[str, Any]] = [{name: getattr(e, name) for name in columns} for e in entries]
        kept = [r for r in rows if agency_id not in (r["actor_agency_id"], r["recipient_agency_id"])]
        session.expunge_all()
        session.execute(delete(AuditTreeNode))
        session.execute(delete(AuditEntry))
        for new_seq, old in enumerate(kept):
            row = {**old, "seq": new_seq}
            row["leaf_hash"] = compute_leaf_hash(AuditEntry(**row))
            session.execute(insert(cast(Table, AuditEntry.__table__)), row)
            tree.append_leaf(session, new_seq, bytes.fromhex(row["leaf_hash"]))
        old_seqs = [r["seq"] for r in kept]
        for checkpoint in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)):
            size = sum(1 for s in old_seqs if s < checkpoint.tree_size)
            root = tree.root_at(session, size)
            at = datetime.strptime(checkpoint.timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            forged = sign_checkpoint(ctx.signing_seed, origin=checkpoint.origin, tree_size=size, root=root, at=at)
            checkpoint.tree_size, checkpoint.root_hash = size, forged.root_hash
            checkpoint.signature = forged.signature
            checkpoint.note = signer.sign(size, root)
    return len(rows) - len(kept)
