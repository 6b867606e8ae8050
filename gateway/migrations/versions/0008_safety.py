"""the person's safety: PIN length (six digits from now on), no locks a card-holder can trigger, no
dictionary-searchable preview hashes

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_access") as batch:
        batch.add_column(sa.Column("pin_length", sa.Integer(), nullable=True))
    # Locks only the advocate could lift are gone: sign-in now slows guessing and never locks.
    op.execute(sa.text("UPDATE portal_access SET locked_at = NULL"))


def downgrade() -> None:
    with op.batch_alter_table("portal_access") as batch:
        batch.drop_column("pin_length")
