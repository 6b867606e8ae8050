"""Error statuses the OpenAPI document declares that need an object in a particular state (or a
person token) to reach: each is provoked here for real, with the problem document's ``reason``.
``test_api_fuzz.py::test_every_documented_error_status_is_reachable`` names these tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from crypto.keys import generate_agency_keys
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.exceptions.models import BestInterestsDecision
from tests.conftest import Registry
from tests.consent.conftest import subject_body

Auth = Callable[..., dict[str, str]]
VERIFIER: dict[str, Any] = {"person": "op-admin", "roles": ("administrator",)}
"""The operator's staff member who confirms read-back fingerprints (a person-bound act)."""


def _problem(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == reason


def test_verifying_a_key_or_endpoint_nobody_registered_or_of_another_agency_is_404(
    client: TestClient, auth: Auth, registry: Registry,
) -> None:
    verifier = auth("operator", **VERIFIER)
    key = client.post("/v1/agencies/shelter/keys", headers=auth("operator"), json={
        "kind": "x25519", "public_key": generate_agency_keys().public().encryption_b64}).json()
    endpoint = client.post("/v1/agencies/shelter/endpoints", headers=auth("operator"),
                           json={"url": "https://shelter.example/inbox"}).json()
    read_back = {"fingerprint": key["fingerprint"]}
    _problem(client.post("/v1/agencies/shelter/keys/key_nobody/verify", headers=verifier, json=read_back),
             404, "unknown_key")
    # The shelter's real key, asked for under another agency, is as unknown as an absent one.
    _problem(client.post(f"/v1/agencies/police/keys/{key['id']}/verify", headers=verifier, json=read_back),
             404, "unknown_key")
    ep_back = {"fingerprint": endpoint["fingerprint"]}
    _problem(client.post("/v1/agencies/shelter/endpoints/ep_nobody/verify", headers=verifier, json=ep_back),
             404, "unknown_endpoint")
    _problem(client.post(f"/v1/agencies/police/endpoints/{endpoint['id']}/verify", headers=verifier,
                         json=ep_back), 404, "unknown_endpoint")
    # Both are still pending: nothing was verified by the refused calls.
    assert client.get(f"/v1/agencies/shelter/keys/{key['id']}", headers=auth("ngo")).json()["status"] == "pending"
    shown = client.get(f"/v1/agencies/shelter/endpoints/{endpoint['id']}", headers=auth("operator")).json()
    assert shown["status"] == "pending"


def test_an_entry_after_the_latest_checkpoint_has_no_inclusion_proof_yet_409(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
) -> None:
    def newest_of_ngo() -> int:
        with ctx.sessions() as session:
            seq = session.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.actor_agency_id == "ngo"))
        assert seq is not None
        return int(seq)

    reader = auth("ngo", "audit:read")
    assert client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).status_code == 201
    before = newest_of_ngo()
    _problem(client.get(f"/v1/audit/entries/{before}/inclusion-proof", headers=reader), 409, "not_checkpointed")
    assert client.post("/v1/audit/checkpoints", headers=auth("operator")).status_code == 201
    assert client.get(f"/v1/audit/entries/{before}/inclusion-proof", headers=reader).status_code == 200
    assert client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).status_code == 201
    after = newest_of_ngo()
    assert after > before
    _problem(client.get(f"/v1/audit/entries/{after}/inclusion-proof", headers=reader), 409, "not_checkpointed")


def test_a_best_interests_reference_that_is_text_not_a_code_is_422_and_nothing_is_stored(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
) -> None:
    child = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(age_band="12-15")).json()
    decider = auth("ngo", person="staff-1")
    url = f"/v1/children/{child['id']}/best-interests"
    _problem(client.post(url, headers=decider, json={"reference": "Talked to Amina, mother abusive",
                                                     "decision_code": "placement"}), 422, "invalid_request")
    _problem(client.post(url, headers=decider, json={"reference": "BID-2026-17", "decision_code": "placement",
                                                     "notes": "Amina"}), 422, "unknown_field")
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(BestInterestsDecision)) == 0
    assert client.post(url, headers=decider, json={"reference": "BID-2026-17",
                                                   "decision_code": "placement"}).status_code == 201


def test_an_answer_that_tries_to_choose_its_own_fields_is_422_and_the_request_stays_open(
    client: TestClient, auth: Auth, registry: Registry,
) -> None:
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()
    asked = client.post("/v1/information-requests", headers=auth("shelter"), json={
        "holder_agency_id": "ngo", "subject_ref": subject["id"], "purpose": "shelter",
        "fields": ["risk.level"], "basis": "consent"})
    assert asked.status_code == 201, asked.text
    url = f"/v1/information-requests/{asked.json()['id']}"
    _problem(client.post(f"{url}/answer", headers=auth("ngo"), json={"fields": ["subject.preferred_name"]}),
             422, "unknown_field")
    assert client.get(url, headers=auth("ngo")).json()["status"] == "open"


def test_portal_access_of_a_person_without_an_access_code_is_409(
    client: TestClient, auth: Auth, registry: Registry,
) -> None:
    """The code comes with the first consent: before it, reading or unlocking the access is a conflict."""
    subject = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()
    base = f"/v1/subjects/{subject['id']}/portal-access"
    _problem(client.get(base, headers=auth("ngo")), 409, "no_access_code")
    _problem(client.post(f"{base}/unlock", headers=auth("ngo", person="advocate")), 409, "no_access_code")


def test_the_statuses_kept_out_of_the_document_are_not_answered(
    app: Any, client: TestClient, auth: Auth, registry: Registry,
) -> None:
    """``gateway.openapi.NOT_REACHABLE``: an enrolment names no agency by itself (the secret does,
    and is refused first), and the public key events of an unknown agency are an empty list."""
    from gateway.openapi import NOT_REACHABLE, build_openapi

    issued = client.post("/v1/agencies/shelter/enrolment-secrets", headers=auth("operator"))
    assert issued.status_code == 201, issued.text
    body = {"secret": issued.json()["secret"], "bindings": [{"binding": {"kind": "ed25519"}, "signature": "A" * 86}]}
    _problem(client.post("/v1/agencies/agency-nobody/enrol", json=body), 403, "enrolment_refused")
    events = client.get("/v1/agencies/agency-nobody/key-events")
    assert events.status_code == 200 and events.json() == []
    doc = build_openapi(app)
    for (method, path), statuses in NOT_REACHABLE.items():
        assert not {str(s) for s in statuses} & set(doc["paths"][path][method]["responses"])
