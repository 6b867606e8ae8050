"""portal: PINs and lockout on portal_access, portal session state, requests, alerts

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('portal_session_state',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('duress', sa.Boolean(), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('created_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_portal_session_state'))
    )
    op.create_table('portal_alerts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('owner_agency_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('raised_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_agency_id'], ['agencies.id'],
                            name=op.f('fk_portal_alerts_owner_agency_id_agencies')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_portal_alerts_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_alerts'))
    )
    op.create_index('ix_portal_alerts_owner_raised', 'portal_alerts', ['owner_agency_id', 'raised_at'], unique=False)
    op.create_table('portal_requests',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('about_agency_id', sa.String(length=64), nullable=True),
    sa.Column('topic', sa.String(length=8), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('routed_to', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('created_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['about_agency_id'], ['agencies.id'],
                            name=op.f('fk_portal_requests_about_agency_id_agencies')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_portal_requests_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_requests'))
    )
    op.create_index('ix_portal_requests_status', 'portal_requests', ['status', 'created_at'], unique=False)
    op.create_index('ix_portal_requests_subject_created', 'portal_requests', ['subject_id', 'created_at'],
                    unique=False)
    op.create_table('portal_request_events',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by_role', sa.String(length=30), nullable=False),
    sa.Column('by_user', sa.String(length=120), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['portal_requests.id'],
                            name=op.f('fk_portal_request_events_request_id_portal_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_request_events'))
    )
    op.create_index('ix_portal_request_events_request', 'portal_request_events', ['request_id', 'at'], unique=False)
    with op.batch_alter_table('portal_access', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pin_hash', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('duress_pin_hash', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('pin_set_at', consent.orm.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failed_attempts', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('last_failure_at', consent.orm.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('locked_at', consent.orm.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('portal_access', schema=None) as batch_op:
        batch_op.drop_column('locked_at')
        batch_op.drop_column('last_failure_at')
        batch_op.drop_column('failed_attempts')
        batch_op.drop_column('pin_set_at')
        batch_op.drop_column('duress_pin_hash')
        batch_op.drop_column('pin_hash')
    op.drop_index('ix_portal_request_events_request', table_name='portal_request_events')
    op.drop_table('portal_request_events')
    op.drop_index('ix_portal_requests_subject_created', table_name='portal_requests')
    op.drop_index('ix_portal_requests_status', table_name='portal_requests')
    op.drop_table('portal_requests')
    op.drop_index('ix_portal_alerts_owner_raised', table_name='portal_alerts')
    op.drop_table('portal_alerts')
    op.drop_table('portal_session_state')
