"""Erasure by crypto-shredding: after a subject is erased, someone holding every table of the
database cannot link a single audit entry to the person, while ``gateway audit verify``, every
stored inclusion proof and the consistency of the log still pass (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select

from connectors.audit import verify_entry_inclusion
from crypto.encoding import b64u_encode
from crypto.keys import signing_public_key
from crypto.merkle import verify_consistency
from gateway.audit import subject_keys
from gateway.audit.log import Actor
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.erasure import erase_subject
from gateway.statistics.service import StatisticsService
from tests.conftest import Registry
from tests.console.conftest import make_staff
from tests.console.conftest import sign_in as console_sign_in
from tests.exchange.conftest import Case, plan, sealed, submit
from tests.portal.conftest import csrf_of, make_person
from tests.portal.conftest import sign_in as portal_sign_in

Auth = Callable[..., dict[str, str]]
LOG_TABLES = {"audit_entries", "audit_tree_nodes", "audit_checkpoints", "audit_cosignatures", "audit_verifications"}


def dump(ctx: GatewayContext) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as someone with full database access reads it."""
    meta = MetaData()
    meta.reflect(ctx.engine)
    with ctx.engine.connect() as conn:
        return {name: [tuple(row) for row in conn.execute(select(table))] for name, table in meta.tables.items()}


def texts(value: Any) -> Iterator[str]:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        yield raw.hex()
        yield raw.decode("latin-1")
    elif value is not None:
        yield str(value)


def tables_mentioning(tables: dict[str, list[tuple[Any, ...]]], needle: str, *, skip: set[str]) -> set[str]:
    return {name for name, rows in tables.items() if name not in skip
            for row in rows for value in row for text in texts(value) if needle in text}


def candidate_keys(tables: dict[str, list[tuple[Any, ...]]]) -> set[bytes]:
    """Every 32-byte value the database holds, raw, hex or base64: the keys an attacker would try."""
    found: set[bytes] = set()
    for rows in tables.values():
        for row in rows:
            for value in row:
                if isinstance(value, bytes | bytearray | memoryview) and len(bytes(value)) == 32:
                    found.add(bytes(value))
                elif isinstance(value, str):
                    for decode in (bytes.fromhex, lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))):
                        try:
                            raw = decode(value)
                        except (ValueError, binascii.Error):
                            continue
                        if len(raw) == 32:
                            found.add(raw)
    return found


def ids_in(value: Any) -> Iterator[str]:
    """Ids an entry carries: values under keys ending in ``_id`` or ``_ids`` (details, basis)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.endswith(("_id", "_ids")):
                yield from (str(v) for v in (inner if isinstance(inner, list) else [inner]) if v)
            else:
                yield from ids_in(inner)


def linking_attack(ctx: GatewayContext, subject_id: str, pseudonym: str, units_key: Any) -> list[str]:
    """Every way the dumped database still links the subject to its entries (empty: unlinkable)."""
    tables = dump(ctx)
    links: list[str] = []
    outside = tables_mentioning(tables, subject_id, skip=set())
    if outside:
        links.append(f"subject id in {sorted(outside)}")
    if tables_mentioning(tables, pseudonym, skip=LOG_TABLES):
        links.append("pseudonym outside the log")
    if any(subject_keys.derive(key, subject_id) == pseudonym for key in candidate_keys(tables)):
        links.append("a stored key recomputes the pseudonym")
    if tables_mentioning(tables, units_key.unit(subject_id), skip=set()):
        links.append("statistics unit recomputable from the id")
    with ctx.sessions() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.subject_id == pseudonym)))
    assert entries
    for entry in entries:
        for value in {*ids_in(entry.details), *ids_in(entry.basis)}:
            where = tables_mentioning(tables, value, skip=LOG_TABLES)
            if where:
                links.append(f"{value} of entry {entry.seq} in {sorted(where)}")
    return links


def test_an_erased_subject_cannot_be_linked_while_the_log_and_every_proof_verify(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, signing_seed: bytes, tmp_path: Path,
    db_url: str,
) -> None:
    person = make_person(client, auth)
    other = make_person(client, auth)
    the_plan = plan(client, auth, Case(person.subject_id, person.consent_id))
    assert submit(client, auth, sealed(client, auth, registry, the_plan)).status_code == 201
    assert portal_sign_in(client, person.code, person.pin).status_code == 303
    form = client.get("/p/complaint")
    sent = client.post("/p/requests", data={"csrf_token": csrf_of(form.text), "kind": "complaint", "about": "shelter",
                                            "message": "They told my employer where I live."},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    client.cookies.clear()
    stats = StatisticsService(ctx)
    assert stats.refresh() > 0

    with ctx.sessions() as session:
        pseudonym = session.get(subject_keys.SubjectKey, person.subject_id).pseudonym  # type: ignore[union-attr]
        theirs = list(session.scalars(select(AuditEntry).where(AuditEntry.subject_id == pseudonym)))
    assert len(theirs) >= 5 and all(e.subject_id == pseudonym for e in theirs)
    # The control: before erasure the same attack links the person in several independent ways.
    before = linking_attack(ctx, person.subject_id, pseudonym, stats.units)
    assert any("stored key" in link for link in before) and any("statistics unit" in link for link in before)
    assert len(before) >= 4

    # Proofs the owner agency keeps for its entries about the person, against a signed checkpoint.
    head = client.post("/v1/audit/checkpoints", headers=auth("operator")).json()
    mine = client.get("/v1/audit/entries", headers=auth("ngo"), params={"subject_id": person.subject_id, "limit": 200})
    # (at the checkpoint's size: the scheduled signer may cut a newer one meanwhile)
    kept = [(doc, client.get(f"/v1/audit/entries/{doc['seq']}/inclusion-proof", headers=auth("ngo"),
                             params={"tree_size": head["tree_size"]}).json()["proof"])
            for doc in mine.json()["entries"]]
    assert len(kept) >= 3 and {doc["subject_id"] for doc, _ in kept} == {pseudonym}
    for doc, proof in kept:
        assert verify_entry_inclusion(doc, proof, head, signing_public_key(signing_seed)), doc["seq"]

    with ctx.sessions() as session, session.begin():
        done = erase_subject(session, person.subject_id, actor=Actor(role="dpo", user="dpo-1"), at=ctx.clock.now(),
                             units=stats.units)
    assert done.pseudonym == pseudonym and done.legacy_linked_entries == 0
    assert done.deleted["subjects"] == 1 and done.deleted["consent_records"] == 1
    assert done.deleted["envelopes"] == 1 and done.deleted["portal_requests"] == 1

    assert linking_attack(ctx, person.subject_id, pseudonym, stats.units) == []
    # The agency that created the subject id cannot find the entries by it any more.
    after = client.get("/v1/audit/entries", headers=auth("ngo"), params={"subject_id": person.subject_id})
    assert after.json()["entries"] == []
    # The other person is untouched and still found.
    still = client.get("/v1/audit/entries", headers=auth("ngo"), params={"subject_id": other.subject_id})
    assert still.json()["entries"]

    public = signing_public_key(signing_seed)
    for doc, proof in kept:
        assert verify_entry_inclusion(doc, proof, head, public), doc["seq"]
    later = client.post("/v1/audit/checkpoints", headers=auth("operator")).json()
    consistency = client.get("/v1/audit/consistency-proof", headers=auth("ngo"),
                             params={"first": head["tree_size"], "second": later["tree_size"]}).json()
    assert verify_consistency(head["tree_size"], later["tree_size"], bytes.fromhex(head["root_hash"]),
                              bytes.fromhex(later["root_hash"]), [bytes.fromhex(p) for p in consistency["proof"]])
    env = {**os.environ, "GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(tmp_path)}
    verified = subprocess.run([sys.executable, "-m", "gateway", "audit", "verify", "--public-key", b64u_encode(public),
                               "--no-record"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_console_shows_erased_subject_for_an_erased_persons_entries(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
) -> None:
    person = make_person(client, auth)
    other = make_person(client, auth)
    with ctx.sessions() as session, session.begin():
        erase_subject(session, person.subject_id, actor=Actor(role="dpo", user="dpo-1"), at=ctx.clock.now())
    assert console_sign_in(client, make_staff(ctx, "dpo", "dpo")).status_code == 303
    page = client.get("/console/entries", params={"action": "consent:record:grant"}).text
    assert page.count("erased subject") == 1
    assert other.subject_id in page and person.subject_id not in page
    with ctx.sessions() as session:
        seq = session.scalars(select(AuditEntry.seq).where(AuditEntry.action == "subject:record:erase")).one()
    entry_page = client.get(f"/console/entries/{seq}").text
    assert "erased subject" in entry_page and person.subject_id not in entry_page


def test_the_cli_erases_only_when_confirmed(tmp_path: Path) -> None:
    from gateway import db
    from gateway.settings import Settings
    from gateway.setup import init_data_dir

    init_data_dir(Settings(data_dir=tmp_path, database_url=""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    run = [sys.executable, "-m", "gateway", "erase-subject", "subj_gone", "--data-dir", str(tmp_path)]
    refused = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    done = subprocess.run([*run, "--yes"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    engine = db.make_engine(Settings(data_dir=tmp_path, database_url="").resolved_database_url)
    try:
        with db.make_sessionmaker(engine)() as session:
            (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "subject:record:erase")).all()
            assert subject_keys.resolve(session, [entry.subject_id]) == {entry.subject_id: None}
            assert entry.actor_role == "operator"
    finally:
        engine.dispose()
