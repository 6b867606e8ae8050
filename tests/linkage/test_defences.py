"""Defences: probing is throttled and shown to the DPO; the database holds nothing to recompute an identifier."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bitarray import bitarray
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from connectors.linkage import LinkageSecret, PersonIdentifiers, dice, encode
from consent.clock import FixedClock
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.linkage import service
from gateway.linkage.models import LinkageKeyRecord
from gateway.models import metadata
from tests.console.conftest import StaffLogin, sign_in
from tests.linkage.conftest import AMINA_ARABIC, AMINA_LATIN, SOMEONE_ELSE, ask

Auth = Callable[..., dict[str, str]]

# Every clear-text form of the identifiers the agencies hold: none may appear at the gateway.
MARKERS = ["Amina", "amina", "Bakri", "bakri", "أمينة", "بكري", "Fatima", "Yusuf", "2001-03-14", "14/03/2001"]


def test_a_probing_agency_is_throttled_and_listed_for_the_dpo(
    client: TestClient, auth: Auth, ctx: GatewayContext, clock: FixedClock, person: Callable[..., str],
    dpo: StaffLogin,
) -> None:
    person("shelter", AMINA_ARABIC, names=["ngo"])
    probe = person("ngo", AMINA_LATIN, names=["shelter"])
    for _ in range(service.QUERIES_PER_HOUR):
        ask(client, auth, "ngo", probe)
    refused = client.post("/v1/linkage/queries", headers=auth("ngo"), json={"subject_id": probe})
    assert refused.status_code == 429
    assert refused.json()["reason"] == "linkage_rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    with ctx.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "linkage:query:refuse")).one()
    assert entry.reason == "linkage_rate_limited" and entry.actor_agency_id == "ngo"

    # A well-behaved agency asks once.
    honest = person("iom", SOMEONE_ELSE, names=["ngo"])
    ask(client, auth, "iom", honest)

    assert sign_in(client, dpo).status_code == 303
    page = client.get("/console/linkage")
    assert page.status_code == 200
    html = page.text
    assert 'data-agency="ngo"' in html and "throttled" in html and "fresh_keys" in html
    assert "1</strong> agency looks like probing" in html
    ngo_row = html[html.index('data-agency="ngo"'):]
    ngo_row = ngo_row[:ngo_row.index("</tr>")]
    assert f"<td>{service.QUERIES_PER_HOUR + 1}</td>" in ngo_row
    iom_row = html[html.index('data-agency="iom"'):]
    assert "<td>—</td>" in iom_row[:iom_row.index("</tr>")]
    with ctx.sessions() as session:
        viewed = session.scalars(select(AuditEntry).where(AuditEntry.action == "audit:log:view")).all()
    assert any(e.details.get("view") == "linkage" for e in viewed)

    # Once the oldest question has left the hour's window, the agency may ask again.
    clock.advance(timedelta(seconds=retry_after))
    assert "matches" in ask(client, auth, "ngo", probe)


def test_the_console_page_needs_a_signed_in_dpo(client: TestClient, auth: Auth) -> None:
    response = client.get("/console/linkage", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/console/login")


def test_with_full_database_access_no_identifier_is_in_clear_and_none_can_be_recomputed(
    client: TestClient, auth: Auth, ctx: GatewayContext, person: Callable[..., str], secret: LinkageSecret,
) -> None:
    person("ngo", AMINA_LATIN, names=["shelter"])
    shelter_subject = person("shelter", AMINA_ARABIC, names=["ngo"])
    person("iom", SOMEONE_ELSE, names=["ngo"])
    engine = ctx.engine
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            assert table.name in inspect(conn).get_table_names()
            for row in conn.execute(select(table)):
                blob = " ".join(str(v) for v in row)
                for marker in MARKERS:
                    assert marker not in blob, f"{marker!r} found in table {table.name}"
    if engine.dialect.name == "sqlite":
        database = Path(engine.url.database or "")
        for path in (database, database.with_name(database.name + "-wal")):
            raw = path.read_bytes() if path.exists() else b""
            for marker in MARKERS:
                assert marker.encode() not in raw

    # The attacker holds every stored key and the SDK, not the secret: a dictionary of names
    # and dates encoded under any guessed secret confirms no one.
    with ctx.sessions() as session:
        stored = {r.subject_id: r.clk for r in session.scalars(select(LinkageKeyRecord))}
    target = encode(AMINA_ARABIC, secret).bits  # what the shelter stored
    held = bitarray()
    held.frombytes(stored[shelter_subject])
    assert held == target  # the stored key is exactly the agency's encoding, nothing more
    dictionary = [PersonIdentifiers(names=(n,), birth_date=AMINA_LATIN.birth_date, sex="f", nationality="ER")
                  for n in ("Amina Bakri", "أمينة بكري", "Bakri Amina", "Fatima Yusuf", "Mariam Bakri")]
    guesses = [LinkageSecret(secret.epoch, bytes(32)), LinkageSecret(secret.epoch, b"\xff" * 32),
               LinkageSecret.generate(secret.epoch)]
    best = max(dice(held, encode(p, g).bits) for p in dictionary for g in guesses)
    assert best < service.POSSIBLE
    # The keys are balanced: no key's weight says anything about the length of a name.
    assert {int.from_bytes(clk, "big").bit_count() for clk in stored.values()} == {1024}
