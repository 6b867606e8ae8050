"""Registry lifecycle: register -> verify -> revoke, from the API; nothing is addressed to an unverified key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from crypto.keys import generate_agency_keys
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from tests.conftest import Registry

#: The operator's staff member who confirms read-back fingerprints (a person-bound act).
VERIFIER: dict[str, Any] = {"person": "op-admin", "roles": ("administrator",)}

Auth = Callable[..., dict[str, str]]


def _add_key(client: TestClient, auth: Auth, agency: str, caller: str = "operator") -> dict[str, str]:
    public = generate_agency_keys().public()
    response = client.post(f"/v1/agencies/{agency}/keys", headers=auth(caller),
                           json={"kind": "x25519", "public_key": public.encryption_b64})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_operator_registers_agency_and_its_key_starts_pending(client: TestClient, auth: Auth,
                                                              registry: Registry) -> None:
    response = client.post("/v1/agencies", headers=auth("operator"), json={
        "id": "legal-aid-1", "name": "Legal aid clinic", "kind": "legal_aid", "jurisdiction": "nl",
        "mandated_reporter": False, "statutory_duties": [], "vetted": True,
        "confidentiality_policy_version": "conf-2026-1",
    })
    assert response.status_code == 201, response.text
    assert response.json()["jurisdiction"] == "NL"
    key = _add_key(client, auth, "legal-aid-1")
    assert key["status"] == "pending"
    assert len(key["fingerprint"].split("-")) == 8


def test_key_register_verify_revoke_through_the_api(client: TestClient, auth: Auth, registry: Registry) -> None:
    key = _add_key(client, auth, "shelter")
    path = f"/v1/agencies/shelter/keys/{key['id']}"
    pending = client.get(f"/v1/agencies/shelter/recipient-key?key_id={key['id']}", headers=auth("ngo"))
    assert pending.status_code == 422
    assert pending.json()["reason"] == "recipient_key_pending"

    read_back = key["fingerprint"].lower().replace("-", " ")  # as typed by a person on the phone
    verified = client.post(f"{path}/verify", headers=auth("operator", **VERIFIER), json={"fingerprint": read_back})
    assert verified.status_code == 200, verified.text
    # A fingerprint the operator confirmed does not make a key usable: only the agency's own binding does.
    assert verified.json()["status"] == "unbound"
    unbound = client.get(f"/v1/agencies/shelter/recipient-key?key_id={key['id']}", headers=auth("ngo"))
    assert unbound.status_code == 422
    assert unbound.json()["reason"] == "recipient_key_not_bound_by_agency"
    newest = client.get("/v1/agencies/shelter/recipient-key", headers=auth("ngo"))
    assert newest.json()["key_id"] == registry.key_ids["shelter"]["x25519"]  # the newer operator key is passed over

    revoked = client.post(f"{path}/revoke", headers=auth("operator"), json={"reason": "device lost"})
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    refused = client.get(f"/v1/agencies/shelter/recipient-key?key_id={key['id']}", headers=auth("ngo"))
    assert refused.status_code == 422
    assert refused.json()["reason"] == "recipient_key_revoked"
    again = client.post(f"{path}/verify", headers=auth("operator", **VERIFIER),
                        json={"fingerprint": key["fingerprint"]})
    assert again.status_code == 409
    assert again.json()["reason"] == "key_revoked"


def test_wrong_read_back_is_refused_audited_and_leaves_key_pending(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    key = _add_key(client, auth, "shelter")
    wrong = "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH"
    response = client.post(f"/v1/agencies/shelter/keys/{key['id']}/verify", headers=auth("operator", **VERIFIER),
                           json={"fingerprint": wrong})
    assert response.status_code == 422
    assert response.json()["reason"] == "fingerprint_mismatch"
    assert client.get(f"/v1/agencies/shelter/keys/{key['id']}", headers=auth("ngo")).json()["status"] == "pending"
    with ctx.sessions() as session:
        refusal = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "registry:key:verify_fail")
        ).one()
    assert (refusal.decision, refusal.reason, refusal.details["key_id"]) == ("deny", "fingerprint_mismatch", key["id"])


def test_only_the_operator_verifies(client: TestClient, auth: Auth, registry: Registry) -> None:
    key = _add_key(client, auth, "shelter", caller="shelter")
    response = client.post(f"/v1/agencies/shelter/keys/{key['id']}/verify", headers=auth("shelter"),
                           json={"fingerprint": key["fingerprint"]})
    assert response.status_code == 403
    assert response.json()["reason"] == "operator_only"
    # Nor the operator's system on its own: a person of the operator confirms what they read back.
    system = client.post(f"/v1/agencies/shelter/keys/{key['id']}/verify", headers=auth("operator", system=True),
                         json={"fingerprint": key["fingerprint"]})
    assert system.status_code == 403 and system.json()["reason"] == "person_token_required"
    clerk = client.post(f"/v1/agencies/shelter/keys/{key['id']}/verify",
                        headers=auth("operator", person="op-clerk", roles=("caseworker",)),
                        json={"fingerprint": key["fingerprint"]})
    assert clerk.status_code == 403 and clerk.json()["reason"] == "role_not_entitled"


def test_newest_verified_key_is_addressed_and_none_left_is_refused(
    client: TestClient, auth: Auth, registry: Registry
) -> None:
    old_id = registry.key_ids["clinic"]["x25519"]
    current = client.get("/v1/agencies/clinic/recipient-key", headers=auth("ngo")).json()
    assert current["key_id"] == old_id
    client.post(f"/v1/agencies/clinic/keys/{old_id}/revoke", headers=auth("clinic"), json={"reason": "rotated"})
    response = client.get("/v1/agencies/clinic/recipient-key", headers=auth("ngo"))
    assert response.status_code == 422
    assert response.json()["reason"] == "no_verified_key"


def test_unknown_and_operator_recipients_are_refused(client: TestClient, auth: Auth, registry: Registry) -> None:
    unknown = client.get("/v1/agencies/nobody/recipient-key", headers=auth("ngo"))
    assert unknown.json()["reason"] == "unknown_recipient"
    operator = client.get("/v1/agencies/operator/recipient-key", headers=auth("ngo"))
    assert operator.json()["reason"] == "recipient_not_addressable"


def test_endpoint_lifecycle_and_https_only(client: TestClient, auth: Auth, registry: Registry) -> None:
    plain = client.post("/v1/agencies/shelter/endpoints", headers=auth("shelter"),
                        json={"url": "http://shelter.example/hook"})
    assert plain.status_code == 422
    assert plain.json()["reason"] == "invalid_endpoint_url"
    created = client.post("/v1/agencies/shelter/endpoints", headers=auth("shelter"),
                          json={"url": "https://shelter.example/hook"})
    assert created.status_code == 201
    ep = created.json()
    assert ep["status"] == "pending"
    verified = client.post(f"/v1/agencies/shelter/endpoints/{ep['id']}/verify", headers=auth("operator", **VERIFIER),
                           json={"fingerprint": ep["fingerprint"]})
    assert verified.json()["status"] == "verified"
    # Other agencies never see where an agency receives pushes.
    listing = client.get("/v1/agencies/shelter", headers=auth("ngo")).json()
    assert listing["endpoints"] is None
    revoked = client.post(f"/v1/agencies/shelter/endpoints/{ep['id']}/revoke", headers=auth("shelter"),
                          json={"reason": "moved"})
    assert revoked.json()["status"] == "revoked"


def test_directory_lists_agencies_with_key_fingerprints_but_not_the_operator(
    client: TestClient, auth: Auth, registry: Registry
) -> None:
    listing = client.get("/v1/agencies", headers=auth("ngo"))
    assert listing.status_code == 200
    ids = {a["id"] for a in listing.json()}
    assert {"iom", "unhcr", "police", "shelter", "clinic", "ngo"} <= ids
    assert "operator" not in ids
    clinic = next(a for a in listing.json() if a["id"] == "clinic")
    assert {k["status"] for k in clinic["keys"]} == {"verified"}


def test_registry_changes_are_audited_in_the_same_transaction(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    key = _add_key(client, auth, "shelter")
    with ctx.sessions() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "registry:key:add")))
    assert any(e.details.get("key_id") == key["id"] for e in entries)
    seqs = []
    with ctx.sessions() as session:
        seqs = [e.seq for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert seqs == list(range(len(seqs)))  # gapless leaf indexes
