"""subjects.contact_safety (SEC12, S40: a contact channel goes only when verified safe) and
subjects.declined_protection (CR38: a refused protection or shelter is recorded and closes nothing)
(issue 21)

Revision ID: 0029
Revises: 0027
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("contact_safety", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("declined_protection", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("declined_protection")
        batch.drop_column("contact_safety")
