"""Incremental verification from a verified checkpoint, on SQLite and PostgreSQL, attacked via direct SQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from consent.clock import FixedClock
from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.keys import generate_signing_seed, save_signing_seed, signing_public_key
from gateway.audit import checkpoints
from gateway.audit.incremental import last_verified_checkpoint, verify_since
from gateway.audit.verify import VerificationReport, record_verification, verify_database
from gateway.cli import app as cli_app
from gateway.context import GatewayContext
from tests.audit.conftest import WriteEntries
from tests.support.tamper import tampering


def _checkpoint(ctx: GatewayContext) -> Checkpoint:
    with ctx.sessions() as session, session.begin():
        return checkpoints.create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer,
                                             at=ctx.clock.now())


def _since(ctx: GatewayContext, start: Checkpoint, **kwargs) -> VerificationReport:  # type: ignore[no-untyped-def]
    with ctx.sessions() as session:
        return verify_since(session, signing_public_key(ctx.signing_seed), start, **kwargs)


def _full(ctx: GatewayContext) -> VerificationReport:
    with ctx.sessions() as session:
        return verify_database(session, signing_public_key(ctx.signing_seed))


def _sql(ctx: GatewayContext, *statements: str) -> None:
    with tampering(ctx.engine) as conn:
        for statement in statements:
            conn.execute(text(statement))


def _kinds(report: VerificationReport) -> set[str]:
    return {p.kind for p in report.problems}


@pytest.fixture
def day(ctx: GatewayContext, write_entries: WriteEntries, clock: FixedClock) -> tuple[Checkpoint, Checkpoint]:
    """13 entries and a checkpoint (yesterday, verified), then 14 more with checkpoints at 20 and 27 (today)."""
    write_entries(13, one_transaction=True)
    start = _checkpoint(ctx)
    clock.advance(timedelta(hours=1))
    write_entries(7, start=13, one_transaction=True)
    _checkpoint(ctx)
    clock.advance(timedelta(hours=1))
    write_entries(7, start=20, one_transaction=True)
    end = _checkpoint(ctx)
    return start, end


@pytest.mark.rule("A6")
class TestIncremental:
    def test_a_sound_day_verifies_reading_only_that_day(self, ctx: GatewayContext,
                                                         day: tuple[Checkpoint, Checkpoint]) -> None:
        start, end = day
        report = _since(ctx, start, origin=ctx.settings.issuer)
        assert report.ok, report.problems
        # Work counted, not timed: only the 14 entries after the start are read and hashed.
        assert (report.entries_checked, report.tree_size, report.checkpoints_checked) == (14, 27, 3)
        assert report.root_hash == end.root_hash == _full(ctx).root_hash

    def test_every_start_size_gives_the_full_root(self, ctx: GatewayContext, write_entries: WriteEntries) -> None:
        heads = []
        for i in range(19):
            write_entries(1, start=i)
            heads.append(_checkpoint(ctx))
        for head in heads:
            report = _since(ctx, head)
            assert report.ok, (head.tree_size, report.problems)
            assert report.entries_checked == 19 - head.tree_size
            assert report.root_hash == heads[-1].root_hash

    def test_a_tampered_entry_in_the_day_is_named(self, ctx: GatewayContext,
                                                  day: tuple[Checkpoint, Checkpoint]) -> None:
        _sql(ctx, "UPDATE audit_entries SET purpose = 'referrak' WHERE seq = 17")
        report = _since(ctx, day[0])
        assert not report.ok
        assert report.first_bad_seq == 17
        assert "entry_altered" in _kinds(report) and "checkpoint_root" in _kinds(report)
        assert "node_mismatch" not in _kinds(report)  # explained by the altered entry

    def test_an_entry_rewritten_with_its_hash_is_caught_by_the_tree(self, ctx: GatewayContext,
                                                                    day: tuple[Checkpoint, Checkpoint]) -> None:
        from gateway.audit.log import compute_leaf_hash
        from gateway.audit.models import AuditEntry

        with ctx.sessions() as session:
            entry = session.get(AuditEntry, 15)
            assert entry is not None
            entry.purpose = "criminal_justice" if entry.purpose != "criminal_justice" else "referral"
            forged = compute_leaf_hash(entry)
            purpose = entry.purpose
            session.rollback()
        _sql(ctx, f"UPDATE audit_entries SET purpose = '{purpose}', leaf_hash = '{forged}' WHERE seq = 15")
        report = _since(ctx, day[0])
        assert not report.ok
        assert "node_mismatch" in _kinds(report)
        assert any(p.seq is not None and p.seq <= 15 <= (p.last_seq or p.seq) for p in report.problems)

    def test_a_deleted_entry_in_the_day_is_named(self, ctx: GatewayContext,
                                                 day: tuple[Checkpoint, Checkpoint]) -> None:
        _sql(ctx, "DELETE FROM audit_entries WHERE seq = 22")
        report = _since(ctx, day[0])
        assert "entry_missing" in _kinds(report)
        assert report.first_bad_seq == 22

    def test_a_cut_tail_is_named(self, ctx: GatewayContext, day: tuple[Checkpoint, Checkpoint]) -> None:
        _sql(ctx, "DELETE FROM audit_entries WHERE seq >= 24")
        report = _since(ctx, day[0])
        assert "truncated" in _kinds(report)

    def test_a_checkpoint_that_does_not_match_the_stored_tree_is_refused(
        self, ctx: GatewayContext, day: tuple[Checkpoint, Checkpoint]
    ) -> None:
        start = day[0]
        # Signed by the gateway key, but over another root: a checkpoint of another log.
        other = sign_checkpoint(ctx.signing_seed, origin=start.origin, tree_size=start.tree_size,
                                root=bytes(32), at=ctx.clock.now())
        report = _since(ctx, other)
        assert _kinds(report) == {"start_mismatch"} and report.entries_checked == 0

    def test_a_rewritten_history_before_the_start_is_refused(self, ctx: GatewayContext,
                                                             day: tuple[Checkpoint, Checkpoint]) -> None:
        # The frontier of 13 entries is the nodes over 0..7, 8..11 and leaf 12; rewrite one of them.
        _sql(ctx, "UPDATE audit_entries SET leaf_hash = '" + "0" * 64 + "' WHERE seq = 12")
        report = _since(ctx, day[0])
        assert _kinds(report) == {"start_mismatch"} and report.entries_checked == 0

    def test_a_start_signed_by_another_key_or_beyond_the_log_is_refused(
        self, ctx: GatewayContext, day: tuple[Checkpoint, Checkpoint]
    ) -> None:
        start = day[0]
        forged = sign_checkpoint(generate_signing_seed(), origin=start.origin, tree_size=start.tree_size,
                                 root=start.root, at=ctx.clock.now())
        assert _kinds(_since(ctx, forged)) == {"start_signature"}
        assert _kinds(_since(ctx, start, origin="https://elsewhere")) == {"start_origin"}
        _sql(ctx, "DELETE FROM audit_entries WHERE seq >= 10")
        assert _kinds(_since(ctx, start)) == {"truncated"}

    def test_the_last_verified_checkpoint_is_the_newest_within_the_last_good_verification(
        self, ctx: GatewayContext, day: tuple[Checkpoint, Checkpoint]
    ) -> None:
        with ctx.sessions() as session:
            assert last_verified_checkpoint(session) is None
        report = _full(ctx)
        with ctx.sessions() as session, session.begin():
            record_verification(session, report, started=ctx.clock.now(), finished=ctx.clock.now(), source="test")
        with ctx.sessions() as session:
            found = last_verified_checkpoint(session)
        assert found is not None and found.tree_size == 27 and found.root_hash == day[1].root_hash


@pytest.fixture
def cli_env(ctx: GatewayContext, db_url: str, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "keys").mkdir(exist_ok=True)
    save_signing_seed(tmp_path / "keys" / "gateway-signing.json", ctx.signing_seed)
    return {"GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(tmp_path), "COLUMNS": "250"}


class TestCli:
    def test_incremental_from_the_last_verification_and_from_a_kept_checkpoint(
        self, ctx: GatewayContext, day: tuple[Checkpoint, Checkpoint], write_entries: WriteEntries,
        cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        runner = CliRunner()
        refused = runner.invoke(cli_app, ["audit", "verify", "--incremental"], env=cli_env)
        assert refused.exit_code == 2 and "run a full verification first" in refused.output
        assert runner.invoke(cli_app, ["audit", "verify"], env=cli_env).exit_code == 0
        write_entries(5, start=27, one_transaction=True)
        _checkpoint(ctx)
        ok = runner.invoke(cli_app, ["audit", "verify", "--incremental", "--json"], env=cli_env)
        assert ok.exit_code == 0, ok.output
        figures = json.loads(ok.output)
        assert (figures["since_tree_size"], figures["entries_checked"], figures["tree_size"]) == (27, 5, 32)
        # The incremental run was recorded: the next one starts at 32 and reads nothing.
        again = runner.invoke(cli_app, ["audit", "verify", "--incremental", "--json"], env=cli_env)
        assert json.loads(again.output)["entries_checked"] == 0

        kept = tmp_path / "kept.json"
        kept.write_text(json.dumps(day[0].to_json()))
        _sql(ctx, "UPDATE audit_entries SET subject_id = 'subj-9' WHERE seq = 14")
        bad = runner.invoke(cli_app, ["audit", "verify", "--since-checkpoint", str(kept)], env=cli_env)
        assert bad.exit_code == 1
        assert "seq 14: entry_altered" in bad.output

        other = sign_checkpoint(ctx.signing_seed, origin=day[0].origin, tree_size=day[0].tree_size,
                                root=bytes(32), at=ctx.clock.now())
        kept.write_text(json.dumps(other.to_json()))
        mismatch = runner.invoke(cli_app, ["audit", "verify", "--since-checkpoint", str(kept)], env=cli_env)
        assert mismatch.exit_code == 1
        assert "start_mismatch" in mismatch.output
