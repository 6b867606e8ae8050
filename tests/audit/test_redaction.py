"""Issue 17: old audit entries lose their unkeyed preview hashes, and the log still verifies.

Before the keyed commitment, an ``exchange:submit`` entry held ``preview_hash`` = SHA-256 of the
canonical language and values the person approved: a dictionary search over names, languages and
risk levels confirmed a preview. ``gateway audit redact-preview-hashes`` (and migration 0017)
replaces them (gateway.audit.redaction); these tests write such entries as the old code did, run
the redaction, and show that

- the hashes are gone from every column, and neither they nor the kept leaf hash confirm a guess
  (the entry id, the leaf's only secret, was replaced too);
- ``gateway audit verify`` still passes, over checkpoints signed before the redaction;
- tampering with a redacted entry, its redaction record or the batch's audit entry is reported;
- the gateway's own role cannot redact (PostgreSQL), and the redaction is itself audited.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from consent.clock import FixedClock
from crypto.canonical import canonical_json
from crypto.keys import save_signing_seed, signing_public_key
from gateway.audit import checkpoints, redaction
from gateway.audit.leaves import ENTRY_COLUMNS, slow_leaf_hash
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.audit.verify import VerificationReport, verify_database
from gateway.cli import app as cli_app
from gateway.context import GatewayContext
from tests.audit.conftest import WriteEntries
from tests.support.tamper import tampering

NAMES = ["Amina", "Blessing", "Joy", "Mariam", "Olga"]
LANGUAGES = ["en", "ha", "ru", "ro", "ar"]
RISK_LEVELS = ["low", "medium", "high"]
APPROVED = [("Blessing", "ha", "high"), ("Olga", "ru", "medium")]


def _old_preview_hash(name: str, language: str, level: str) -> str:
    """What the SDK sent before issue 17: SHA-256 of the canonical language and fields, unkeyed."""
    fields = {"subject.preferred_name": name, "risk.level": level}
    return hashlib.sha256(canonical_json({"language": language, "fields": fields})).hexdigest()


def _verify(ctx: GatewayContext) -> VerificationReport:
    with ctx.sessions() as session:
        return verify_database(session, signing_public_key(ctx.signing_seed))


def _checkpoint(ctx: GatewayContext) -> None:
    with ctx.sessions() as session, session.begin():
        checkpoints.create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer, at=ctx.clock.now())


@pytest.fixture
def old_log(ctx: GatewayContext, write_entries: WriteEntries, clock: FixedClock) -> list[int]:
    """Ordinary entries around two old-style submit entries holding unkeyed preview hashes, checkpointed."""
    write_entries(5)
    seqs: list[int] = []
    actor = Actor(agency_id="ngo", role="ngo", user="caseworker-1")
    for i, (name, language, level) in enumerate(APPROVED):
        with ctx.sessions() as session, session.begin():
            seqs.append(record(session, AuditEvent(
                AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id=f"subj-old-{i}", purpose="shelter",
                recipient_agency_id="shelter", classes_requested=("D1", "D5"), classes_released=("D1", "D5"),
                details={"envelope_id": f"env-old-{i}", "plan_id": f"pln-old-{i}", "language": language,
                         "preview_hash": _old_preview_hash(name, language, level)},
            ), actor=actor, at=ctx.clock.now() + timedelta(seconds=i)).seq)
        write_entries(3, start=10 + 3 * i)
    _checkpoint(ctx)
    clock.advance(timedelta(minutes=1))
    write_entries(2, start=30)
    _checkpoint(ctx)
    return seqs


def _dump(ctx: GatewayContext) -> str:
    with ctx.sessions() as session:
        rows = session.execute(select(*ENTRY_COLUMNS)).all()
        redactions = session.execute(text("SELECT * FROM audit_redactions")).all()
    return json.dumps([[str(v) for v in row] for row in [*rows, *redactions]])


def _confirms_a_guess(ctx: GatewayContext) -> list[tuple[str, str, str]]:
    """The attack: every guess's unkeyed hash searched for, and rebuilt into each entry's leaf."""
    dump = _dump(ctx)
    with ctx.sessions() as session:
        rows = [tuple(r) for r in session.execute(select(*ENTRY_COLUMNS)
                                                  .where(AuditEntry.action == str(AuditTag.EXCHANGE_SUBMIT)))]
    found = []
    for name, language, level in itertools.product(NAMES, LANGUAGES, RISK_LEVELS):
        guess = _old_preview_hash(name, language, level)
        if guess in dump:
            found.append((name, language, level))
            continue
        for row in rows:  # rebuild the original document around the guess and compare leaves
            details = json.loads(row[17])
            rebuilt = list(row)
            rebuilt[17] = json.dumps({**details, "preview_hash": guess, "language": language}, sort_keys=True,
                                     separators=(",", ":"))
            if slow_leaf_hash(tuple(rebuilt)).hex() == row[18]:
                found.append((name, language, level))
    return found


def _redact(ctx: GatewayContext) -> redaction.RedactionBatch:
    with ctx.sessions() as session, session.begin():
        found = redaction.preview_hash_redactions(session)
        batch = redaction.redact_entries(session, found, reason=redaction.PREVIEW_HASH_REASON,
                                         actor=Actor.system(), at=ctx.clock.now())
    assert batch is not None
    return batch


@pytest.mark.rule("A6")
def test_the_redaction_removes_what_a_dictionary_confirmed_and_the_log_still_verifies(
    ctx: GatewayContext, old_log: list[int]
) -> None:
    assert _verify(ctx).ok
    assert sorted(_confirms_a_guess(ctx)) == sorted(APPROVED), "the attack works on the old entries"
    batch = _redact(ctx)
    assert batch.seqs == tuple(old_log)
    assert _confirms_a_guess(ctx) == [], "no hash left, and the kept leaves confirm no guess"
    report = _verify(ctx)
    assert report.ok, [p.as_dict() for p in report.problems]
    assert report.redacted_entries == len(APPROVED) and report.checkpoints_checked == 2
    with ctx.sessions() as session:
        entries = {e.seq: e for e in session.scalars(select(AuditEntry))}
    for seq in old_log:
        assert entries[seq].details["preview_hash"] == redaction.REDACTED
        assert entries[seq].details["language"] == redaction.REDACTED
        assert entries[seq].details["envelope_id"].startswith("env-old-"), "the rest stays"
        assert entries[seq].entry_id.startswith("redacted-")
    recorded = entries[batch.recorded_seq]
    assert recorded.action == AuditTag.AUDIT_REDACT and recorded.details["count"] == len(APPROVED)
    assert batch.recorded_seq > max(old_log)
    with ctx.sessions() as session:
        assert redaction.preview_hash_redactions(session) == [], "nothing left to redact"


@pytest.mark.parametrize("tamper", ["redacted_entry", "record", "batch_entry", "record_deleted"])
def test_tampering_with_a_redaction_is_reported(ctx: GatewayContext, old_log: list[int], tamper: str) -> None:
    batch = _redact(ctx)
    seq = old_log[0]
    statement = {
        "redacted_entry": f"UPDATE audit_entries SET purpose = 'police' WHERE seq = {seq}",
        "record": f"UPDATE audit_redactions SET redacted_digest = '{'0' * 64}' WHERE seq = {seq}",
        "batch_entry": f"UPDATE audit_entries SET details = '{{}}' WHERE seq = {batch.recorded_seq}",
        "record_deleted": f"DELETE FROM audit_redactions WHERE seq = {seq}",
    }[tamper]
    with tampering(ctx.engine) as conn:
        conn.execute(text(statement))
    report = _verify(ctx)
    assert not report.ok
    assert report.first_bad_seq in (seq, batch.recorded_seq)


def test_an_altered_entry_is_never_redacted(ctx: GatewayContext, old_log: list[int]) -> None:
    with tampering(ctx.engine) as conn:
        conn.execute(text(f"UPDATE audit_entries SET purpose = 'police' WHERE seq = {old_log[1]}"))
    with pytest.raises(redaction.RedactionRefused), ctx.sessions() as session, session.begin():
        redaction.redact_entries(session, redaction.preview_hash_redactions(session),
                                 reason=redaction.PREVIEW_HASH_REASON, actor=Actor.system(), at=ctx.clock.now())
    with ctx.sessions() as session:
        assert session.execute(text("SELECT count(*) FROM audit_redactions")).scalar() == 0


def test_the_append_only_guards_stand_after_a_redaction(ctx: GatewayContext, old_log: list[int]) -> None:
    _redact(ctx)
    for statement in ("UPDATE audit_entries SET purpose = 'x'", "DELETE FROM audit_redactions",
                      "UPDATE audit_redactions SET reason = 'x'"):
        with pytest.raises(DBAPIError), ctx.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL ROLE gateway_app"))
            conn.execute(text(statement))


def test_the_gateway_role_cannot_redact(ctx: GatewayContext, old_log: list[int]) -> None:
    """PostgreSQL: the gateway's role may not UPDATE the log. SQLite has no roles (whoever holds the file
    may do anything, and the witnesses see a rewrite): there the guard refuses the plain UPDATE the
    redaction would be without lifting it."""
    with pytest.raises(DBAPIError), ctx.sessions() as session, session.begin():
        if ctx.engine.dialect.name == "postgresql":
            session.execute(text("SET LOCAL ROLE gateway_app"))
            redaction.redact_entries(session, redaction.preview_hash_redactions(session),
                                     reason=redaction.PREVIEW_HASH_REASON, actor=Actor.system(),
                                     at=ctx.clock.now())
        else:
            session.execute(text(f"UPDATE audit_entries SET details = '{{}}' WHERE seq = {old_log[0]}"))
    assert sorted(_confirms_a_guess(ctx)) == sorted(APPROVED), "nothing changed"


def test_the_cli_redacts_and_audit_verify_passes(ctx: GatewayContext, old_log: list[int], db_url: str,
                                                 tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(exist_ok=True)
    save_signing_seed(tmp_path / "keys" / "gateway-signing.json", ctx.signing_seed)
    env = {"GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(tmp_path), "COLUMNS": "250"}
    runner = CliRunner()
    dry = runner.invoke(cli_app, ["audit", "redact-preview-hashes", "--dry-run"], env=env)
    assert dry.exit_code == 0 and "2 entries hold" in dry.output, dry.output
    done = runner.invoke(cli_app, ["audit", "redact-preview-hashes"], env=env)
    assert done.exit_code == 0 and "redacted 2 entries" in done.output, done.output
    verified = runner.invoke(cli_app, ["audit", "verify", "--no-record"], env=env)
    assert verified.exit_code == 0, verified.output
    assert _confirms_a_guess(ctx) == []
    again = runner.invoke(cli_app, ["audit", "redact-preview-hashes"], env=env)
    assert again.exit_code == 0 and "0 entries hold" in again.output


@pytest.mark.parametrize("tamper", [None, "redacted_entry", "record_deleted"])
def test_incremental_verification_accepts_a_proven_redaction_and_nothing_else(
    ctx: GatewayContext, write_entries: WriteEntries, clock: FixedClock, tamper: str | None,
) -> None:
    """A day verified from a checkpoint taken before old entries were redacted: the kept leaves
    stand only while their redaction record vouches for the entries as they now are."""
    from gateway.audit.incremental import verify_since

    write_entries(3)
    with ctx.sessions() as session, session.begin():
        start = checkpoints.create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer,
                                              at=ctx.clock.now())
    actor = Actor(agency_id="ngo", role="ngo", user="caseworker-1")
    seqs = []
    for i, (name, language, level) in enumerate(APPROVED):
        with ctx.sessions() as session, session.begin():
            seqs.append(record(session, AuditEvent(
                AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id=f"subj-day-{i}", purpose="shelter",
                recipient_agency_id="shelter", classes_requested=("D1",), classes_released=("D1",),
                details={"envelope_id": f"env-day-{i}", "language": language,
                         "preview_hash": _old_preview_hash(name, language, level)},
            ), actor=actor, at=ctx.clock.now()).seq)
    clock.advance(timedelta(minutes=1))
    _checkpoint(ctx)
    _redact(ctx)
    if tamper == "redacted_entry":
        with tampering(ctx.engine) as conn:
            conn.execute(text(f"UPDATE audit_entries SET purpose = 'police' WHERE seq = {seqs[0]}"))
    elif tamper == "record_deleted":
        with tampering(ctx.engine) as conn:
            conn.execute(text(f"DELETE FROM audit_redactions WHERE seq = {seqs[0]}"))
    with ctx.sessions() as session:
        report = verify_since(session, signing_public_key(ctx.signing_seed), start)
    if tamper is None:
        assert report.ok, [p.as_dict() for p in report.problems]
        assert report.redacted_entries == len(APPROVED)
    else:
        assert not report.ok and report.first_bad_seq == seqs[0]
