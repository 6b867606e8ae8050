"""``gateway audit verify`` finds every kind of tampering, on SQLite and PostgreSQL, via direct SQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from consent.clock import FixedClock
from crypto.canonical import canonical_json
from crypto.keys import generate_signing_seed, save_signing_seed, signing_public_key
from gateway.audit import checkpoints
from gateway.audit.leaves import fast_leaf_hash, leaf_matches, slow_leaf_hash
from gateway.audit.log import entry_document
from gateway.audit.models import AuditEntry
from gateway.audit.verify import VerificationReport, verify_database
from gateway.cli import app as cli_app
from gateway.context import GatewayContext
from gateway.models import metadata
from tests.audit.conftest import WriteEntries
from tests.support.tamper import tampering, unguarded

SIZE = 23


def _checkpoint(ctx: GatewayContext, seed: bytes | None = None) -> None:
    with ctx.sessions() as session, session.begin():
        checkpoints.create_checkpoint(session, seed or ctx.signing_seed, origin=ctx.settings.issuer,
                                      at=ctx.clock.now())


@pytest.fixture
def log(ctx: GatewayContext, write_entries: WriteEntries, clock: FixedClock) -> GatewayContext:
    """23 entries with checkpoints at sizes 8, 16 and 23."""
    write_entries(8)
    _checkpoint(ctx)
    clock.advance(timedelta(minutes=5))
    write_entries(8, start=8)
    _checkpoint(ctx)
    clock.advance(timedelta(minutes=5))
    write_entries(SIZE - 16, start=16)
    _checkpoint(ctx)
    return ctx


def _verify(ctx: GatewayContext, **kwargs) -> VerificationReport:  # type: ignore[no-untyped-def]
    with ctx.sessions() as session:
        return verify_database(session, signing_public_key(ctx.signing_seed), **kwargs)


def _sql(ctx: GatewayContext, *statements: str) -> None:
    with tampering(ctx.engine) as conn:
        for statement in statements:
            conn.execute(text(statement))


def _kinds(report: VerificationReport) -> set[str]:
    return {p.kind for p in report.problems}


@pytest.mark.rule("A6", "ASVS-16.4.2")
class TestTamperDetection:
    def test_an_untouched_log_verifies(self, log: GatewayContext) -> None:
        report = _verify(log, origin=log.settings.issuer)
        assert report.ok, report.problems
        assert (report.tree_size, report.entries_checked, report.checkpoints_checked) == (SIZE, SIZE, 3)
        assert report.nodes_checked == SIZE - SIZE.bit_count()
        assert report.warnings == []

    def test_one_changed_byte_names_the_entry(self, log: GatewayContext) -> None:
        _sql(log, "UPDATE audit_entries SET purpose = 'referrak' WHERE seq = 9")
        report = _verify(log)
        assert not report.ok
        assert report.first_bad_seq == 9
        altered = [p for p in report.problems if p.kind == "entry_altered"]
        assert [p.seq for p in altered] == [9]
        assert "seq 9" in altered[0].detail
        # Checkpoints after it no longer match, and say which entry changed first.
        roots = [p for p in report.problems if p.kind == "checkpoint_root"]
        assert len(roots) == 2 and all(p.seq == 9 for p in roots)

    def test_parallel_workers_find_the_same_problems(self, log: GatewayContext) -> None:
        _sql(log, "UPDATE audit_entries SET purpose = 'referrak' WHERE seq = 9",
             "DELETE FROM audit_entries WHERE seq = 15")
        serial = _verify(log)
        parallel = _verify(log, workers=2, parallel_from=1)
        assert [p.as_dict() for p in parallel.problems] == [p.as_dict() for p in serial.problems]
        assert {p.kind for p in serial.problems} >= {"entry_altered", "entry_missing"}

    def test_one_changed_byte_in_a_json_column(self, log: GatewayContext) -> None:
        _sql(log, "UPDATE audit_entries SET details = '{\"envelope_id\": \"env-3\", \"n\": 7, \"note\": null, "
                  "\"ok\": true}' WHERE seq = 6")
        report = _verify(log)
        assert [p.seq for p in report.problems if p.kind == "entry_altered"] == [6]

    def test_a_changed_leaf_hash_is_found(self, log: GatewayContext) -> None:
        with log.sessions() as session:
            stored = session.get(AuditEntry, 20).leaf_hash  # type: ignore[union-attr]
        flipped = ("0" if stored[0] != "0" else "1") + stored[1:]
        _sql(log, f"UPDATE audit_entries SET leaf_hash = '{flipped}' WHERE seq = 20")
        report = _verify(log)
        assert [p.seq for p in report.problems if p.kind == "entry_altered"] == [20]

    def test_a_deleted_entry_is_named(self, log: GatewayContext) -> None:
        _sql(log, "DELETE FROM audit_entries WHERE seq = 5")
        report = _verify(log)
        assert not report.ok
        missing = [p for p in report.problems if p.kind == "entry_missing"]
        assert [p.seq for p in missing] == [5]
        assert report.first_bad_seq == 5

    def test_two_reordered_entries_are_named(self, log: GatewayContext) -> None:
        _sql(log, "UPDATE audit_entries SET seq = -1 WHERE seq = 3",
             "UPDATE audit_entries SET seq = 3 WHERE seq = 4",
             "UPDATE audit_entries SET seq = 4 WHERE seq = -1")
        report = _verify(log)
        moved = sorted((p.seq, p.detail) for p in report.problems if p.kind == "entry_moved")
        assert [s for s, _ in moved] == [3, 4]
        assert "written as seq 4" in moved[0][1]

    def test_a_truncated_tail_is_found_by_the_checkpoint_and_the_tree(self, log: GatewayContext) -> None:
        _sql(log, f"DELETE FROM audit_entries WHERE seq >= {SIZE - 4}")
        report = _verify(log)
        truncated = [p for p in report.problems if p.kind == "truncated"]
        assert truncated and min(p.seq for p in truncated) == SIZE - 4  # type: ignore[type-var]
        assert any(f"holds {SIZE - 4}" in p.detail for p in truncated)

    def test_a_truncated_tail_with_its_nodes_and_checkpoint_removed_shows_in_the_nodes(
        self, log: GatewayContext
    ) -> None:
        # Cut back to 16 entries and drop the last checkpoint; the stored nodes still show it.
        _sql(log, "DELETE FROM audit_entries WHERE seq >= 17",
             f"DELETE FROM audit_checkpoints WHERE tree_size = {SIZE}")
        report = _verify(log)
        assert "truncated" in _kinds(report)

    def test_a_rewritten_entry_with_a_recomputed_hash_is_caught_by_the_tree(self, log: GatewayContext) -> None:
        with unguarded(log.engine), log.sessions() as session, session.begin():
            entry = session.get(AuditEntry, 12)
            assert entry is not None
            entry.decision = "deny"
            entry.leaf_hash = fast_leaf_hash(tuple(_row(entry))).hex()
        report = _verify(log)
        nodes = [p for p in report.problems if p.kind == "node_mismatch"]
        assert [(p.seq, p.last_seq) for p in nodes] == [(12, 13)]
        assert "checkpoint_root" in _kinds(report)

    def test_a_log_replaced_by_a_copy_signed_with_another_key(
        self, log: GatewayContext, write_entries: WriteEntries, clock: FixedClock
    ) -> None:
        with log.sessions() as session:
            kept = checkpoints.latest_checkpoint(session)  # an agency pinned this one
        assert kept is not None
        with tampering(log.engine) as conn:
            for table in ("audit_checkpoints", "audit_tree_nodes", "audit_entries"):
                conn.execute(metadata.tables[table].delete())
        forger = generate_signing_seed()
        write_entries(SIZE + 2, start=100)
        _checkpoint(log, forger)
        report = _verify(log)
        assert [p.kind for p in report.problems] == ["checkpoint_signature"]
        # Even a forger holding the real key is caught by a checkpoint kept from before.
        with tampering(log.engine) as conn:
            conn.execute(metadata.tables["audit_checkpoints"].delete())
        _checkpoint(log)
        report = _verify(log, external=[kept])
        assert not report.ok
        assert "checkpoint_root" in _kinds(report)

    def test_split_view_between_two_checkpoints_of_one_size(self, log: GatewayContext) -> None:
        _sql(log, "UPDATE audit_entries SET reason = 'x' WHERE seq = 22")
        with tampering(log.engine) as conn:
            # A second head for the same size, signed with the real key over the altered log.
            conn.execute(text("DELETE FROM audit_tree_nodes"))
        with log.sessions() as session:
            from crypto.checkpoint import sign_checkpoint
            from crypto.merkle import root

            leaves = [fast_leaf_hash(tuple(_row(e))) for e in session.query(AuditEntry).order_by(AuditEntry.seq)]
        other = sign_checkpoint(log.signing_seed, origin=log.settings.issuer, tree_size=SIZE, root=root(leaves),
                                at=log.clock.now())
        report = _verify(log, external=[other])
        assert "split_view" in _kinds(report)


def _row(entry: AuditEntry) -> list[object]:
    doc = entry_document(entry)
    return [entry.seq, entry.entry_id, entry.at, entry.request_id, entry.actor_agency_id, entry.actor_role,
            entry.actor_user, entry.action, entry.subject_id, entry.purpose, entry.recipient_agency_id,
            json.dumps(doc["classes_requested"]), json.dumps(doc["classes_released"]), entry.policy_version,
            json.dumps(entry.basis), entry.decision, entry.reason, json.dumps(entry.details), entry.leaf_hash]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


def _sample_row(details: object, text_value: str = "x", classes: object = (), *, sort: bool = True) -> tuple:  # type: ignore[type-arg]

    from gateway.audit.log import _key_sorted

    def stored(value: object) -> str:  # what SQLAlchemy's JSON type writes
        return json.dumps(_key_sorted(value) if sort else value)

    return (7, "id", "2026-01-02 03:04:05.000006", text_value, None, "r", text_value, "a:b:c", text_value, None,
            None, stored(list(classes)), "[]", None, stored({"k": details}), "allow", None, stored(details), "")


class TestFastLeafHash:
    @settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(details=st.dictionaries(st.text(max_size=8), json_values, max_size=5), text_value=st.text(max_size=20),
           classes=st.lists(st.text(max_size=4), max_size=4), sort=st.booleans())
    def test_a_row_matches_exactly_its_reference_hash(
        self, details: dict[str, object], text_value: str, classes: list[str], sort: bool
    ) -> None:
        try:
            canonical_json(details)
            canonical_json(text_value)
        except ValueError:
            return  # not representable: record() refuses such an entry
        row = _sample_row(details, text_value, classes, sort=sort)
        reference = slow_leaf_hash(row)
        assert leaf_matches((*row[:18], reference.hex())) == (reference, True)
        other = bytes(32).hex()
        assert leaf_matches((*row[:18], other)) == (reference, False)

    @settings(max_examples=200)
    @given(details=st.dictionaries(st.text(max_size=8), st.none() | st.booleans() | st.text(max_size=8)
                                   | st.integers(-(2**53) + 1, 2**53 - 1), max_size=5))
    def test_the_fast_path_is_exact_for_what_record_stores(self, details: dict[str, object]) -> None:
        row = _sample_row(details)
        assert fast_leaf_hash(row) == slow_leaf_hash(row)

    def test_values_outside_the_fast_path_still_verify(self) -> None:
        for details in ({"f": 1.0}, {"big": 2**60}, {"\U0001f600": 1, "\ue000": 2}, {"x": [0.1, -0.0, 1e21]},
                        {"b": 1, "a": 2}):
            row = _sample_row(details, sort=False)
            try:
                reference = slow_leaf_hash(row)
            except ValueError:
                continue
            assert leaf_matches((*row[:18], reference.hex()))[1]

    def test_a_tampered_type_does_not_crash(self) -> None:
        from datetime import UTC, datetime

        row = (1, "id", datetime(2026, 1, 1, tzinfo=UTC), None, None, None, None, 42, None, None, None,
               "not json", "[]", None, "{}", "info", None, "{}", "")
        assert len(fast_leaf_hash(row)) == 32
        assert leaf_matches(row)[1] is False


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, ctx: GatewayContext) -> dict[str, str]:
    (tmp_path / "keys").mkdir(exist_ok=True)
    save_signing_seed(tmp_path / "keys" / "gateway-signing.json", ctx.signing_seed)
    return {"GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(tmp_path)}


class TestCli:
    def test_verify_exits_zero_on_a_sound_log_and_one_naming_the_entry(
        self, log: GatewayContext, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        runner = CliRunner(env={"COLUMNS": "250"})
        ok = runner.invoke(cli_app, ["audit", "verify"], env=cli_env)
        assert ok.exit_code == 0, ok.output
        assert "OK: 23 entries" in ok.output
        latest = runner.invoke(cli_app, ["audit", "latest"], env=cli_env)
        kept = tmp_path / "kept.json"
        kept.write_text(latest.output)
        _sql(log, "UPDATE audit_entries SET subject_id = 'subj-9' WHERE seq = 14")
        bad = runner.invoke(cli_app, ["audit", "verify", "--checkpoint", str(kept)], env=cli_env)
        assert bad.exit_code == 1
        assert "seq 14: entry_altered" in bad.output
        as_json = runner.invoke(cli_app, ["audit", "verify", "--json", "--no-record"], env=cli_env)
        assert as_json.exit_code == 1
        assert json.loads(as_json.output)["problems"][0]["seq"] == 14

    def test_verify_with_another_public_key_fails(self, log: GatewayContext, cli_env: dict[str, str]) -> None:
        from crypto.encoding import b64u_encode

        other = b64u_encode(signing_public_key(generate_signing_seed()))
        result = CliRunner().invoke(cli_app, ["audit", "verify", "--public-key", other], env=cli_env)
        assert result.exit_code == 1
        assert "checkpoint_signature" in result.output

    def test_checkpoint_command_signs_the_current_head(self, log: GatewayContext, cli_env: dict[str, str]) -> None:
        result = CliRunner().invoke(cli_app, ["audit", "checkpoint"], env=cli_env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["tree_size"] == SIZE
