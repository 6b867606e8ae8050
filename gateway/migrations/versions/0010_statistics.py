"""statistics: coarse sex and exploitation type on subjects, the statistics store, releases and the budget ledger

Revision ID: 0010
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("sex", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("exploitation_type", sa.String(length=20), nullable=True))
    op.create_table(
        "stat_persons",
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("intake_month", sa.String(length=7), nullable=False),
        sa.Column("age_band", sa.String(length=12), nullable=False),
        sa.Column("sex", sa.String(length=12), nullable=False),
        sa.Column("nationality_group", sa.String(length=12), nullable=False),
        sa.Column("exploitation_type", sa.String(length=20), nullable=False),
        sa.Column("child", sa.String(length=8), nullable=False),
        sa.Column("nrm_stage", sa.String(length=20), nullable=False),
        sa.Column("stage1_deadline", sa.String(length=16), nullable=False),
        sa.Column("refreshed_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("unit", name=op.f("pk_stat_persons")),
    )
    op.create_index("ix_stat_persons_intake_month", "stat_persons", ["intake_month"])
    op.create_table(
        "stat_events",
        sa.Column("source_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("recipient_kind", sa.String(length=40), nullable=False),
        sa.Column("basis", sa.String(length=12), nullable=False),
        sa.Column("child", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("source_seq", name=op.f("pk_stat_events")),
    )
    op.create_index("ix_stat_events_month", "stat_events", ["month"])
    op.create_table(
        "stat_cursor",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stat_cursor")),
    )
    op.create_table(
        "stat_budget_periods",
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("spent_micro", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_stat_budget_periods")),
    )
    op.create_table(
        "stat_releases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("released_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=120), nullable=False),
        sa.Column("requester_role", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("csv", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stat_releases")),
    )
    op.create_index("ix_stat_releases_released_at", "stat_releases", ["released_at"])
    op.create_table(
        "stat_budget_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("epsilon_micro", sa.BigInteger(), nullable=False),
        sa.Column("at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["stat_releases.id"],
                                name=op.f("fk_stat_budget_ledger_release_id_stat_releases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stat_budget_ledger")),
    )
    op.create_index("ix_stat_budget_ledger_period", "stat_budget_ledger", ["period"])


def downgrade() -> None:
    op.drop_index("ix_stat_budget_ledger_period", table_name="stat_budget_ledger")
    op.drop_table("stat_budget_ledger")
    op.drop_index("ix_stat_releases_released_at", table_name="stat_releases")
    op.drop_table("stat_releases")
    op.drop_table("stat_budget_periods")
    op.drop_table("stat_cursor")
    op.drop_index("ix_stat_events_month", table_name="stat_events")
    op.drop_table("stat_events")
    op.drop_index("ix_stat_persons_intake_month", table_name="stat_persons")
    op.drop_table("stat_persons")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("exploitation_type")
        batch.drop_column("sex")
