"""retention broadcasts, seals, legal holds and staleness (issue 22): retention_notices, subject_orders,
subject_reviews, retention_warnings. None is append-only: erasure and the retention schedule delete from
them (a notice outlives an erasure without its subject).

Revision ID: 0030
Revises: 0029
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, consent.orm.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "retention_notices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("reference", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.String(length=128), nullable=False),
        _at("created_at"), _at("ack_due"), _at("acknowledged_at", True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        _at("overdue_at", True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_retention_notices_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_notices")),
    )
    op.create_index("ix_retention_notices_agency_created", "retention_notices", ["agency_id", "created_at"])
    op.create_index("ix_retention_notices_subject", "retention_notices", ["subject_id"])
    op.create_table(
        "subject_orders",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),  # sealed at rest under the subject's key
        sa.Column("recipient_agency_id", sa.String(length=64), nullable=True),
        _at("created_at"),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        _at("ends_at", True), _at("lifted_at", True),
        sa.Column("lifted_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_subject_orders_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_orders")),
    )
    op.create_index("ix_subject_orders_subject", "subject_orders", ["subject_id"])
    op.create_table(
        "subject_reviews",
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        _at("last_verified_at"),
        sa.Column("verified_by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_subject_reviews")),
    )
    op.create_table(
        "retention_warnings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        _at("due_at"), _at("created_at"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"],
                                name=op.f("fk_retention_warnings_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_warnings")),
        sa.UniqueConstraint("subject_id", "kind", "due_at", name=op.f("uq_retention_warnings_subject_id_kind_due_at")),
    )
    op.create_index("ix_retention_warnings_agency_created", "retention_warnings", ["agency_id", "created_at"])


def downgrade() -> None:
    op.drop_table("retention_warnings")
    op.drop_table("subject_reviews")
    op.drop_table("subject_orders")
    op.drop_table("retention_notices")
