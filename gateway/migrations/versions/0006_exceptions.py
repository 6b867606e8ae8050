"""exceptions: exception grants (four eyes, single use), agency notices, best-interests decisions

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exception_grants',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('basis', sa.String(length=8), nullable=False),
    sa.Column('scenario', sa.String(length=80), nullable=False),
    sa.Column('justification_code', sa.String(length=80), nullable=False),
    sa.Column('justification_ref', sa.String(length=120), nullable=False),
    sa.Column('recipient_agency_id', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('classes', sa.JSON(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_by', sa.String(length=120), nullable=False),
    sa.Column('requested_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=120), nullable=True),
    sa.Column('approved_at', consent.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', consent.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('used_envelope_id', sa.String(length=64), nullable=True),
    sa.Column('best_interests_ref', sa.String(length=120), nullable=True),
    sa.Column('defer_until', consent.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('defer_reason', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_exception_grants_agency_id_agencies')),
    sa.ForeignKeyConstraint(['recipient_agency_id'], ['agencies.id'],
                            name=op.f('fk_exception_grants_recipient_agency_id_agencies')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_exception_grants_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exception_grants'))
    )
    op.create_index('ix_exception_grants_agency_requested', 'exception_grants', ['agency_id', 'requested_at'],
                    unique=False)
    op.create_table('agency_notices',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_agency_notices_agency_id_agencies')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_agency_notices_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_notices'))
    )
    op.create_index('ix_agency_notices_agency_created', 'agency_notices', ['agency_id', 'created_at'], unique=False)
    op.create_table('best_interests_decisions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=120), nullable=False),
    sa.Column('decision_code', sa.String(length=40), nullable=False),
    sa.Column('recorded_by', sa.String(length=120), nullable=False),
    sa.Column('recorded_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'],
                            name=op.f('fk_best_interests_decisions_agency_id_agencies')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'],
                            name=op.f('fk_best_interests_decisions_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_best_interests_decisions'))
    )
    op.create_index('ix_best_interests_subject_recorded', 'best_interests_decisions', ['subject_id', 'recorded_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_best_interests_subject_recorded', table_name='best_interests_decisions')
    op.drop_table('best_interests_decisions')
    op.drop_index('ix_agency_notices_agency_created', table_name='agency_notices')
    op.drop_table('agency_notices')
    op.drop_index('ix_exception_grants_agency_requested', table_name='exception_grants')
    op.drop_table('exception_grants')
