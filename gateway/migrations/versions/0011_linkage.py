"""record linkage: epochs of the shared secret, linkage keys, queries and matches

Revision ID: 0011
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('linkage_epochs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('check_value', sa.String(length=24), nullable=True),
    sa.Column('started_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', consent.orm.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkage_epochs'))
    )
    op.create_table('linkage_keys',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('epoch_id', sa.String(length=40), nullable=False),
    sa.Column('clk', sa.LargeBinary(), nullable=False),
    sa.Column('enrolled_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_linkage_keys_agency_id_agencies')),
    sa.ForeignKeyConstraint(['epoch_id'], ['linkage_epochs.id'], name=op.f('fk_linkage_keys_epoch_id_linkage_epochs')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_linkage_keys_subject_id_subjects')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_linkage_keys')),
    sa.UniqueConstraint('agency_id', 'subject_id', name=op.f('uq_linkage_keys_agency_id_subject_id')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_linkage_keys_epoch_seq', 'linkage_keys', ['epoch_id', 'seq'], unique=False)
    op.create_table('linkage_queries',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('matches', sa.Integer(), nullable=False),
    sa.Column('key_age_s', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_linkage_queries_agency_id_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkage_queries'))
    )
    op.create_index('ix_linkage_queries_agency_at', 'linkage_queries', ['agency_id', 'at'], unique=False)
    op.create_index('ix_linkage_queries_at', 'linkage_queries', ['at'], unique=False)
    op.create_table('linkage_matches',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('query_id', sa.String(length=64), nullable=False),
    sa.Column('asking_agency_id', sa.String(length=64), nullable=False),
    sa.Column('asking_subject_id', sa.String(length=64), nullable=False),
    sa.Column('holding_agency_id', sa.String(length=64), nullable=False),
    sa.Column('holding_subject_id', sa.String(length=64), nullable=False),
    sa.Column('strength', sa.Float(), nullable=False),
    sa.Column('created_at', consent.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asking_agency_id'], ['agencies.id'],
                            name=op.f('fk_linkage_matches_asking_agency_id_agencies')),
    sa.ForeignKeyConstraint(['holding_agency_id'], ['agencies.id'],
                            name=op.f('fk_linkage_matches_holding_agency_id_agencies')),
    sa.ForeignKeyConstraint(['query_id'], ['linkage_queries.id'],
                            name=op.f('fk_linkage_matches_query_id_linkage_queries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkage_matches'))
    )
    op.create_index('ix_linkage_matches_asking', 'linkage_matches', ['asking_agency_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_linkage_matches_asking', table_name='linkage_matches')
    op.drop_table('linkage_matches')
    op.drop_index('ix_linkage_queries_at', table_name='linkage_queries')
    op.drop_index('ix_linkage_queries_agency_at', table_name='linkage_queries')
    op.drop_table('linkage_queries')
    op.drop_index('ix_linkage_keys_epoch_seq', table_name='linkage_keys')
    op.drop_table('linkage_keys')
    op.drop_table('linkage_epochs')
