"""Issue 17, item 6: the subject table keeps quasi-identifiers only as far as a policy decision needs them.

- A date of birth is stored as the day the person comes of age (``adult_on``); the policy decides
  the same (tests/consent/test_age.py proves it for every date), and no table holds the birth date.
- A language tag keeps only its language and script (CR9's ``same_language`` compares exactly those).
- Migration 0017 converts existing rows, change log included, drops the clear column, and redacts
  the unkeyed preview hashes old audit entries hold; the log still verifies afterwards.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import MetaData, create_engine, inspect, select, text
from sqlalchemy.orm import Session

from consent.age import coming_of_age
from consent.clock import FixedClock
from consent.placement import PLACEMENT_KEY_LABEL, placement_ref
from consent.rules import same_language
from consent.subjects import Subject, coarse_language
from crypto.at_rest import derive_key
from crypto.keys import generate_signing_seed, save_signing_seed, signing_public_key
from gateway import migrate
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.tags import AuditTag
from gateway.audit.verify import verify_database
from gateway.context import GatewayContext
from gateway.registry.models import AgencyKind
from tests.conftest import Registry, register
from tests.consent.conftest import Auth, consent_body, subject_body

TAGS = st.sampled_from(["en", "en-GB", "ar", "ar-SY", "sr-Latn", "sr-Cyrl-RS", "sr", "zh-Hant-TW", "zh-Hans",
                        "ha-NG", "ro-MD", "ti", "ti-ER", "uk", "ru-UA"])


@given(a=TAGS, b=TAGS)
def test_cr9_compares_the_coarse_language_as_it_compared_the_full_tag(a: str, b: str) -> None:
    assert same_language(coarse_language(a), b) == same_language(a, b)
    assert same_language(a, coarse_language(b)) == same_language(a, b)


def test_the_api_stores_neither_the_birth_date_nor_the_region(client: TestClient, auth: Auth, registry: Registry,
                                                              ctx: GatewayContext) -> None:
    created = client.post("/v1/subjects", headers=auth("ngo"),
                          json=subject_body(age_band=None, date_of_birth="2009-04-17", preferred_language="ar-SY"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["adult_on"] == "2027-05-01" and body["preferred_language"] == "ar" and body["is_child"] is True
    assert "date_of_birth" not in body
    with ctx.sessions() as session:
        columns = {c["name"] for c in inspect(session.get_bind()).get_columns("subjects")}
        everything = json.dumps([[str(v) for v in row] for table in ("subjects", "subject_attribute_changes",
                                                                     "audit_entries")
                                 for row in session.execute(text(f"SELECT * FROM {table}"))])
    assert "date_of_birth" not in columns
    assert "2009-04-17" not in everything and "ar-SY" not in everything and "SY" not in everything.split('"')


def _old_database(url: str) -> None:
    """A database just before 0017 with a subject as the old code stored it and an old-style submit entry
    (0016 is there so that today's ``record`` finds its subject keys)."""
    migrate.upgrade(url, "0016")
    engine = create_engine(url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subjects (id, owner_agency_id, created_at, created_by, date_of_birth, age_band, age_disputed,"
            " age_appeal_status, preferred_language, asylum_claimed, possible_refugee, guardian_suspected,"
            " declined_nrm, capacity, cj_role, open_cases, placement_agency_id) VALUES ('subj_old', 'ngo', :now,"
            " 'staff', :dob, NULL, false, 'none', 'sr-Latn-RS', false, false, false, false, '{}', 'none', '[]',"
            " 'shelter')"),
            {"now": now, "dob": date(2008, 2, 29)})
        conn.execute(text(
            "INSERT INTO subject_attribute_changes (id, subject_id, seq, attribute, old_value, new_value, changed_at,"
            " reason) VALUES ('chg_1', 'subj_old', 1, 'date_of_birth', NULL, '\"2008-02-29\"', :now,"
            " 'initial_record'), ('chg_2', 'subj_old', 2, 'preferred_language', NULL, '\"sr-Latn-RS\"', :now,"
            " 'initial_record'), ('chg_3', 'subj_old', 3, 'placement_agency_id', NULL, '\"shelter\"', :now,"
            " 'initial_record')"), {"now": now})
    with Session(engine) as session, session.begin():
        preview = hashlib.sha256(b'{"fields":{"risk.level":"high"},"language":"ha"}').hexdigest()
        record(session, AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id="subj_old",
                                   details={"envelope_id": "env_1", "preview_hash": preview, "language": "ha"}),
               actor=Actor(agency_id="ngo", role="ngo"), at=now)
        record(session, AuditEvent(AuditTag.CONSENT_GRANT, subject_id="subj_old", details={"consent_id": "c"}),
               actor=Actor(agency_id="ngo", role="ngo"), at=now)
    engine.dispose()


@pytest.mark.rule("CH1")
def test_migration_0017_converts_old_rows_and_redacts_old_preview_hashes(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _old_database(url)
    seed = generate_signing_seed()
    (tmp_path / "keys").mkdir()
    save_signing_seed(tmp_path / "keys" / "gateway-signing.json", seed)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    migrate.upgrade(url)
    key = derive_key(seed, PLACEMENT_KEY_LABEL)
    engine = create_engine(url)
    with Session(engine) as session:
        subject = session.get(Subject, "subj_old")
        assert subject is not None
        assert subject.adult_on == coming_of_age(date(2008, 2, 29)) == date(2026, 3, 1)
        assert subject.preferred_language == "sr-Latn"
        assert subject.placement_ref == placement_ref(key, "subj_old", "shelter"), "what serve derives"
        changes = session.execute(text("SELECT attribute, new_value FROM subject_attribute_changes ORDER BY seq")).all()
        assert [tuple(c) for c in changes] == [("adult_on", '"2026-03-01"'), ("preferred_language", '"sr-Latn"'),
                                               ("placement_ref", json.dumps(subject.placement_ref))]
        dump = json.dumps([[str(v) for v in row] for table in ("subjects", "subject_attribute_changes",
                                                               "audit_entries", "audit_redactions")
                           for row in session.execute(text(f"SELECT * FROM {table}"))])
        assert "2008-02-29" not in dump
        assert "sr-Latn-RS" not in dump
        assert "shelter" not in dump
        assert "(redacted)" in dump
        assert hashlib.sha256(b'{"fields":{"risk.level":"high"},"language":"ha"}').hexdigest() not in dump
        report = verify_database(session, signing_public_key(generate_signing_seed()))
    engine.dispose()
    assert report.redacted_entries == 1
    assert {p.kind for p in report.problems} <= {"checkpoint_invalid"}, report.problems
    assert not any(p.kind.startswith(("entry_", "node_", "redaction_")) for p in report.problems)


@pytest.mark.rule("CR26")
def test_cr26_the_keyed_placement_still_lets_only_the_placement_receive_the_shelter_address(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    """The subject row names no shelter, and a plan asks the policy exactly as before: the shelter the
    person is placed at may receive its location; another shelter may not."""
    fields = ["location.shelter_address", "subject.preferred_name"]
    register(ctx, "shelter-2", AgencyKind.SHELTER)
    subject_id = client.post("/v1/subjects", headers=auth("ngo"),
                             json=subject_body(placement_agency_id="shelter")).json()["id"]
    for recipient in ("shelter", "shelter-2"):
        granted = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
            subject_id, purpose="shelter", recipients=[{"agency_id": recipient}], data_classes=["D1", "D4"]))
        assert granted.status_code == 201, granted.text
    plans = {recipient: client.post("/v1/plans", headers=auth("ngo"), json={
        "subject_id": subject_id, "recipient_agency_id": recipient, "purpose": "shelter", "fields": fields}).json()
        for recipient in ("shelter", "shelter-2")}
    assert sorted(plans["shelter"]["permitted_fields"]) == sorted(fields), plans["shelter"]
    assert plans["shelter-2"]["permitted_fields"] == ["subject.preferred_name"], plans["shelter-2"]
    with ctx.sessions() as session:
        subject = session.get(Subject, subject_id)
        assert subject is not None and subject.placement_ref is not None
        stored = json.dumps([[str(v) for v in row] for table in ("subjects", "subject_attribute_changes")
                             for row in session.execute(text(f"SELECT * FROM {table} WHERE "
                                                             f"{'id' if table == 'subjects' else 'subject_id'}"
                                                             " = :s"), {"s": subject_id})])
    assert '"shelter"' not in stored and "shelter" not in stored.replace("placement", "")
    # Another person at the same shelter gets an unrelated reference (no grouping by shelter).
    other = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(placement_agency_id="shelter")).json()
    with ctx.sessions() as session:
        again = session.get(Subject, other["id"])
        assert again is not None and again.placement_ref not in (None, subject.placement_ref)


def test_consents_and_exception_explanations_keep_only_language_and_script(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    """A consent explained in ``ar-SY`` and an exception policy explained in ``ku-IQ-x-dohuk`` are kept
    as ``ar`` and ``ku``: the region and dialect never reach the tables (issue 17)."""
    created = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(preferred_language="ar-SY"))
    assert created.status_code == 201, created.text
    subject_id = created.json()["id"]
    granted = client.post("/v1/consents", headers=auth("ngo"), json={
        **consent_body(subject_id, recipients=[{"agency_id": "shelter"}]), "language": "ar-SY"})
    assert granted.status_code == 201, granted.text
    explained = client.post("/v1/exceptions/explanations", headers=auth("ngo"), json={
        "subject_id": subject_id, "given_at": clock.now().isoformat(),
        "policy_version": "ngo-exceptions-2026-1", "language": "ku-IQ-x-dohuk"})
    assert explained.status_code in (200, 201), explained.text
    assert explained.json()["language"] == "ku"
    with ctx.sessions() as session:
        consents = session.execute(text("SELECT language FROM consent_records")).scalars().all()
        explanations = session.execute(text("SELECT language FROM exception_policy_explanations")).scalars().all()
    assert consents == ["ar"] and explanations == ["ku"]


def _row_with(table: Any, **values: Any) -> dict[str, Any]:
    """``values``, and a placeholder of the right type for every other required column."""
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        python = column.type.python_type
        row[column.name] = (datetime(2026, 11, 1, tzinfo=UTC) if python is datetime else date(2026, 11, 1)
                            if python is date else False if python is bool else 0 if python is int
                            else "[]" if column.name in ("recipients", "data_classes", "purposes") else
                            f"{column.name}-1")
    return row


def test_migration_0024_keeps_only_language_and_script_of_old_consents_and_explanations(tmp_path: Path) -> None:
    """Rows written before 0024 (``ar-SY``, ``ku-IQ-x-dohuk``) lose region and dialect, and nothing else."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0018")
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["consent_records", "exception_policy_explanations"])
    consents, explanations = meta.tables["consent_records"], meta.tables["exception_policy_explanations"]
    with engine.begin() as conn:
        conn.execute(consents.insert().values(_row_with(consents, id="cns_old", language="ar-SY")))
        conn.execute(consents.insert().values(_row_with(consents, id="cns_plain", lineage_id="lin_2", language="en")))
        conn.execute(explanations.insert().values(_row_with(explanations, id="exp_old", language="ku-IQ-x-dohuk")))
        before = {row.id: dict(row._mapping) for row in conn.execute(select(consents))}
    migrate.upgrade(url)
    with engine.connect() as conn:
        after = {row.id: dict(row._mapping) for row in conn.execute(select(consents))}
        explained = conn.execute(select(explanations.c.language)).scalars().all()
    engine.dispose()
    assert {k: row["language"] for k, row in after.items()} == {"cns_old": "ar", "cns_plain": "en"}
    assert explained == ["ku"]
    # Only the language changed.
    assert {k: {**row, "language": None} for k, row in after.items()} == {
        k: {**row, "language": None} for k, row in before.items()}
