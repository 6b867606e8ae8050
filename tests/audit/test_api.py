"""``/v1/audit``: checkpoints, proofs that outsiders can check, and each agency's own entries only."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from connectors.audit import check_checkpoint_update, entry_leaf_hash, verify_entry_inclusion
from consent.clock import FixedClock
from crypto.canonical import canonical_json
from crypto.checkpoint import Checkpoint
from crypto.keys import generate_signing_seed
from crypto.merkle import verify_consistency, verify_inclusion
from crypto.signing import verify
from gateway.audit import checkpoints
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from tests.audit.conftest import WriteEntries
from tests.conftest import Registry
from tests.support.tamper import tampering, unguarded

Auth = Callable[..., dict[str, str]]


def _public_key(client: TestClient) -> bytes:
    jwk = client.get("/.well-known/jwks.json").json()["keys"][0]
    return base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))


def _sign_now(ctx: GatewayContext) -> Checkpoint:
    with ctx.sessions() as session, session.begin():
        return checkpoints.create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer,
                                             at=ctx.clock.now())


@pytest.mark.rule("A6")
class TestCheckpoints:
    def test_an_outsider_verifies_the_signed_bytes_with_the_published_key(
        self, client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
    ) -> None:
        assert client.get("/v1/audit/checkpoints/latest", headers=auth("ngo")).status_code == 404
        made = client.post("/v1/audit/checkpoints", headers=auth("operator"))
        assert made.status_code == 201, made.text
        head = client.get("/v1/audit/checkpoints/latest", headers=auth("ngo")).json()
        assert head == made.json()
        # The documented recipe: drop "signature", RFC 8785 the rest, Ed25519-verify with the JWK.
        body = {k: v for k, v in head.items() if k != "signature"}
        assert canonical_json(body).startswith(b'{"key_id":')
        verify(_public_key(client), canonical_json(body),
               base64.urlsafe_b64decode(head["signature"] + "=" * (-len(head["signature"]) % 4)))
        assert head["type"] == "safe-referral-gateway/audit-checkpoint/v1"
        assert head["origin"] == ctx.settings.issuer
        same = client.get(f"/v1/audit/checkpoints/{head['tree_size']}", headers=auth("ngo"))
        assert same.json() == head
        assert client.get("/v1/audit/checkpoints/999999", headers=auth("ngo")).status_code == 404

    def test_the_on_demand_checkpoint_covers_its_own_audit_entry(
        self, client: TestClient, auth: Auth, registry: Registry
    ) -> None:
        operator = auth("operator")
        head = client.post("/v1/audit/checkpoints", headers=operator).json()
        mine = client.get("/v1/audit/entries", headers=operator, params={"limit": 200}).json()["entries"]
        assert mine[-1]["action"] == "audit:checkpoint:sign"
        assert mine[-1]["seq"] == head["tree_size"] - 1

    def test_only_the_operator_signs_on_demand(self, client: TestClient, auth: Auth, registry: Registry) -> None:
        response = client.post("/v1/audit/checkpoints", headers=auth("ngo"))
        assert response.status_code == 403

    def test_reading_needs_a_token_or_a_console_session(self, client: TestClient, registry: Registry) -> None:
        assert client.get("/v1/audit/checkpoints/latest").status_code == 401
        assert client.get("/v1/audit/entries").status_code == 401

    def test_periodic_checkpoints_only_when_the_log_grew(
        self, ctx: GatewayContext, write_entries: WriteEntries, clock: FixedClock
    ) -> None:
        write_entries(3)
        assert checkpoints.make_checkpoint_if_due(ctx.sessions, ctx.signing_seed, origin="o", at=clock.now())
        assert not checkpoints.make_checkpoint_if_due(ctx.sessions, ctx.signing_seed, origin="o", at=clock.now())
        write_entries(1, start=3)
        assert checkpoints.make_checkpoint_if_due(ctx.sessions, ctx.signing_seed, origin="o", at=clock.now())
        with ctx.sessions() as session:
            assert [c.tree_size for c in checkpoints.list_checkpoints(session)] == [3, 4]

    def test_the_background_loop_signs_and_survives_errors(
        self, ctx: GatewayContext, write_entries: WriteEntries, caplog: pytest.LogCaptureFixture
    ) -> None:
        write_entries(2)

        class Broken:
            def __call__(self):  # type: ignore[no-untyped-def]
                raise RuntimeError("database down")

        async def run() -> None:
            async with checkpoints.periodic_checkpoints(ctx.sessions, ctx.signing_seed, origin="o",
                                                        interval_s=0.01, now=Broken()):
                await asyncio.sleep(0.05)  # it fails at every tick and keeps going
            async with checkpoints.periodic_checkpoints(ctx.sessions, ctx.signing_seed, origin="o",
                                                        interval_s=0.01, now=ctx.clock.now):
                for _ in range(200):
                    await asyncio.sleep(0.01)
                    with ctx.sessions() as session:
                        if checkpoints.latest_checkpoint(session) is not None:
                            return

        asyncio.run(run())
        assert "audit checkpoint failed" in caplog.text
        with ctx.sessions() as session:
            latest = checkpoints.latest_checkpoint(session)
        assert latest is not None and latest.tree_size == 2


class TestProofs:
    @pytest.mark.rule("A6")
    def test_every_entry_of_a_small_log_proves_its_inclusion_in_the_checkpoint(
        self, client: TestClient, ctx: GatewayContext, write_entries: WriteEntries, registry: Registry, auth: Auth
    ) -> None:
        iom = auth("iom")  # one token: each new token is itself an audit entry
        write_entries(13, agency="iom")
        head = client.post("/v1/audit/checkpoints", headers=auth("operator")).json()
        public = _public_key(client)
        entries = []
        after: int | None = -1
        while after is not None:
            page = client.get("/v1/audit/entries", headers=iom, params={"after": after, "limit": 7}).json()
            entries += page["entries"]
            after = page["next_after"]
        assert len(entries) >= 13
        for entry in entries:
            response = client.get(f"/v1/audit/entries/{entry['seq']}/inclusion-proof", headers=iom)
            assert response.status_code == 200, response.text
            proof = response.json()
            assert proof["tree_size"] == head["tree_size"] and proof["checkpoint"] == head
            # From the entry's content, through the path, to the signed root.
            assert entry_leaf_hash(entry).hex() == entry["leaf_hash"] == proof["leaf_hash"]
            assert verify_entry_inclusion(entry, proof["proof"], head, public)
            assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), entry["seq"], proof["tree_size"],
                                    [bytes.fromhex(p) for p in proof["proof"]], bytes.fromhex(head["root_hash"]))
            altered = {**entry, "purpose": "something else"}
            assert not verify_entry_inclusion(altered, proof["proof"], head, public)

    def test_proof_against_an_explicit_older_size(
        self, client: TestClient, ctx: GatewayContext, write_entries: WriteEntries, registry: Registry, auth: Auth
    ) -> None:
        iom = auth("iom")
        first = write_entries(2, agency="iom")[0]
        write_entries(5, start=2, agency="iom")
        response = client.get(f"/v1/audit/entries/{first}/inclusion-proof", headers=iom)
        assert response.status_code == 409  # no checkpoint yet
        ok = client.get(f"/v1/audit/entries/{first}/inclusion-proof", headers=iom,
                        params={"tree_size": first + 3})
        assert ok.status_code == 200 and ok.json()["checkpoint"] is None
        too_big = client.get(f"/v1/audit/entries/{first}/inclusion-proof", headers=iom,
                             params={"tree_size": 10**6})
        assert too_big.status_code == 422

    @pytest.mark.rule("A6")
    def test_consistency_between_checkpoints_and_pinning_detects_a_rewrite(
        self, client: TestClient, ctx: GatewayContext, write_entries: WriteEntries, registry: Registry, auth: Auth,
        clock: FixedClock,
    ) -> None:
        public = _public_key(client)
        old = client.post("/v1/audit/checkpoints", headers=auth("operator")).json()
        write_entries(9)
        clock.advance(timedelta(minutes=5))
        new = client.post("/v1/audit/checkpoints", headers=auth("operator")).json()
        proof = client.get("/v1/audit/consistency-proof", headers=auth("ngo"),
                           params={"first": old["tree_size"], "second": new["tree_size"]}).json()["proof"]
        assert verify_consistency(old["tree_size"], new["tree_size"], bytes.fromhex(old["root_hash"]),
                                  bytes.fromhex(new["root_hash"]), [bytes.fromhex(p) for p in proof])
        update = check_checkpoint_update(old, new, public, proof)
        assert (update.accept, update.rewritten, update.reason) == (True, False, "consistent")
        assert check_checkpoint_update(None, old, public, []).reason == "first_seen"
        assert check_checkpoint_update(new, new, public, []).reason == "unchanged"
        assert check_checkpoint_update(new, old, public, []).reason == "older"
        # The gateway rewrites entry 1 and re-signs with its real key: the pinned head exposes it.
        with tampering(ctx.engine) as conn:
            conn.exec_driver_sql("UPDATE audit_entries SET decision = 'deny' WHERE seq = 1")
            conn.exec_driver_sql("DELETE FROM audit_tree_nodes")
        with unguarded(ctx.engine), ctx.sessions() as session, session.begin():

            from gateway.audit import tree
            from gateway.audit.leaves import fast_leaf_hash, select_entry_rows
            from gateway.audit.models import AuditEntry

            rows = session.execute(select_entry_rows().order_by(AuditEntry.seq)).all()
            for row in rows:
                leaf = fast_leaf_hash(tuple(row))
                session.get(AuditEntry, row[0]).leaf_hash = leaf.hex()  # type: ignore[union-attr]
                session.flush()
                tree.append_leaf(session, row[0], leaf)
        clock.advance(timedelta(minutes=5))
        forged = client.post("/v1/audit/checkpoints", headers=auth("operator")).json()
        proof = client.get("/v1/audit/consistency-proof", headers=auth("ngo"),
                           params={"first": new["tree_size"], "second": forged["tree_size"]}).json()["proof"]
        update = check_checkpoint_update(new, forged, public, proof)
        assert (update.accept, update.rewritten, update.reason) == (False, True, "inconsistent")
        # A copy signed with another key is refused outright.
        other = generate_signing_seed()
        from crypto.checkpoint import sign_checkpoint

        foreign = sign_checkpoint(other, origin=new["origin"], tree_size=new["tree_size"] + 1,
                                  root=bytes(32), at=clock.now())
        assert check_checkpoint_update(new, foreign.to_json(), public, proof).reason == "bad_signature"
        split = sign_checkpoint(ctx.signing_seed, origin=new["origin"], tree_size=new["tree_size"], root=bytes(32),
                                at=clock.now())
        assert check_checkpoint_update(new, split, public, []).reason == "split_view"
        assert check_checkpoint_update(new, {"junk": 1}, public, []).reason == "malformed"

    def test_bad_consistency_ranges(self, client: TestClient, auth: Auth, registry: Registry) -> None:
        response = client.get("/v1/audit/consistency-proof", headers=auth("ngo"), params={"first": 5, "second": 2})
        assert response.status_code == 422
        assert client.get("/v1/audit/consistency-proof", headers=auth("ngo"),
                          params={"first": 1, "second": 10**9}).status_code == 422


@pytest.mark.rule("ASVS-8.2.2", "API1")
class TestOwnEntries:
    def test_an_agency_sees_only_entries_it_acted_in_or_received(
        self, client: TestClient, ctx: GatewayContext, registry: Registry, auth: Auth
    ) -> None:
        with ctx.sessions() as session, session.begin():
            for sender, recipient in (("iom", "shelter"), ("police", "clinic"), ("clinic", "iom")):
                record(session, AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id="s-1",
                                           recipient_agency_id=recipient, details={"envelope_id": f"e-{sender}"}),
                       actor=Actor(agency_id=sender, role=sender), at=ctx.clock.now())
        entries = client.get("/v1/audit/entries", headers=auth("iom"),
                             params={"action": "exchange:envelope:submit"}).json()["entries"]
        assert {(e["actor"]["agency_id"], e["recipient_agency_id"]) for e in entries} == {("iom", "shelter"),
                                                                                         ("clinic", "iom")}
        everything = client.get("/v1/audit/entries", headers=auth("shelter"), params={"limit": 200}).json()["entries"]
        since = client.get("/v1/audit/entries", headers=auth("iom"),
                           params={"since": "2000-01-01T00:00:00", "until": "2100-01-01T00:00:00+02:00"})
        assert since.status_code == 200 and since.json()["entries"]
        assert all("shelter" in (e["actor"]["agency_id"], e["recipient_agency_id"]) for e in everything)
        with ctx.sessions() as session, session.begin():
            record(session, AuditEvent(AuditTag.EXCHANGE_EXPIRE, subject_id="s-1", recipient_agency_id="clinic",
                                       details={"envelope_id": "e-police", "sender_agency_id": "police"}),
                   actor=Actor.system(), at=ctx.clock.now())
        police = [e for e in client.get("/v1/audit/entries", headers=auth("police"),
                                        params={"limit": 200}).json()["entries"]
                  if e["action"].startswith("exchange:envelope:")]
        assert [(e["action"], e["recipient_agency_id"]) for e in police] == [
            ("exchange:envelope:submit", "clinic"), ("exchange:envelope:expire", "clinic")]  # it was the sender
        # Another agency's entry: 404 on its proof, exactly as for an absent one.
        theirs = next(e["seq"] for e in entries if e["actor"]["agency_id"] == "clinic")
        assert client.get(f"/v1/audit/entries/{theirs}/inclusion-proof", headers=auth("police")).status_code == 404

    def test_entries_carry_no_payload_fields(self, client: TestClient, registry: Registry, auth: Auth) -> None:
        entry = client.get("/v1/audit/entries", headers=auth("ngo")).json()["entries"][0]
        assert set(entry) == {"seq", "entry_id", "at", "request_id", "actor", "action", "subject_id", "purpose",
                              "recipient_agency_id", "classes_requested", "classes_released", "policy_version",
                              "basis", "decision", "reason", "details", "leaf_hash"}
