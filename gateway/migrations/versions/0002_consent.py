"""consent records and subjects

Revision ID: 0002
Revises: 0001

Subjects (a pseudonym and the attributes policy needs) with their append-only change log
and mandated-reporter notices; consent records, recipients, endings and receipts (all
append-only); person notices; portal access codes (Argon2id hashes only).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent.orm

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_DT = consent.orm.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner_agency_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("age_band", sa.String(length=8), nullable=True),
        sa.Column("age_disputed", sa.Boolean(), nullable=False),
        sa.Column("age_assessment_outcome", sa.String(length=10), nullable=True),
        sa.Column("age_appeal_status", sa.String(length=10), nullable=False),
        sa.Column("preferred_language", sa.String(length=35), nullable=True),
        sa.Column("asylum_claimed", sa.Boolean(), nullable=False),
        sa.Column("possible_refugee", sa.Boolean(), nullable=False),
        sa.Column("country_of_origin", sa.String(length=2), nullable=True),
        sa.Column("guardian_advocate_id", sa.String(length=64), nullable=True),
        sa.Column("parental_guardian_id", sa.String(length=64), nullable=True),
        sa.Column("guardian_suspected", sa.Boolean(), nullable=False),
        sa.Column("declined_nrm", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.JSON(), nullable=False),
        sa.Column("cj_role", sa.String(length=12), nullable=False),
        sa.Column("open_cases", sa.JSON(), nullable=False),
        sa.Column("placement_agency_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["owner_agency_id"], ["agencies.id"], name=op.f("fk_subjects_owner_agency_id_agencies")),
        sa.ForeignKeyConstraint(["placement_agency_id"], ["agencies.id"],
                                name=op.f("fk_subjects_placement_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
    )
    op.create_index("ix_subjects_owner_agency_id", "subjects", ["owner_agency_id"], unique=False)

    op.create_table(
        "subject_attribute_changes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.String(length=40), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("changed_at", UTC_DT, nullable=False),
        sa.Column("changed_by_agency_id", sa.String(length=64), nullable=True),
        sa.Column("changed_by_user", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_subject_attribute_changes_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_attribute_changes")),
        sa.UniqueConstraint("subject_id", "seq", name=op.f("uq_subject_attribute_changes_subject_id_seq")),
    )

    op.create_table(
        "mandated_reporter_notices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("given_at", UTC_DT, nullable=False),
        sa.Column("given_by", sa.String(length=120), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("recorded_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"],
                                name=op.f("fk_mandated_reporter_notices_agency_id_agencies")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_mandated_reporter_notices_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mandated_reporter_notices")),
    )
    op.create_index("ix_mandated_reporter_notices_subject_agency", "mandated_reporter_notices",
                    ["subject_id", "agency_id", "given_at"], unique=False)

    op.create_table(
        "consent_records",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("lineage_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.String(length=64), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("data_classes", sa.JSON(), nullable=False),
        sa.Column("explained_items", sa.JSON(), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("interpreter_id", sa.String(length=64), nullable=True),
        sa.Column("interpreter_relationship", sa.String(length=20), nullable=True),
        sa.Column("interpreter_vetted", sa.Boolean(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("needs_confirmation", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.String(length=15), nullable=False),
        sa.Column("obtained_by", sa.String(length=120), nullable=False),
        sa.Column("obtained_by_role", sa.String(length=40), nullable=False),
        sa.Column("obtaining_agency_id", sa.String(length=64), nullable=False),
        sa.Column("obtained_at", UTC_DT, nullable=False),
        sa.Column("expires_at", UTC_DT, nullable=False),
        sa.Column("recorded_at", UTC_DT, nullable=False),
        sa.Column("recorded_for_child", sa.Boolean(), nullable=False),
        sa.Column("guardian_id", sa.String(length=64), nullable=True),
        sa.Column("guardian_consent_given_at", UTC_DT, nullable=True),
        sa.Column("child_views_recorded_by", sa.String(length=120), nullable=True),
        sa.Column("child_views_recorded_at", UTC_DT, nullable=True),
        sa.Column("child_views_reference", sa.String(length=120), nullable=True),
        sa.Column("cj_option", sa.String(length=40), nullable=True),
        sa.Column("duty_to_share_acknowledged", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["obtaining_agency_id"], ["agencies.id"],
                                name=op.f("fk_consent_records_obtaining_agency_id_agencies")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name=op.f("fk_consent_records_subject_id_subjects")),
        sa.ForeignKeyConstraint(["supersedes_id"], ["consent_records.id"],
                                name=op.f("fk_consent_records_supersedes_id_consent_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
        sa.UniqueConstraint("lineage_id", "version", name=op.f("uq_consent_records_lineage_id_version")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_consent_records_supersedes_id")),
    )
    op.create_index("ix_consent_records_expires_at", "consent_records", ["expires_at"], unique=False)
    op.create_index("ix_consent_records_subject_purpose", "consent_records",
                    ["subject_id", "purpose", "obtained_at"], unique=False)

    op.create_table(
        "consent_recipients",
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_consent_recipients_agency_id_agencies")),
        sa.ForeignKeyConstraint(["consent_id"], ["consent_records.id"],
                                name=op.f("fk_consent_recipients_consent_id_consent_records")),
        sa.PrimaryKeyConstraint("consent_id", "agency_id", name=op.f("pk_consent_recipients")),
    )
    # The in-force lookup (subject, purpose, recipient): a covering index range scan.
    op.create_index("ix_consent_recipients_lookup", "consent_recipients",
                    ["subject_id", "purpose", "agency_id", "consent_id"], unique=False)

    op.create_table(
        "consent_endings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("at", UTC_DT, nullable=False),
        sa.Column("by_kind", sa.String(length=10), nullable=False),
        sa.Column("by_agency_id", sa.String(length=64), nullable=True),
        sa.Column("by_user", sa.String(length=120), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.Column("superseded_by_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["consent_id"], ["consent_records.id"],
                                name=op.f("fk_consent_endings_consent_id_consent_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_endings")),
        sa.UniqueConstraint("consent_id", name=op.f("uq_consent_endings_consent_id")),
    )

    op.create_table(
        "consent_receipts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("issued_at", UTC_DT, nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["consent_id"], ["consent_records.id"],
                                name=op.f("fk_consent_receipts_consent_id_consent_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_receipts")),
    )
    op.create_index("ix_consent_receipts_consent_id", "consent_receipts", ["consent_id"], unique=False)

    op.create_table(
        "person_notices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("defer_until", UTC_DT, nullable=True),
        sa.Column("defer_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name=op.f("fk_person_notices_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_notices")),
    )
    op.create_index("ix_person_notices_subject_created", "person_notices", ["subject_id", "created_at"], unique=False)

    op.create_table(
        "portal_access",
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("locator", sa.String(length=4), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("rotated_at", UTC_DT, nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name=op.f("fk_portal_access_subject_id_subjects")),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_portal_access")),
        sa.UniqueConstraint("locator", name=op.f("uq_portal_access_locator")),
    )


def downgrade() -> None:
    op.drop_table("portal_access")
    op.drop_index("ix_person_notices_subject_created", table_name="person_notices")
    op.drop_table("person_notices")
    op.drop_index("ix_consent_receipts_consent_id", table_name="consent_receipts")
    op.drop_table("consent_receipts")
    op.drop_table("consent_endings")
    op.drop_index("ix_consent_recipients_lookup", table_name="consent_recipients")
    op.drop_table("consent_recipients")
    op.drop_index("ix_consent_records_subject_purpose", table_name="consent_records")
    op.drop_index("ix_consent_records_expires_at", table_name="consent_records")
    op.drop_table("consent_records")
    op.drop_index("ix_mandated_reporter_notices_subject_agency", table_name="mandated_reporter_notices")
    op.drop_table("mandated_reporter_notices")
    op.drop_table("subject_attribute_changes")
    op.drop_index("ix_subjects_owner_agency_id", table_name="subjects")
    op.drop_table("subjects")
