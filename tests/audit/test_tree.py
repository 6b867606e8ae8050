"""The stored Merkle tree: pure planning, the RFC 6962/9162 vectors, and proofs from the database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from consent.clock import FixedClock
from crypto import merkle
from gateway.audit import tree
from gateway.audit.models import AuditEntry, AuditTreeNode
from gateway.context import GatewayContext
from tests.audit.conftest import WriteEntries
from tests.crypto.test_crypto_merkle import CONSISTENCY_VECTORS, INCLUSION_VECTORS, LEAVES, ROOTS
from tests.support.tamper import unguarded


def _all_nodes(leaves: list[bytes]) -> dict[tree.NodeKey, bytes]:
    """Every perfect subtree of ``leaves``, computed naively."""
    nodes = {(0, i): leaf for i, leaf in enumerate(leaves)}
    level = 0
    while (1 << (level + 1)) <= len(leaves):
        level += 1
        for i in range(len(leaves) >> level):
            nodes[(level, i)] = merkle.node_hash(nodes[(level - 1, 2 * i)], nodes[(level - 1, 2 * i + 1)])
    return nodes


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


class TestPlanning:
    def test_perfect_subtrees_tile_a_range_with_aligned_blocks(self) -> None:
        assert tree.perfect_subtrees(0, 0) == []
        assert tree.perfect_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
        assert tree.perfect_subtrees(8, 13) == [(2, 2), (0, 12)]
        assert tree.perfect_subtrees(3, 8) == [(0, 3), (2, 1)]  # unaligned start still tiles
        with pytest.raises(ValueError):
            tree.perfect_subtrees(5, 4)

    @pytest.mark.parametrize("size", range(1, 70))
    def test_roots_and_inclusion_proofs_equal_the_reference(self, size: int) -> None:
        leaves = _leaves(size)
        nodes = _all_nodes(leaves)
        assert tree.fold(tree.perfect_subtrees(0, size), nodes) == merkle.root(leaves)
        for index in range(size):
            plan = tree.inclusion_plan(index, size)
            assert [tree.fold(g, nodes) for g in plan] == merkle.inclusion_proof(leaves, index)

    @pytest.mark.parametrize("second", range(0, 65))
    def test_consistency_proofs_equal_the_reference(self, second: int) -> None:
        leaves = _leaves(second)
        nodes = _all_nodes(leaves)
        for first in range(second + 1):
            plan = tree.consistency_plan(first, second)
            assert [tree.fold(g, nodes) for g in plan] == merkle.consistency_proof(leaves, first)

    def test_appending_completes_one_node_per_trailing_one_bit(self) -> None:
        assert tree.completed_nodes(0) == []
        assert tree.completed_nodes(6) == []
        assert tree.completed_nodes(7) == [((1, 3), (0, 6)), ((2, 1), (1, 2)), ((3, 0), (2, 0))]
        assert len(tree.completed_nodes(2**20 - 1)) == 20

    def test_plans_reject_impossible_positions(self) -> None:
        with pytest.raises(IndexError):
            tree.inclusion_plan(3, 3)
        with pytest.raises(ValueError):
            tree.consistency_plan(4, 3)
        assert tree.fold([], {}) == merkle.empty_root()


def _append_raw(ctx: GatewayContext, clock: FixedClock, leaves: list[bytes]) -> None:
    """Store entries whose leaf hashes are the given values, through the stored-node append path."""
    with ctx.sessions() as session, session.begin():
        for seq, leaf in enumerate(leaves):
            session.add(AuditEntry(seq=seq, entry_id=str(uuid.uuid4()), at=clock.now(), action="test:vector:leaf",
                                   classes_requested=[], classes_released=[], basis={}, decision="info", details={},
                                   leaf_hash=leaf.hex()))
            session.flush()
            tree.append_leaf(session, seq, leaf)


class TestStoredTree:
    @pytest.mark.rule("A6")
    def test_published_rfc6962_vectors_through_the_stored_nodes(self, ctx: GatewayContext, clock: FixedClock) -> None:
        _append_raw(ctx, clock, LEAVES)
        with ctx.sessions() as session:
            assert [tree.root_at(session, n) for n in range(1, 9)] == ROOTS
            assert tree.root_at(session, 0) == merkle.empty_root()
            for index, size, path in INCLUSION_VECTORS:
                assert tree.inclusion_proof(session, index, size) == path
            for old, new, proof in CONSISTENCY_VECTORS:
                assert tree.consistency_proof(session, old, new) == proof

    def test_appends_through_record_store_every_perfect_subtree(
        self, ctx: GatewayContext, write_entries: WriteEntries
    ) -> None:
        write_entries(37)
        with ctx.sessions() as session:
            leaves = [bytes.fromhex(h) for h in session.scalars(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq))]
            stored = {(lv, i): bytes(h) for lv, i, h in session.execute(
                select(AuditTreeNode.level, AuditTreeNode.idx, AuditTreeNode.hash))}
            expected = {k: v for k, v in _all_nodes(leaves).items() if k[0] > 0}
            assert stored == expected
            assert session.scalar(select(func.count()).select_from(AuditTreeNode)) == 37 - (37).bit_count()
            for size in range(0, 38):
                assert tree.root_at(session, size) == merkle.root(leaves[:size])
            for size in (1, 2, 5, 16, 37):
                for seq in range(size):
                    proof = tree.inclusion_proof(session, seq, size)
                    assert merkle.verify_inclusion(leaves[seq], seq, size, proof, merkle.root(leaves[:size]))
                for first in range(size + 1):
                    expected = merkle.consistency_proof(leaves[:size], first)
                    assert tree.consistency_proof(session, first, size) == expected

    def test_many_appends_in_one_transaction(self, ctx: GatewayContext, write_entries: WriteEntries) -> None:
        write_entries(20, one_transaction=True)
        with ctx.sessions() as session:
            leaves = [bytes.fromhex(h) for h in session.scalars(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq))]
            assert tree.root_at(session, 20) == merkle.root(leaves)

    def test_sizes_beyond_the_log_are_refused(self, ctx: GatewayContext, write_entries: WriteEntries) -> None:
        write_entries(3)
        with ctx.sessions() as session:
            with pytest.raises(ValueError):
                tree.root_at(session, 4)
            with pytest.raises(ValueError):
                tree.consistency_proof(session, 1, 5)

    def test_a_missing_node_is_an_error_not_a_wrong_answer(
        self, ctx: GatewayContext, write_entries: WriteEntries
    ) -> None:
        write_entries(4)
        with unguarded(ctx.engine), ctx.sessions() as session, session.begin():
            session.execute(AuditTreeNode.__table__.delete().where(AuditTreeNode.level == 2))
        with ctx.sessions() as session, pytest.raises(LookupError):
            tree.root_at(session, 4)


def test_concurrent_appenders_keep_the_log_gapless_and_the_tree_whole(ctx: GatewayContext) -> None:
    import threading

    from crypto.keys import signing_public_key
    from gateway.audit.log import Actor, AuditEvent, record
    from gateway.audit.tags import AuditTag
    from gateway.audit.verify import verify_database

    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            for i in range(15):
                with ctx.sessions() as session, session.begin():
                    record(session, AuditEvent(AuditTag.POLICY_DECISION, details={"w": worker, "i": i}),
                           actor=Actor(agency_id=f"a{worker}"), at=ctx.clock.now())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with ctx.sessions() as session:
        report = verify_database(session, signing_public_key(ctx.signing_seed))
    assert report.ok, report.problems
    assert report.tree_size == 60 and report.nodes_checked == 60 - (60).bit_count()


def test_the_migration_back_fills_the_tree_of_existing_entries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, insert

    from gateway import migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0002")
    leaves = _leaves(11)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry.__table__), [
            {"seq": i, "entry_id": f"e{i}", "at": datetime(2026, 1, 1, tzinfo=UTC), "action": "x:y:z",
             "classes_requested": [], "classes_released": [], "basis": {}, "decision": "info", "details": {},
             "leaf_hash": leaf.hex()} for i, leaf in enumerate(leaves)])
    migrate.upgrade(url)
    with engine.connect() as conn:
        stored = {(lv, i): bytes(h) for lv, i, h in conn.execute(
            select(AuditTreeNode.level, AuditTreeNode.idx, AuditTreeNode.hash))}
    engine.dispose()
    assert stored == {k: v for k, v in _all_nodes(leaves).items() if k[0] > 0}
