"""audit_entries.at index: the console's charts count the last 90 days in the database

Revision ID: 0020
Revises: 0008
"""
from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_entries_at", "audit_entries", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_at", table_name="audit_entries")
