"""Consent records and exception-policy explanations keep a language tag's language and script only
(``ar-SY`` -> ``ar``), as subjects do since 0017 (issue 17: a region or dialect per person is a
quasi-identifier; CR9 compares only language and script).

Revision ID: 0024
Revises: 0018
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from consent.subjects import coarse_language

revision = "0024"
down_revision = "0018"
branch_labels = None
depends_on = None

_TABLES = ("consent_records", "exception_policy_explanations")


def upgrade() -> None:
    conn = op.get_bind()
    for table in _TABLES:
        rows = conn.execute(sa.text(f"SELECT id, language FROM {table} WHERE language IS NOT NULL")).all()
        for row_id, language in rows:
            coarse = coarse_language(language)
            if coarse != language:
                conn.execute(sa.text(f"UPDATE {table} SET language = :language WHERE id = :id"),
                             {"language": coarse, "id": row_id})


def downgrade() -> None:
    """The region and dialect are gone; nothing to restore."""
