"""Signed checkpoints of the audit log: made on demand and at a fixed interval.

The format and the exact signed bytes are in :mod:`crypto.checkpoint`. A checkpoint is
taken under the append lock, so its size and root always describe one committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crypto.checkpoint import Checkpoint, sign_checkpoint

from . import tree
from .models import AuditCheckpoint
from .notes import NoteSigner

__all__ = [
    "checkpoint_loop",
    "create_checkpoint",
    "get_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "make_checkpoint_if_due",
    "periodic_checkpoints",
    "to_checkpoint",
]

log = logging.getLogger("gateway.audit")


def to_checkpoint(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(origin=row.origin, tree_size=int(row.tree_size), root_hash=row.root_hash,
                      timestamp=row.timestamp, key_id=row.key_id, signature=row.signature)


def create_checkpoint(session: Session, seed: bytes, *, origin: str, at: datetime,
                      signer: NoteSigner | None = None) -> Checkpoint:
    """Sign the current tree head in the caller's transaction and store it.

    With ``signer`` (the checkpoint key) the row also carries the head as a C2SP checkpoint
    note, which is what witnesses cosign.
    """
    tree.lock_appends(session)
    size = tree.tree_size(session)
    root = tree.root_at(session, size)
    checkpoint = sign_checkpoint(seed, origin=origin, tree_size=size, root=root, at=at)
    session.add(AuditCheckpoint(tree_size=size, root_hash=checkpoint.root_hash, timestamp=checkpoint.timestamp,
                                origin=checkpoint.origin, key_id=checkpoint.key_id,
                                signature=checkpoint.signature, created_at=at,
                                note=signer.sign(size, root) if signer is not None else None))
    session.flush()
    return checkpoint


def latest_checkpoint(session: Session) -> Checkpoint | None:
    row = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))
    return to_checkpoint(row) if row is not None else None


def get_checkpoint(session: Session, tree_size: int) -> Checkpoint | None:
    """The most recent checkpoint of exactly ``tree_size`` entries."""
    row = session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == tree_size)
                         .order_by(AuditCheckpoint.id.desc()).limit(1))
    return to_checkpoint(row) if row is not None else None


def list_checkpoints(session: Session) -> list[Checkpoint]:
    """Every stored checkpoint, oldest first."""
    return [to_checkpoint(r) for r in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id))]


def make_checkpoint_if_due(sessions: sessionmaker[Session], seed: bytes, *, origin: str, at: datetime,
                           signer: NoteSigner | None = None) -> bool:
    """Sign a checkpoint if entries were appended since the last one. Returns whether it did."""
    with sessions() as session, session.begin():
        tree.lock_appends(session)
        latest = latest_checkpoint(session)
        if latest is not None and latest.tree_size == tree.tree_size(session):
            return False
        create_checkpoint(session, seed, origin=origin, at=at, signer=signer)
        return True


async def checkpoint_loop(sessions: sessionmaker[Session], seed: bytes, *, origin: str, interval_s: float,
                          now: Callable[[], datetime], signer: NoteSigner | None = None) -> None:
    """Checkpoint every ``interval_s`` seconds until cancelled. Never raises anything but CancelledError.

    A failure (database briefly down) is logged and retried at the next tick: the log
    keeps appending meanwhile, and the next checkpoint covers everything.
    """
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(make_checkpoint_if_due, sessions, seed, origin=origin, at=now(),
                                    signer=signer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the app alive whatever happens here
            log.warning("audit checkpoint failed: %s", type(exc).__name__)


@asynccontextmanager
async def periodic_checkpoints(sessions: sessionmaker[Session], seed: bytes, *, origin: str, interval_s: float,
                               now: Callable[[], datetime], signer: NoteSigner | None = None) -> AsyncIterator[None]:
    """Run :func:`checkpoint_loop` for the lifetime of the app (its lifespan)."""
    task = asyncio.create_task(checkpoint_loop(sessions, seed, origin=origin, interval_s=interval_s, now=now,
                                               signer=signer),
                               name="audit-checkpoints")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
