"""staff identity: roles and status on staff accounts, passkeys, enrolment codes, WebAuthn challenges,
the agency's published deferral maximum

Revision ID: 0014
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0014"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch:
        batch.add_column(sa.Column("roles", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("status", sa.String(length=12), nullable=False, server_default="active"))
        batch.add_column(sa.Column("webauthn_user_id", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_staff_accounts_webauthn_user_id", ["webauthn_user_id"])
    op.create_table(
        "staff_credentials",
        sa.Column("id", sa.String(length=700), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("created_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", consent.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", consent.orm.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["staff_accounts.id"],
                                name=op.f("fk_staff_credentials_account_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_credentials")),
    )
    op.create_index("ix_staff_credentials_account", "staff_credentials", ["account_id"])
    op.create_table(
        "staff_enrolments",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", consent.orm.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["staff_accounts.id"],
                                name=op.f("fk_staff_enrolments_account_id_staff_accounts")),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_staff_enrolments")),
    )
    op.create_index("ix_staff_enrolments_account", "staff_enrolments", ["account_id"])
    op.create_table(
        "staff_challenges",
        sa.Column("challenge", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("challenge", name=op.f("pk_staff_challenges")),
    )
    op.create_table(
        "agency_staff_settings",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("deferral_max_days", sa.Integer(), nullable=True),
        sa.Column("plans_need_person", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"],
                                name=op.f("fk_agency_staff_settings_agency_id_agencies")),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_agency_staff_settings")),
    )


def downgrade() -> None:
    op.drop_table("agency_staff_settings")
    op.drop_table("staff_challenges")
    op.drop_index("ix_staff_enrolments_account", table_name="staff_enrolments")
    op.drop_table("staff_enrolments")
    op.drop_index("ix_staff_credentials_account", table_name="staff_credentials")
    op.drop_table("staff_credentials")
    with op.batch_alter_table("staff_accounts") as batch:
        batch.drop_constraint("uq_staff_accounts_webauthn_user_id", type_="unique")
        batch.drop_column("webauthn_user_id")
        batch.drop_column("status")
        batch.drop_column("roles")
