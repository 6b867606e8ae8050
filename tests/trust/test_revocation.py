"""Revocations the agency signs are proven to senders; a gateway hiding one is caught.

The shelter revokes its encryption key with its own signature (``registry:key:revoke_signed``).
The gateway stops relaying to it; a sender whose gateway served it anyway refuses it with
``key_revoked``, proven in the witnessed log; the operator's database write that "un-revokes"
the key changes nothing (the gateway reads revocations from the log); and a gateway that hides
the revocation from the shelter is caught by the shelter's own monitor (``revocation_hidden``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError
from connectors.key_pins import KeyNotTrusted, KeyPins
from crypto.keys import generate_agency_keys
from crypto.revocation import make_revocation
from gateway.registry.models import AgencyKey, TrustStatus
from tests.support.pins import pins_for
from tests.trust.conftest import WitnessedGateway
from tests.trust.test_history_rewrite import activity


def witness_now(gw: WitnessedGateway) -> None:
    gw.checkpoint()
    gw.witness_round()


@contextmanager
def hiding(upstream: str) -> Iterator[httpx.MockTransport]:
    """A gateway whose code was changed to hide revocations: it forwards to the real one and strips
    every signed revocation from what it answers, showing the key as verified again."""
    real = httpx.Client(base_url=upstream)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = real.request(request.method, request.url.path, params=request.url.params,
                              content=request.content, headers={k: v for k, v in request.headers.items()
                                                                if k.lower() not in ("host", "content-length")})
        if "json" not in answer.headers.get("content-type", "") or answer.status_code >= 400:
            return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

        def scrub(value: Any) -> Any:
            if isinstance(value, list):
                return [scrub(v) for v in value if not (isinstance(v, dict) and (
                    v.get("action") == "registry:key:revoke_signed"
                    or (v.get("entry") or {}).get("action") == "registry:key:revoke_signed"))]
            if isinstance(value, dict):
                return {k: ("verified" if k == "status" and v == "revoked" else scrub(v)) for k, v in value.items()}
            return value

        return httpx.Response(answer.status_code, json=scrub(answer.json()))

    try:
        yield httpx.MockTransport(handle)
    finally:
        real.close()


def test_a_signed_revocation_is_proven_to_senders_and_cannot_be_hidden(
    witnessed_gateway: WitnessedGateway, tmp_path: Path,
) -> None:
    gw = witnessed_gateway
    activity(gw.ctx, 1)
    witness_now(gw)
    old_id = gw.registry.key_ids["shelter"]["x25519"]
    old = gw.registry.keys["shelter"].public()
    old_key = {"kind": "x25519", "public_key": old.encryption_b64,
               "fingerprint": old.fingerprints()["encryption"]}
    with gw.client("ngo", "ngo-head.json", pins=pins_for(gw.registry.keys)) as ngo, \
            gw.client("shelter", "shelter-head.json") as shelter:
        assert ngo.recipient_key("shelter")["key_id"] == old_id
        # Someone else cannot revoke the shelter's key: the signature is the authority.
        forged, signature = make_revocation(agency_id="shelter", kind="x25519", public_key_b64=old.encryption_b64,
                                            reason="forged", signing_seed=generate_agency_keys().signing_seed,
                                            at=datetime.now(UTC).isoformat())
        with pytest.raises(GatewayAPIError) as refused:
            ngo.request("POST", f"/v1/agencies/shelter/keys/{old_id}/revocation",
                        json={"revocation": forged, "signature": signature})
        assert refused.value.reason == "revocation_signature_invalid"

        # The shelter rotates: binds a new key, revokes the old one with its own signature.
        fresh = shelter.bind_key("x25519", generate_agency_keys().public().encryption_b64,
                                 at=datetime.now(UTC).isoformat())
        revoked = shelter.revoke_key(old_id, "x25519", old.encryption_b64, "device lost",
                                     at=datetime.now(UTC).isoformat())
        assert revoked["status"] == "revoked"
        witness_now(gw)
        # The gateway relays to the new key only.
        with pytest.raises(GatewayAPIError) as gone:
            ngo.request("GET", "/v1/agencies/shelter/recipient-key", params={"key_id": old_id})
        assert gone.value.reason == "recipient_key_revoked"
        assert ngo.recipient_key("shelter")["key_id"] == fresh["id"]  # proven by the shelter's binding
        # A gateway serving the old key anyway: the sender's SDK proves the revocation and names it.
        stale = KeyPins()
        stale.pin_public_keys("shelter", old)  # it had pinned the old key
        ngo.pins = stale
        with pytest.raises(KeyNotTrusted) as refused_key:
            ngo.trust_key("shelter", old_id, old_key)
        assert refused_key.value.reason == "key_revoked" and "device lost" in str(refused_key.value)
        assert stale.pinned("shelter", "x25519") is None  # the pin is dropped
        assert shelter.monitor_keys(known={fresh["public_key"]}, revoked={old_id}) == []

    # The operator "un-revokes" the key in the database: the gateway reads revocations from the log.
    with gw.ctx.sessions() as session, session.begin():
        session.execute(update(AgencyKey).where(AgencyKey.id == old_id).values(
            status=TrustStatus.VERIFIED, revoked_at=None, revoked_reason=None))
    with GatewayClient(gw.url, "ngo", gw.registry.keys["ngo"]) as plain:
        with pytest.raises(GatewayAPIError) as still:
            plain.request("GET", "/v1/agencies/shelter/recipient-key", params={"key_id": old_id})
        assert still.value.reason == "recipient_key_revoked"
        assert plain.request("GET", f"/v1/agencies/shelter/keys/{old_id}")["status"] == "revoked"

    # A gateway that hides the revocation from the shelter is caught by the shelter's monitor.
    with hiding(gw.url) as transport, \
            GatewayClient(gw.url, "shelter", gw.registry.keys["shelter"], transport=transport) as fooled:
        alarms = fooled.monitor_keys(known={fresh["public_key"]}, revoked={old_id})
    assert [a["key_id"] for a in alarms] == [old_id]
    assert alarms[0]["why"].startswith("revocation_hidden")
    assert json.dumps(alarms)  # plain data, for the CLI and an alerting system


def test_a_revocation_of_an_unknown_or_foreign_key_is_404_and_audited(client: Any, registry: Any, ctx: Any) -> None:
    """No token is needed (the signature is the authority), so the route must not tell a stranger
    which keys exist: an absent key, or another agency's, is the same 404 (agencies are public), and
    each refusal is audited."""
    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    body = {"revocation": {"agency_id": "ngo", "public_key": "x", "kind": "ed25519"}, "signature": "A" * 86}
    foreign = next(iter(registry.key_ids["shelter"].values()))
    cases = (("ngo", "key_absent", "unknown_key"), ("ngo", foreign, "unknown_key"),
             ("nobody", "key_absent", "unknown_agency"))
    for agency, key_id, reason in cases:
        response = client.post(f"/v1/agencies/{agency}/keys/{key_id}/revocation", json=body)
        assert response.status_code == 404 and response.json()["reason"] == reason, response.text
    with ctx.sessions() as session:
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "registry:key:revoke_refuse")).all()
    assert [e.reason for e in refused] == [reason for _, _, reason in cases]
