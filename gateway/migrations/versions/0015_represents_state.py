"""agencies.represents_state (the state an embassy, consulate or foreign authority acts for) and information requests (issue 21)

Revision ID: 0015
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agencies") as batch:
        batch.add_column(sa.Column("represents_state", sa.String(length=2), nullable=True))
    op.create_table(
        "information_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("requester_agency_id", sa.String(length=64), nullable=False),
        sa.Column("holder_agency_id", sa.String(length=64), nullable=False),
        sa.Column("subject_ref", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", consent.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", consent.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=20), nullable=True),
        sa.Column("refusal_reasons", sa.JSON(), nullable=True),
        sa.Column("plan_id", sa.String(length=64), nullable=True),
        sa.Column("envelope_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["holder_agency_id"], ["agencies.id"],
                                name=op.f("fk_information_requests_holder_agency_id_agencies")),
        sa.ForeignKeyConstraint(["requester_agency_id"], ["agencies.id"],
                                name=op.f("fk_information_requests_requester_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_information_requests")),
    )
    op.create_index("ix_information_requests_holder_status", "information_requests",
                    ["holder_agency_id", "status"], unique=False)
    op.create_index("ix_information_requests_requester", "information_requests", ["requester_agency_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_information_requests_requester", table_name="information_requests")
    op.drop_index("ix_information_requests_holder_status", table_name="information_requests")
    op.drop_table("information_requests")
    with op.batch_alter_table("agencies") as batch:
        batch.drop_column("represents_state")
