"""subject keys: the per-subject key behind the pseudonym audit entries carry (issue 22)

Revision ID: 0016
Revises: 0020
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0016"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not append-only: erasure deletes a row (crypto-shredding), so it is outside the guarded tables.
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_subject_keys")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_subject_keys_pseudonym")),
    )


def downgrade() -> None:
    op.drop_table("subject_keys")
