"""trust: checkpoint notes (C2SP) with witness cosignatures; the database refuses rewrites

Revision ID: 0009
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm
from gateway.audit import guard

revision = "0009"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_checkpoints") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "audit_cosignatures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("checkpoint_id", sa.BigInteger(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("witness", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_cosignatures")),
        sa.UniqueConstraint("checkpoint_id", "witness", "key_id", name=op.f("uq_audit_cosignatures_checkpoint_id_witness_key_id")),
    )
    op.create_index("ix_audit_cosignatures_checkpoint", "audit_cosignatures", ["checkpoint_id"])
    op.create_table(
        "enrolment_secrets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", consent.orm.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_enrolment_secrets_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment_secrets")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_enrolment_secrets_secret_hash")),
    )
    guard.install(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        guard.drop_sqlite_guards(bind)
    op.drop_table("enrolment_secrets")
    op.drop_index("ix_audit_cosignatures_checkpoint", table_name="audit_cosignatures")
    op.drop_table("audit_cosignatures")
    with op.batch_alter_table("audit_checkpoints") as batch:
        batch.drop_column("note")
