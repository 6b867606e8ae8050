"""Issue 17: after a realistic run, no table, no log line and no file confirms a dictionary guess.

The run: a person recorded with a date of birth, a regional language tag and a placement; consents;
a referral sealed and delivered; a refused referral that tried to carry a name, address and phone
number as extra manifest keys; the person's portal (sign-in, a wrong PIN, a complaint in their own
words); an exception grant asked, approved and used. Then every table is dumped (every column of
every row, on SQLite and PostgreSQL; on SQLite the database file and its WAL as bytes as well, so
nothing a row once held and a page still keeps escapes), with every log record and every file the
gateway wrote under its data directory, and searched for each value of the run, in its normalised
variants, and for its common digests: SHA-256, SHA-1 and MD5, as hex (either case) and base64
(standard and URL-safe, with and without padding), and base64 of the value itself.

Short codes the policy needs and the gateway is *meant* to hold are not searched for in clear (the
language code CR9 compares, the risk level word as a JSON token would match any "high" in the
bundle); their digests are.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from gateway.context import GatewayContext
from gateway.registry.models import AgencyKind
from tests.conftest import Registry, register
from tests.consent.conftest import consent_body, subject_body
from tests.exceptions.conftest import POLICY, grant_body, publish
from tests.exchange.conftest import RECIPIENT, SENDER, Auth, open_case, plan, sealed, submit
from tests.portal.conftest import csrf_of

NAME = "Nkechi Adaeze Okonkwo"
BIRTH_DATE = "1996-04-17"
PHONE = "+44 7700 900456"
ADDRESS = "17 Harbour Lane, Dover CT16 1JA"
SHELTER_ADDRESS = "Flat 3, 41 Quayside Road, Folkestone"
TRAFFICKER = "Viktor Petrenko"
RISK_TEXT = f"{TRAFFICKER} waits at {ADDRESS}; he calls {PHONE} every night."
COMPLAINT = f"I am {NAME}. My employer kept my passport at {ADDRESS}."
SUICIDE_NOTE = "Expressed intent to self-harm on 2026-11-20; GP Dr Amal Haddad informed."
VALUES = {
    "subject.preferred_name": NAME,
    "subject.language": "ha",
    "risk.level": "high",
    "risk.known_risks": RISK_TEXT,
}

SEARCHED = [NAME, "Nkechi", "Okonkwo", BIRTH_DATE, "17/04/1996", "19960417", PHONE, "+447700900456",
            "07700 900456", ADDRESS, "Harbour Lane", "CT16 1JA", SHELTER_ADDRESS, "Quayside Road", TRAFFICKER,
            RISK_TEXT, COMPLAINT, "kept my passport", SUICIDE_NOTE, "Amal Haddad", "ha-NG"]
DIGEST_ONLY = ["ha", "high"]
"""Codes the gateway may hold as codes (CR9's language), searched as digests only."""


def _variants(value: str) -> set[str]:
    nfc = unicodedata.normalize("NFC", value)
    found = {value, nfc, nfc.strip(), nfc.lower(), nfc.upper(), nfc.casefold(), " ".join(nfc.split()),
             nfc.replace(" ", ""), nfc.lower().replace(" ", ""), f'"{nfc}"'}
    return {v for v in found if v}


def _digests(value: str) -> Iterator[str]:
    raw = value.encode()
    for name in ("sha256", "sha1", "md5"):
        digest = hashlib.new(name, raw).digest()
        yield digest.hex()
        yield digest.hex().upper()
        for encoded in (base64.b64encode(digest).decode(), base64.urlsafe_b64encode(digest).decode()):
            yield encoded
            yield encoded.rstrip("=")
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        if len(encoded.rstrip("=")) >= 8:
            yield encoded.rstrip("=")


def _table_dump(ctx: GatewayContext) -> str:
    """Every column of every row of every table in the database (not only the ORM's)."""
    parts: list[str] = []
    with ctx.engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                parts.append(table + "\t" + "\t".join("" if v is None else (v.hex() + "\t" + repr(v)
                                                                             if isinstance(v, bytes | memoryview)
                                                                             else str(v)) for v in row))
    return "\n".join(parts)


def _files(directory: Path) -> str:
    texts = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(texts)


def _sqlite_files(ctx: GatewayContext) -> str:
    url = make_url(str(ctx.engine.url))
    if url.get_backend_name() != "sqlite" or not url.database:
        return ""
    database = Path(url.database)
    return "\n".join(p.read_bytes().decode("latin-1") for p in (database, Path(f"{database}-wal"))
                     if p.exists())


def _realistic_run(client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext) -> None:
    register(ctx, "court", AgencyKind.COURT)
    publish(ctx, SENDER, POLICY)
    # The person: a date of birth, a regional language tag, a placement.
    created = client.post("/v1/subjects", headers=auth(SENDER), json=subject_body(
        age_band=None, date_of_birth=BIRTH_DATE, preferred_language="ha-NG", placement_agency_id=RECIPIENT))
    assert created.status_code == 201, created.text
    subject_id = created.json()["id"]
    granted = client.post("/v1/consents", headers=auth(SENDER), json=consent_body(
        subject_id, purpose="shelter", recipients=[{"agency_id": RECIPIENT}], data_classes=["D1", "D4", "D5", "D12"],
        language="ha"))
    assert granted.status_code == 201, granted.text
    code = granted.json()["access_code"]
    health = client.post("/v1/consents", headers=auth(SENDER), json=consent_body(
        subject_id, purpose="healthcare", recipients=[{"agency_id": "clinic"}], data_classes=["D1"], language="ha"))
    assert health.status_code == 201, health.text
    # A referral, sealed, delivered and acknowledged; the shelter's own address goes to the shelter.
    the_plan = plan(client, auth, _Case(subject_id), fields=[*VALUES, "location.shelter_address"])
    assert "location.shelter_address" in the_plan["permitted_fields"], the_plan
    body = sealed(client, auth, registry, the_plan, {**VALUES, "location.shelter_address": SHELTER_ADDRESS},
                  language="ha")
    assert submit(client, auth, body, key="k-run").status_code == 201
    inbox = client.get("/v1/inbox", headers=auth(RECIPIENT)).json()
    assert client.post(f"/v1/envelopes/{inbox[0]['envelope_id']}/ack", headers=auth(RECIPIENT)).status_code == 200
    # A refused referral trying to carry the person's details as extra keys.
    smuggler = sealed(client, auth, registry, plan(client, auth, _Case(subject_id), fields=list(VALUES)), VALUES)
    smuggler["manifest"].update({"full_name": NAME, "home_address": ADDRESS, "phone_number": PHONE})
    assert submit(client, auth, smuggler, key="k-smuggle").status_code == 422
    # The portal: PINs set by the advocate, a wrong PIN, a sign-in, a complaint in the person's words.
    pins = client.post(f"/v1/subjects/{subject_id}/portal-access/pin", headers=auth(SENDER, person="advocate"),
                       json={"pin": "482913", "duress_pin": "731546"})
    assert pins.status_code == 200, pins.text
    for pin in ("111111", "482913"):
        client.cookies.clear()
        form = client.get("/p/")
        client.post("/p/sign-in", data={"csrf_token": csrf_of(form.text), "code": code, "pin": pin},
                    follow_redirects=False)
    page = client.get("/p/complaint")
    sent = client.post("/p/requests", data={"csrf_token": csrf_of(page.text), "kind": "complaint", "about": "",
                                            "topic": "", "message": COMPLAINT}, follow_redirects=False)
    assert sent.status_code == 303 and "sent=1" in sent.headers["location"]
    client.cookies.clear()
    # An exception (L4: suicide risk to the doctor) for another person, asked by one staff member and
    # approved by another.
    other = open_case(client, auth).subject_id
    asked = client.post("/v1/exceptions", headers=auth(SENDER, person="staff-1"), json=grant_body(other))
    assert asked.status_code == 201, asked.text
    approved = client.post(f"/v1/exceptions/{asked.json()['id']}/approvals",
                           headers=auth(SENDER, person="staff-2", roles=("supervisor",)))
    assert approved.status_code == 200, approved.text
    grant_plan = client.post("/v1/plans", headers=auth(SENDER), json={
        "subject_id": other, "recipient_agency_id": "clinic", "purpose": "healthcare",
        "fields": ["health.suicide_risk"], "exception_grant_id": asked.json()["id"]}).json()
    assert grant_plan["allow"] is True, grant_plan
    note = sealed(client, auth, registry, grant_plan, {"health.suicide_risk": SUICIDE_NOTE})
    used = submit(client, auth, {**note, "exception_grant_id": asked.json()["id"]}, key="k-grant")
    assert used.status_code == 201, used.text


class _Case:
    def __init__(self, subject_id: str) -> None:
        self.subject_id = subject_id


@pytest.mark.rule("CR18", "CR19")
def test_a_dictionary_search_over_the_whole_database_and_every_log_finds_nothing(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, caplog: pytest.LogCaptureFixture,
    tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    _realistic_run(client, auth, registry, ctx)
    tables = _table_dump(ctx)
    assert "subjects\t" in tables and "envelopes\t" in tables and "portal_requests\t" in tables
    haystacks: dict[str, str] = {
        "tables": tables,
        "logs": "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.__dict__}" for r in caplog.records),
        "files": _files(ctx.settings.data_dir) + _sqlite_files(ctx),
    }
    assert haystacks["logs"], "the run was logged"
    lowered = {where: hay.lower() for where, hay in haystacks.items()}
    hits: list[tuple[str, str, str]] = []
    searched = 0
    for value in SEARCHED:
        for variant in _variants(value):
            searched += 1
            for where, hay in haystacks.items():
                if variant in hay or (variant.lower() in lowered[where] and len(variant) >= 6):
                    hits.append((value, variant, where))
    for value in SEARCHED + DIGEST_ONLY:
        for variant in _variants(value):
            for digest in _digests(variant):
                searched += 1
                for where, hay in haystacks.items():
                    if digest in hay:
                        hits.append((value, f"digest {digest}", where))
    assert searched > 1000
    assert hits == []


def test_the_search_finds_a_planted_value(ctx: GatewayContext, registry: Registry) -> None:
    """The search is not blind: a value and a digest planted in a free column are found."""
    with ctx.engine.begin() as conn:
        conn.execute(text("UPDATE agencies SET name = :n WHERE id = 'clinic'"),
                     {"n": "x " + hashlib.md5(PHONE.replace(" ", "").encode()).hexdigest().upper()})
        conn.execute(text("UPDATE agencies SET name = :n WHERE id = 'police'"), {"n": f"{NAME.upper()} hq"})
    tables = _table_dump(ctx)
    assert any(d in tables for v in _variants(PHONE) for d in _digests(v))
    assert any(v in tables for v in _variants(NAME))
