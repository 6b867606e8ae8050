"""exchange_plans.planner_role, planner_account_id: the submit decides again with the role of the
person who made the plan, never a defaulted one (issue 16)

Revision ID: 0027
Revises: 0024
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a plan open at upgrade time has no recorded planner, and its submit is refused
    # (``plan_without_person``); plans expire within minutes, so none is lost for long.
    with op.batch_alter_table("exchange_plans") as batch:
        batch.add_column(sa.Column("planner_role", sa.String(30), nullable=True))
        batch.add_column(sa.Column("planner_account_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exchange_plans") as batch:
        batch.drop_column("planner_account_id")
        batch.drop_column("planner_role")
