"""the person's safety: PIN length (six digits from now on), no locks a card-holder can trigger, no
dictionary-searchable preview hashes

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_access") as batch:
        batch.add_column(sa.Column("pin_length", sa.Integer(), nullable=True))
    with op.batch_alter_table("portal_session_state") as batch:
        batch.add_column(sa.Column("decoy", sa.JSON(), nullable=True))
    # Locks only the advocate could lift are gone: sign-in now slows guessing and never locks.
    op.execute(sa.text("UPDATE portal_access SET locked_at = NULL"))
    # Unkeyed preview hashes (SHA-256 of the language and values: a dictionary finds the name, the
    # language, the risk level) go. An open plan's approval is recorded again with the keyed
    # commitment; a stored manifest loses its hash and language (an envelope not yet acknowledged
    # then no longer verifies at the recipient, expires and its sender is told, as for any other).
    op.execute(sa.text("DELETE FROM preview_approvals"))
    envelopes = sa.table("envelopes", sa.column("id", sa.String), sa.column("manifest", sa.JSON))
    bind = op.get_bind()
    for envelope_id, manifest in bind.execute(sa.select(envelopes.c.id, envelopes.c.manifest)).all():
        document = json.loads(manifest) if isinstance(manifest, str) else manifest
        if isinstance(document, dict) and ("preview_hash" in document or "language" in document):
            document = {k: v for k, v in document.items() if k not in ("preview_hash", "language")}
            bind.execute(envelopes.update().where(envelopes.c.id == envelope_id).values(manifest=document))


def downgrade() -> None:
    with op.batch_alter_table("portal_session_state") as batch:
        batch.drop_column("decoy")
    with op.batch_alter_table("portal_access") as batch:
        batch.drop_column("pin_length")
