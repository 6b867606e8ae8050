"""Sealing and erasure broadcasts, legal holds and court orders (issue 22; digest 7.1), on both databases.

A sealing or an erasure reaches every agency that received data about the person (two recipients
here), each through a signed notice whose reference only that agency can open; acknowledgements and
missing ones past the deadline are audited and shown on the DPO console. A sealed class is refused
without a court access order; a legal hold or court order refuses erasure (and a conflicting seal)
and stops the retention schedule until it is lifted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.errors import VerificationError
from connectors.retention import open_notice
from consent.clock import FixedClock
from consent.models import ConsentRecord
from consent.subjects import Subject
from crypto.keys import save_signing_seed, signing_public_key
from gateway.audit import subject_keys
from gateway.audit.models import AuditEntry
from gateway.audit.verify import verify_database
from gateway.context import GatewayContext
from gateway.retention_models import RetentionNotice
from gateway.retention_purge import apply_schedule
from gateway.settings import Settings
from gateway.statistics.service import StatisticsService
from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body
from tests.console.conftest import make_staff
from tests.console.conftest import sign_in as console_sign_in
from tests.exchange.conftest import Case, plan, sealed, submit
from tests.retention.test_erasure import dump, linking_attack

Auth = Callable[..., dict[str, str]]
SEAL = "/v1/retention/subjects/{}/seals"


def SUPERVISOR(auth: Auth) -> dict[str, str]:
    """The NGO's supervisor (entitled to lift a hold), a person other than the default caseworker."""
    return auth("ngo", person="supervisor-1", roles=("supervisor",))
ORDERS = "/v1/retention/subjects/{}/orders"


def two_recipients(client: TestClient, auth: Auth, registry: Registry) -> tuple[str, dict[str, str]]:
    """A subject of the NGO referred to the shelter (D1 and D12) and to IOM (D12 only): their envelopes."""
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body())
    assert subject.status_code == 201, subject.text
    subject_id = subject.json()["id"]
    granted = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        subject_id, recipients=[{"agency_id": "shelter"}, {"agency_id": "iom"}]))
    assert granted.status_code == 201, granted.text
    case = Case(subject_id, granted.json()["consent"]["id"])
    envelopes = {}
    for target in ("shelter", "iom"):
        the_plan = plan(client, auth, case, fields=["subject.preferred_name", "risk.level"], recipient=target)
        sent = submit(client, auth, sealed(client, auth, registry, the_plan), key=f"k-{target}")
        assert sent.status_code == 201, sent.text
        envelopes[target] = sent.json()["envelope_id"]
    return subject_id, envelopes


def notices_of(client: TestClient, auth: Auth, registry: Registry, agency: str, signing_seed: bytes) -> list[Any]:
    """The agency's notices as the SDK opens them (signature checked, reference opened with its key)."""
    listed = client.get("/v1/retention/notices", headers=auth(agency, system=True))
    assert listed.status_code == 200, listed.text
    return [open_notice(item, agency_id=agency, gateway_public=signing_public_key(signing_seed),
                        keys=registry.keys[agency]) for item in listed.json()]


def entries(ctx: GatewayContext, action: str) -> list[AuditEntry]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def plan_status(client: TestClient, auth: Auth, subject_id: str, recipient: str, fields: list[str]) -> Any:
    return client.post("/v1/plans", headers=auth("ngo"), json={
        "subject_id": subject_id, "recipient_agency_id": recipient, "purpose": "shelter", "fields": fields})


def test_a_sealing_reaches_every_past_recipient_and_a_sealed_class_needs_a_court_order(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock, signing_seed: bytes,
) -> None:
    subject_id, envelopes = two_recipients(client, auth, registry)
    with ctx.sessions() as session:
        consent_id = session.scalars(select(ConsentRecord.id).where(ConsentRecord.subject_id == subject_id)).one()
    early = plan(client, auth, Case(subject_id, consent_id), fields=["risk.level"], recipient="shelter")
    early_body = sealed(client, auth, registry, early)

    # The agency's system alone may not seal: a signed-in person decides.
    alone = client.post(SEAL.format(subject_id), headers=auth("ngo", system=True),
                        json={"kind": "sealed", "classes": ["D12"], "reference": "court:2026/118"})
    assert alone.status_code == 403 and alone.json()["reason"] == "person_token_required"
    # Another agency's subject does not exist for the caller.
    foreign = client.post(SEAL.format(subject_id), headers=auth("shelter"),
                          json={"kind": "sealed", "classes": ["D12"], "reference": "court:2026/118"})
    assert foreign.status_code == 404

    done = client.post(SEAL.format(subject_id), headers=auth("ngo"),
                       json={"kind": "sealed", "classes": ["D12"], "reference": "court:2026/118"})
    assert done.status_code == 201, done.text
    assert sorted(n["agency_id"] for n in done.json()["notices"]) == ["iom", "shelter"]
    # A vacatur of D1 reaches only the agency that received D1.
    vacated = client.post(SEAL.format(subject_id), headers=auth("ngo"),
                          json={"kind": "vacated", "classes": ["D1"], "reference": "court:2026/119"})
    assert [n["agency_id"] for n in vacated.json()["notices"]] == ["shelter"]

    # Each recipient verifies the gateway's signature and opens the reference with its own key alone.
    shelter = notices_of(client, auth, registry, "shelter", signing_seed)
    iom = notices_of(client, auth, registry, "iom", signing_seed)
    assert sorted((n.action, n.classes, n.envelope_ids) for n in shelter) == [
        ("sealed", ("D12",), (envelopes["shelter"],)), ("vacated", ("D1",), (envelopes["shelter"],))]
    assert [(n.action, n.classes, n.envelope_ids) for n in iom] == [("sealed", ("D12",), (envelopes["iom"],))]
    assert notices_of(client, auth, registry, "police", signing_seed) == []
    raw = client.get("/v1/retention/notices", headers=auth("iom", system=True)).json()[0]
    with pytest.raises(VerificationError):  # the shelter's key does not open IOM's reference
        open_notice(raw, agency_id="iom", gateway_public=signing_public_key(signing_seed),
                    keys=registry.keys["shelter"])
    with pytest.raises(VerificationError):  # nor is IOM's notice the shelter's to act on
        open_notice(raw, agency_id="shelter", gateway_public=signing_public_key(signing_seed),
                    keys=registry.keys["shelter"])
    with pytest.raises(VerificationError):  # a changed class breaks the gateway's signature
        open_notice({**raw, "notice": {**raw["notice"], "classes": ["D1"]}}, agency_id="iom",
                    gateway_public=signing_public_key(signing_seed), keys=registry.keys["iom"])
    # The gateway's copy holds no envelope id a dump could join on: the reference is sealed.
    tables = dump(ctx)
    for envelope_id in envelopes.values():
        assert not any(envelope_id in str(row) for row in tables["retention_notices"])

    # Acknowledgements: the shelter acknowledges both; IOM cannot acknowledge the shelter's notice.
    for notice in shelter:
        acked = client.post(f"/v1/retention/notices/{notice.id}/ack", headers=auth("shelter", system=True))
        assert acked.status_code == 200 and acked.json()["acknowledged_at"]
    stolen = client.post(f"/v1/retention/notices/{shelter[0].id}/ack", headers=auth("iom", system=True))
    assert stolen.status_code == 404 and stolen.json()["reason"] == "unknown_notice"
    assert len(entries(ctx, "retention:notice:ack")) == 2

    # A plan made before the seal carries nothing out after it.
    late = submit(client, auth, early_body, key="k-early")
    assert late.status_code == 409 and late.json()["reason"] == "plan_expired"
    # A later plan for the sealed class is refused without a court order, and audited.
    refused = plan_status(client, auth, subject_id, "shelter", ["risk.level"])
    assert refused.status_code == 403 and refused.json()["reason"] == "sealed_class_requires_court_order"
    (refusal,) = entries(ctx, "retention:request:refuse")
    assert refusal.reason == "sealed_class_requires_court_order" and refusal.classes_requested == ["D12"]
    assert refusal.recipient_agency_id == "shelter" and subject_id not in str(refusal.details)
    # A court access order for the shelter opens D12 to the shelter, not to IOM.
    order = client.post(ORDERS.format(subject_id), headers=auth("ngo"), json={
        "kind": "access_order", "classes": ["D12"], "reference": "court:2026/120", "recipient_agency_id": "shelter",
        "days": 30})
    assert order.status_code == 201, order.text
    assert plan_status(client, auth, subject_id, "shelter", ["risk.level"]).status_code == 200
    assert plan_status(client, auth, subject_id, "iom", ["risk.level"]).json()["reason"] == (
        "sealed_class_requires_court_order")

    # Past the deadline, IOM's missing acknowledgement is audited once and shown to the DPO.
    clock.set(clock.now() + timedelta(days=8))
    assert apply_schedule(ctx).get("notices_overdue") == 1
    assert apply_schedule(ctx).get("notices_overdue") is None
    (overdue,) = entries(ctx, "retention:notice:overdue")
    assert overdue.recipient_agency_id == "iom" and overdue.subject_id is None
    # Notice entries name the recipient, the classes and the notice, never the person.
    sent = entries(ctx, "retention:notice:send")
    assert len(sent) == 3 and all(e.subject_id is None for e in sent)
    assert console_sign_in(client, make_staff(ctx, "dpo", "dpo")).status_code == 303
    page = client.get("/console/retention")
    assert page.status_code == 200
    assert page.text.count('data-state="overdue"') == 1 and page.text.count('data-state="acknowledged"') == 2
    assert '<strong>1</strong> notice overdue' in page.text
    assert subject_id not in page.text and "court:2026" not in page.text
    with ctx.sessions() as session:
        assert verify_database(session, signing_public_key(signing_seed)).ok


def test_a_hold_refuses_erasure_and_the_schedule_until_lifted_then_erasure_tells_every_recipient(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock, signing_seed: bytes,
) -> None:
    subject_id, envelopes = two_recipients(client, auth, registry)
    with ctx.sessions() as session:
        consent_id = session.scalars(select(ConsentRecord.id).where(ConsentRecord.subject_id == subject_id)).one()
    assert client.post(f"/v1/consents/{consent_id}/withdraw", headers=auth("ngo"),
                       json={"channel": "phone"}).status_code == 200
    hold = client.post(ORDERS.format(subject_id), headers=auth("ngo"),
                       json={"kind": "legal_hold", "reference": "hold:2026-7"})
    assert hold.status_code == 201, hold.text
    court = client.post(ORDERS.format(subject_id), headers=auth("ngo"),
                        json={"kind": "court_order", "classes": ["D12"], "reference": "court:2026/201"})
    assert court.status_code == 201

    refused = client.post(f"/v1/retention/subjects/{subject_id}/erasure", headers=auth("ngo"))
    assert refused.status_code == 409 and refused.json()["reason"] == "court_order_conflict"
    conflict = client.post(f"/v1/retention/subjects/{subject_id}/seals", headers=auth("ngo"),
                           json={"kind": "expunged", "classes": ["D12"], "reference": "court:2026/202"})
    assert conflict.status_code == 409 and conflict.json()["reason"] == "court_order_conflict"
    reasons = [e.reason for e in entries(ctx, "retention:request:refuse")]
    assert reasons == ["court_order_conflict", "court_order_conflict"]

    # Years pass: the hold keeps every record about the person (the ended consent, the subject).
    clock.set(clock.now() + timedelta(days=800))
    apply_schedule(ctx)
    with ctx.sessions() as session:
        assert session.get(ConsentRecord, consent_id) is not None and session.get(Subject, subject_id) is not None

    # A caseworker alone cannot lift a court order: it takes a person entitled to approve.
    refused = client.post(f"/v1/retention/orders/{court.json()['id']}/lift", headers=auth("ngo"))
    assert refused.status_code == 403, refused.text
    # The court order is lifted by a supervisor: the legal hold alone still refuses the erasure.
    assert client.post(f"/v1/retention/orders/{court.json()['id']}/lift", headers=SUPERVISOR(auth)).status_code == 200
    held = client.post(f"/v1/retention/subjects/{subject_id}/erasure", headers=auth("ngo"))
    assert held.status_code == 409 and held.json()["reason"] == "legal_hold_active"
    # An agency cannot lift another agency's hold.
    assert client.post(f"/v1/retention/orders/{hold.json()['id']}/lift",
                       headers=auth("shelter", person="shelter-supervisor", roles=("supervisor",))).status_code == 404
    lifted = client.post(f"/v1/retention/orders/{hold.json()['id']}/lift", headers=SUPERVISOR(auth))
    assert lifted.status_code == 200 and lifted.json()["lifted_at"]
    # Whoever lifted a hold may not then erase the person themselves: one corrupt person is not enough.
    alone = client.post(f"/v1/retention/subjects/{subject_id}/erasure", headers=SUPERVISOR(auth))
    assert alone.status_code == 409 and alone.json()["reason"] == "hold_lifted_by_same_person"

    with ctx.sessions() as session:
        pseudonym = session.get(subject_keys.SubjectKey, subject_id).pseudonym  # type: ignore[union-attr]
    erased = client.post(f"/v1/retention/subjects/{subject_id}/erasure", headers=auth("ngo"))
    assert erased.status_code == 200, erased.text
    assert sorted(n["agency_id"] for n in erased.json()["notices"]) == ["iom", "shelter"]
    assert erased.json()["deleted"]["subjects"] == 1
    for agency in ("shelter", "iom"):
        (notice,) = notices_of(client, auth, registry, agency, signing_seed)
        assert notice.action == "erased" and notice.envelope_ids == (envelopes[agency],)
    # Nothing left links the log to the person, the notices included.
    assert linking_attack(ctx, subject_id, pseudonym, StatisticsService(ctx).units) == []
    with ctx.sessions() as session:
        assert verify_database(session, signing_public_key(signing_seed)).ok
        assert all(n.subject_id is None for n in session.scalars(select(RetentionNotice)))


def test_lifting_a_hold_resumes_the_schedule(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    consent = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(subject)).json()["consent"]["id"]
    assert client.post(f"/v1/consents/{consent}/withdraw", headers=auth("ngo"),
                       json={"channel": "phone"}).status_code == 200
    hold = client.post(ORDERS.format(subject), headers=auth("ngo"), json={"kind": "legal_hold", "reference": "h-1"})
    clock.set(clock.now() + timedelta(days=400))
    assert "consents_ended" not in apply_schedule(ctx)
    client.post(f"/v1/retention/orders/{hold.json()['id']}/lift", headers=SUPERVISOR(auth))
    purged = apply_schedule(ctx)
    assert purged["consents_ended"] == 1 and purged["subject_attributes"] == 1
    with ctx.sessions() as session:
        assert session.get(ConsentRecord, consent) is None and session.get(Subject, subject) is None


@pytest.mark.parametrize("body", [
    {"kind": "access_order", "reference": "c-1"},  # an access order names its recipient
    {"kind": "legal_hold", "reference": "c-1", "recipient_agency_id": "shelter"},
    {"kind": "sealed", "reference": "c-1"},  # a seal is not an order
    {"kind": "legal_hold", "reference": "Jane Doe's hold"},  # a code, never text about the person
])
def test_a_malformed_order_is_refused(client: TestClient, auth: Auth, registry: Registry, body: dict[str, Any]) -> None:
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    refused = client.post(f"/v1/retention/subjects/{subject}/orders", headers=auth("ngo"), json=body)
    assert refused.status_code == 422, refused.text
    assert "Jane" not in refused.text


@pytest.mark.parametrize("body", [
    {"kind": "legal_hold", "classes": ["D12"], "reference": "c-1"},  # a hold is not a seal
    {"kind": "sealed", "classes": ["health"], "reference": "c-1"},
    {"kind": "sealed", "reference": "Jane Doe v. State"},
])
def test_a_malformed_seal_is_refused_and_nothing_is_sealed(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, body: dict[str, Any],
) -> None:
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    refused = client.post(f"/v1/retention/subjects/{subject}/seals", headers=auth("ngo"), json=body)
    assert refused.status_code == 422, refused.text
    assert "Jane" not in refused.text
    assert entries(ctx, "subject:record:seal") == []


def test_the_cli_refuses_to_erase_a_held_subject_and_tells_every_recipient_once_free(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, signing_seed: bytes, tmp_path: Path,
    db_url: str,
) -> None:
    subject_id, envelopes = two_recipients(client, auth, registry)
    hold = client.post(ORDERS.format(subject_id), headers=auth("ngo"), json={"kind": "legal_hold", "reference": "h-9"})
    save_signing_seed(Settings(data_dir=tmp_path, database_url="").signing_key_path, signing_seed)
    env = {**os.environ, "GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(tmp_path)}
    run = [sys.executable, "-m", "gateway", "erase-subject", subject_id, "--yes"]
    refused = subprocess.run(run, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode != 0 and "legal_hold_active" in refused.stderr
    with ctx.sessions() as session:
        assert session.get(Subject, subject_id) is not None
    client.post(f"/v1/retention/orders/{hold.json()['id']}/lift", headers=SUPERVISOR(auth))
    done = subprocess.run(run, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "told 2 recipient" in done.stdout
    for agency in ("shelter", "iom"):
        (notice,) = notices_of(client, auth, registry, agency, signing_seed)
        assert (notice.action, notice.envelope_ids) == ("erased", (envelopes[agency],))


def test_the_retention_page_needs_a_signed_in_dpo(client: TestClient, auth: Auth, ctx: GatewayContext) -> None:
    response = client.get("/console/retention", follow_redirects=False, headers=auth("ngo"))
    assert response.status_code == 303 and response.headers["location"].startswith("/console/login")
    assert console_sign_in(client, make_staff(ctx, "rapporteur", "rapporteur")).status_code == 303
    rapporteur = client.get("/console/retention", follow_redirects=False)
    assert rapporteur.status_code == 303 and rapporteur.headers["location"] == "/console/statistics"


def test_a_notice_names_only_the_sealed_classes_its_recipient_received(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext, signing_seed: bytes,
) -> None:
    """IOM received only D12: a seal of D1 and D12 tells it about D12 alone, not that D1 is sealed too."""
    subject_id, _envelopes = two_recipients(client, auth, registry)
    done = client.post(SEAL.format(subject_id), headers=auth("ngo"),
                       json={"kind": "sealed", "classes": ["D1", "D12"], "reference": "court:2026/120"})
    assert done.status_code == 201, done.text
    iom = notices_of(client, auth, registry, "iom", signing_seed)
    shelter = notices_of(client, auth, registry, "shelter", signing_seed)
    assert [n.classes for n in iom] == [("D12",)]
    assert [n.classes for n in shelter] == [("D1", "D12")]


def test_a_referral_still_waiting_for_its_recipient_is_withdrawn_when_its_class_is_sealed(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
) -> None:
    """The shelter's envelope (D1 and D12) and IOM's (D12 only) wait, unacknowledged. Sealing D1 withdraws
    the shelter's (its ciphertext is deleted, the sender sees it expired); IOM's, without D1, still waits."""
    subject_id, envelopes = two_recipients(client, auth, registry)
    done = client.post(SEAL.format(subject_id), headers=auth("ngo"),
                       json={"kind": "sealed", "classes": ["D1"], "reference": "court:2026/121"})
    assert done.status_code == 201, done.text
    shelter_inbox = client.get("/v1/inbox", headers=auth("shelter", system=True)).json()
    iom_inbox = client.get("/v1/inbox", headers=auth("iom", system=True)).json()
    assert envelopes["shelter"] not in {e["envelope_id"] for e in shelter_inbox}
    assert envelopes["iom"] in {e["envelope_id"] for e in iom_inbox}
    outbox = client.get(f"/v1/outbox/{envelopes['shelter']}", headers=auth("ngo", system=True)).json()
    assert outbox["status"] == "expired"
    withdrawn = [e for e in entries(ctx, "exchange:envelope:expire") if e.reason == "sealed_before_acknowledged"]
    assert [e.details["envelope_id"] for e in withdrawn] == [envelopes["shelter"]]
