"""audit tree nodes, checkpoints and verifications; web sessions for the consoles

Revision ID: 0003
Revises: 0002

Existing audit entries (written before this revision) get their tree nodes back-filled,
so the stored tree always covers the whole log.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm
from crypto.merkle import parent_level

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id_column() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_tree_nodes")),
    )
    op.create_table(
        "audit_checkpoints",
        _id_column(),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.String(length=40), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("created_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index("ix_audit_checkpoints_tree_size", ["tree_size"], unique=False)
    op.create_table(
        "audit_verifications",
        _id_column(),
        sa.Column("started_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoints_checked", sa.Integer(), nullable=False),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verifications")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("realm", sa.String(length=20), nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_web_sessions_realm_principal", ["realm", "principal_id"], unique=False)
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", consent.orm.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "used_one_time_codes",
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("used_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "step", name=op.f("pk_used_one_time_codes")),
    )
    _backfill_tree_nodes()


def _backfill_tree_nodes() -> None:
    """Store every complete subtree of the entries already in the log (RFC 9162 hashing)."""
    conn = op.get_bind()
    leaves = [bytes.fromhex(h) for (h,) in conn.execute(sa.text("SELECT leaf_hash FROM audit_entries ORDER BY seq"))]
    nodes = sa.table("audit_tree_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))
    level, height = leaves, 0
    while len(level) > 1:
        height += 1
        level = parent_level(level)
        rows = [{"level": height, "idx": i, "hash": h} for i, h in enumerate(level)]
        if rows:
            op.bulk_insert(nodes, rows)


def downgrade() -> None:
    op.drop_table("used_one_time_codes")
    op.drop_table("login_throttles")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_web_sessions_realm_principal")
    op.drop_table("web_sessions")
    op.drop_table("audit_verifications")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_checkpoints_tree_size")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_tree_nodes")
