"""the person's safety: quasi-identifiers minimised, unkeyed preview hashes redacted from the audit log

- ``subjects.date_of_birth`` becomes ``adult_on`` (the first day the person is 18: all CH1 reads of
  it), and the change log's date-of-birth rows become ``adult_on`` rows; the birth dates are gone.
- ``subjects.placement_agency_id`` becomes ``placement_ref``, a keyed reference (consent.placement,
  under a key derived from the gateway's signing seed, read from ``GATEWAY_DATA_DIR`` like ``serve``
  does: needed only when a placement is recorded), in the change log too.
- ``subjects.preferred_language`` and the mandated-reporter notices' language keep only the language
  and script subtags (what CR9 and the portal compare); regions and variants are gone, in the change
  log too.
- ``audit_redactions`` (append-only like the audit tables), and every audit entry still holding an
  unkeyed preview hash is redacted (gateway.audit.redaction): the tree and checkpoints still verify.

Revision ID: 0017
Revises: 0016
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

import consent.orm
from consent.age import coming_of_age
from consent.clock import SystemClock
from consent.placement import PLACEMENT_KEY_LABEL, placement_ref
from consent.subjects import coarse_language
from crypto.at_rest import derive_key
from crypto.canonical import canonical_json
from crypto.keys import load_signing_seed
from gateway.audit import redaction
from gateway.audit import guard
from gateway.audit.log import Actor

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_REDACTIONS = guard.REDACTION_TABLE


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _code(value: Any) -> str:
    return canonical_json(value).decode()  # the change log's value code (consent.subjects), RFC 8785


_KEY: list[bytes] = []


def _placement_key() -> bytes:
    """The key ``serve`` derives for placement references (loaded once, only when a placement exists)."""
    if not _KEY:
        from gateway.settings import Settings

        path = Settings().signing_key_path
        if not path.exists():
            raise RuntimeError(f"migration 0017 turns recorded placements into keyed references and needs the "
                               f"gateway's signing key at {path} (set GATEWAY_DATA_DIR as for `gateway serve`)")
        _KEY.append(derive_key(load_signing_seed(path), PLACEMENT_KEY_LABEL))
    return _KEY[0]


def _convert_change(attribute: str, code: str | None, subject_id: str) -> str | None:
    """A change-log value code (canonical JSON) of ``attribute``, as it is stored from now on."""
    if code is None:
        return None
    value = json.loads(code)
    if value is None:
        return code
    if attribute == "date_of_birth":
        return _code(coming_of_age(date.fromisoformat(value)).isoformat())
    if attribute == "placement_agency_id":
        return _code(placement_ref(_placement_key(), subject_id, value))
    return _code(coarse_language(value))


_RENAMED = {"date_of_birth": "adult_on", "placement_agency_id": "placement_ref"}


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("adult_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("placement_ref", sa.String(length=44), nullable=True))
    subjects = sa.table("subjects", sa.column("id", sa.String), sa.column("date_of_birth", sa.Date),
                        sa.column("adult_on", sa.Date), sa.column("preferred_language", sa.String),
                        sa.column("placement_agency_id", sa.String), sa.column("placement_ref", sa.String))
    for subject_id, born, language, placement in bind.execute(
            sa.select(subjects.c.id, subjects.c.date_of_birth, subjects.c.preferred_language,
                      subjects.c.placement_agency_id)).all():
        birth = _as_date(born)
        bind.execute(subjects.update().where(subjects.c.id == subject_id).values(
            adult_on=None if birth is None else coming_of_age(birth),
            preferred_language=None if language is None else coarse_language(language),
            placement_ref=None if placement is None else placement_ref(_placement_key(), subject_id, placement)))
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("date_of_birth")
        batch.drop_constraint("fk_subjects_placement_agency_id_agencies", type_="foreignkey")
        batch.drop_column("placement_agency_id")

    changes = sa.table("subject_attribute_changes", sa.column("id", sa.String), sa.column("subject_id", sa.String),
                       sa.column("attribute", sa.String), sa.column("old_value", sa.Text),
                       sa.column("new_value", sa.Text))
    for change_id, subject_id, attribute, old, new in bind.execute(
            sa.select(changes.c.id, changes.c.subject_id, changes.c.attribute, changes.c.old_value,
                      changes.c.new_value)
            .where(changes.c.attribute.in_(("date_of_birth", "preferred_language", "placement_agency_id")))).all():
        bind.execute(changes.update().where(changes.c.id == change_id).values(
            attribute=_RENAMED.get(attribute, attribute), old_value=_convert_change(attribute, old, subject_id),
            new_value=_convert_change(attribute, new, subject_id)))

    notices = sa.table("mandated_reporter_notices", sa.column("id", sa.String), sa.column("language", sa.String))
    for notice_id, language in bind.execute(sa.select(notices.c.id, notices.c.language)).all():
        bind.execute(notices.update().where(notices.c.id == notice_id).values(language=coarse_language(language)))

    op.create_table(
        _REDACTIONS,
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("recorded_seq", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("redacted_digest", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("redacted_at", consent.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_redactions")),
    )
    op.create_index(op.f("ix_audit_redactions_batch_id"), _REDACTIONS, ["batch_id"])
    guard.install_redaction_guard(bind)

    # The unkeyed preview hashes old submit entries hold (a dictionary confirms a preview with them).
    with Session(bind=bind) as session:
        found = redaction.preview_hash_redactions(session)
        if found:
            redaction.redact_entries(session, found, reason=redaction.PREVIEW_HASH_REASON, actor=Actor.system(),
                                     at=SystemClock().now(), note="migration 0017")
        session.flush()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS {_REDACTIONS}_refuse_{verb}"))
    op.drop_index(op.f("ix_audit_redactions_batch_id"), table_name=_REDACTIONS)
    op.drop_table(_REDACTIONS)
    # The birth dates, regions and redacted hashes are gone for good; the columns come back empty.
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("date_of_birth", sa.Date(), nullable=True))
        batch.add_column(sa.Column("placement_agency_id", sa.String(length=64), nullable=True))
        batch.drop_column("adult_on")
        batch.drop_column("placement_ref")
