"""children and NRM timers: NRM stage times and the guardian advocate service on subjects, SLA alerts, child interviews, L1 explanations

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_NRM_COLUMNS = (
    ("nrm_referred_at", lambda: consent.orm.UTCDateTime(timezone=True)),
    ("stage1_outcome", lambda: sa.String(length=8)),
    ("stage1_decided_at", lambda: consent.orm.UTCDateTime(timezone=True)),
    ("stage2_outcome", lambda: sa.String(length=8)),
    ("stage2_decided_at", lambda: consent.orm.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        for name, kind in _NRM_COLUMNS:
            batch.add_column(sa.Column(name, kind(), nullable=True))
        batch.add_column(sa.Column("guardian_advocate_agency_id", sa.String(length=64), nullable=True))
        batch.create_foreign_key(op.f("fk_subjects_guardian_advocate_agency_id_agencies"), "agencies",
                                 ["guardian_advocate_agency_id"], ["id"])
    op.create_table('sla_alerts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('owner_agency_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('rule', sa.String(length=8), nullable=False),
    sa.Column('due_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('raised_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('missing', sa.JSON(), nullable=False),
    sa.Column('notified', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['owner_agency_id'], ['agencies.id'], name=op.f('fk_sla_alerts_owner_agency_id_agencies')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_sla_alerts_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_alerts')),
    sa.UniqueConstraint('subject_id', 'kind', 'due_at', name=op.f('uq_sla_alerts_subject_id_kind_due_at'))
    )
    op.create_index('ix_sla_alerts_raised_at', 'sla_alerts', ['raised_at'], unique=False)
    op.create_table('child_interviews',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('scheduled_for', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('guardian_advocate_id', sa.String(length=64), nullable=False),
    sa.Column('parent_attending', sa.Boolean(), nullable=False),
    sa.Column('parent_safety_ref', sa.String(length=120), nullable=True),
    sa.Column('interpreter', sa.String(length=20), nullable=False),
    sa.Column('scheduled_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_child_interviews_agency_id_agencies')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_child_interviews_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_child_interviews'))
    )
    op.create_index('ix_child_interviews_subject_scheduled', 'child_interviews', ['subject_id', 'scheduled_for'],
                    unique=False)
    op.create_table('exception_policy_explanations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('given_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('given_by', sa.String(length=120), nullable=False),
    sa.Column('policy_version', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=False),
    sa.Column('recorded_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'],
                            name=op.f('fk_exception_policy_explanations_agency_id_agencies')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'],
                            name=op.f('fk_exception_policy_explanations_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exception_policy_explanations'))
    )
    op.create_index('ix_exception_policy_explanations_subject_agency', 'exception_policy_explanations',
                    ['subject_id', 'agency_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_exception_policy_explanations_subject_agency', table_name='exception_policy_explanations')
    op.drop_table('exception_policy_explanations')
    op.drop_index('ix_child_interviews_subject_scheduled', table_name='child_interviews')
    op.drop_table('child_interviews')
    op.drop_index('ix_sla_alerts_raised_at', table_name='sla_alerts')
    op.drop_table('sla_alerts')
    with op.batch_alter_table("subjects") as batch:
        batch.drop_constraint(op.f("fk_subjects_guardian_advocate_agency_id_agencies"), type_="foreignkey")
        batch.drop_column("guardian_advocate_agency_id")
        for name, _kind in reversed(_NRM_COLUMNS):
            batch.drop_column(name)
