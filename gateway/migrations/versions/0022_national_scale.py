"""National scale (issue 18): dashboard tallies, and envelope ids indexed for the "never acknowledged" count

Revision ID: 0022
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0017"
branch_labels = None
depends_on = None

PAIRED = "action IN ('exchange:envelope:submit', 'exchange:envelope:ack')"


def upgrade() -> None:
    op.create_table(
        "audit_tallies",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("upto", sa.BigInteger(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # Submissions and acknowledgements by envelope id (the "referrals never acknowledged" dashboard
    # pairs them), on PostgreSQL: the national-scale database (SQLite cannot reflect an index on an
    # expression, and an embedded log stays small).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_audit_entries_envelope ON audit_entries ((details ->> 'envelope_id'), action, "
                   f"seq) WHERE {PAIRED}")

def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_audit_entries_envelope")
    op.drop_table("audit_tallies")
