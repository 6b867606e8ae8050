"""Deliver: inbox pull, idempotent acknowledgement, purge after retention, expiry, signed webhook pushes."""

from __future__ import annotations

import json
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.referral import open_referral
from consent.clock import FixedClock
from crypto.encoding import b64u_decode
from crypto.signing import verify
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.exchange.delivery import backoff, push_due
from gateway.exchange.models import DeliveryAttempt, Envelope, EnvelopePart
from gateway.exchange.service import purge
from tests.conftest import Registry
from tests.exchange.conftest import FIELDS, RECIPIENT, SENDER, Auth, Case, plan, sealed, submit
from tests.support.https_server import https_receiver

#: The operator's staff member who confirms read-back fingerprints (a person-bound act).
VERIFIER: dict[str, Any] = {"person": "op-admin", "roles": ("administrator",)}


def _send(client: TestClient, auth: Auth, registry: Registry, case: Case, endpoint_id: str | None = None) -> str:
    body = sealed(client, auth, registry, plan(client, auth, case))
    if endpoint_id:
        body["endpoint_id"] = endpoint_id
    response = submit(client, auth, body, key=f"k-{body['manifest']['envelope_id']}")
    assert response.status_code == 201, response.text
    return str(response.json()["envelope_id"])


def _actions(ctx: GatewayContext) -> list[str]:
    with ctx.sessions() as session:
        return [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def test_recipient_pulls_opens_and_acknowledges(client: TestClient, auth: Auth, registry: Registry, case: Case,
                                                ctx: GatewayContext) -> None:
    envelope_id = _send(client, auth, registry, case)
    assert client.get(f"/v1/outbox/{envelope_id}", headers=auth(SENDER)).json()["status"] == "queued"
    inbox = client.get("/v1/inbox", headers=auth(RECIPIENT)).json()
    assert [e["envelope_id"] for e in inbox] == [envelope_id]
    sender_key = client.get(f"/v1/agencies/{SENDER}/keys/{inbox[0]['sender_key_id']}", headers=auth(RECIPIENT)).json()
    opened = open_referral(inbox[0], recipient_agency_id=RECIPIENT, recipient_keys=registry.keys[RECIPIENT],
                           sender_signing_public_b64=sender_key["public_key"])
    assert opened.fields == FIELDS
    assert client.get(f"/v1/outbox/{envelope_id}", headers=auth(SENDER)).json()["status"] == "delivered"
    first = client.post(f"/v1/envelopes/{envelope_id}/ack", headers=auth(RECIPIENT))
    second = client.post(f"/v1/envelopes/{envelope_id}/ack", headers=auth(RECIPIENT))
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert _actions(ctx).count("exchange:envelope:ack") == 1
    assert client.get("/v1/inbox", headers=auth(RECIPIENT)).json() == []
    assert client.get("/v1/inbox", headers=auth("police")).json() == []  # nobody else sees it


def test_ciphertext_is_purged_after_ack_plus_retention(client: TestClient, auth: Auth, registry: Registry,
                                                       case: Case, ctx: GatewayContext, clock: FixedClock) -> None:
    envelope_id = _send(client, auth, registry, case)
    client.post(f"/v1/envelopes/{envelope_id}/ack", headers=auth(RECIPIENT))
    assert purge(ctx) == {"purged": 0, "expired": 0}
    clock.advance(timedelta(seconds=ctx.settings.ciphertext_retention_s + 1))
    assert purge(ctx) == {"purged": 1, "expired": 0}
    with ctx.sessions() as session:
        assert session.scalars(select(EnvelopePart)).all() == []
        envelope = session.get(Envelope, envelope_id)
        assert envelope is not None and envelope.status == "purged"
    assert "exchange:envelope:purge" in _actions(ctx)


def test_never_acknowledged_envelope_expires_and_the_sender_is_told(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext, clock: FixedClock
) -> None:
    envelope_id = _send(client, auth, registry, case)
    clock.advance(timedelta(seconds=ctx.settings.undelivered_expiry_s + 1))
    assert purge(ctx) == {"purged": 0, "expired": 1}
    assert client.get(f"/v1/outbox/{envelope_id}", headers=auth(SENDER)).json()["status"] == "expired"
    assert client.get("/v1/inbox", headers=auth(RECIPIENT)).json() == []
    late = client.post(f"/v1/envelopes/{envelope_id}/ack", headers=auth(RECIPIENT))
    assert late.status_code == 409
    assert late.json()["reason"] == "envelope_expired"
    with ctx.sessions() as session:
        expired = session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange:envelope:expire")).one()
    assert expired.details["sender_agency_id"] == SENDER


def _verified_endpoint(client: TestClient, auth: Auth, url: str) -> str:
    ep = client.post(f"/v1/agencies/{RECIPIENT}/endpoints", headers=auth(RECIPIENT), json={"url": url}).json()
    verified = client.post(f"/v1/agencies/{RECIPIENT}/endpoints/{ep['id']}/verify",
                           headers=auth("operator", **VERIFIER),
                           json={"fingerprint": ep["fingerprint"]})
    assert verified.status_code == 200
    return str(ep["id"])


def test_signed_webhook_push_with_retries_and_backoff(client: TestClient, auth: Auth, registry: Registry,
                                                      case: Case, ctx: GatewayContext, clock: FixedClock,
                                                      tmp_path: Path, signing_seed: bytes) -> None:
    with https_receiver(tmp_path, fail_first=2) as receiver:
        endpoint_id = _verified_endpoint(client, auth, receiver.url)
        envelope_id = _send(client, auth, registry, case, endpoint_id)
        with httpx.Client(verify=ssl.create_default_context(cafile=str(receiver.ca_file)), timeout=5) as http:
            assert push_due(ctx, http) == {"delivered": 0, "failed": 1}
            assert push_due(ctx, http) == {"delivered": 0, "failed": 0}  # backing off, nothing due yet
            clock.advance(backoff(1, rand=lambda: 1.0))
            assert push_due(ctx, http) == {"delivered": 0, "failed": 1}
            clock.advance(backoff(2, rand=lambda: 1.0))
            assert push_due(ctx, http) == {"delivered": 1, "failed": 0}
        headers, body = receiver.received[0]
        # The webhook key is one of its own (not the token key), published in the JWKS under its kid.
        assert ctx.keyring is not None and headers["gateway-key-id"] == ctx.keyring.current("webhooks").kid
        verify(ctx.keyring.current("webhooks").public_key, body, b64u_decode(headers["gateway-signature"]))
        document = json.loads(body)
        assert document["envelope_id"] == envelope_id
    with ctx.sessions() as session:
        outcomes = [a.outcome for a in session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))]
    assert outcomes == ["failed", "failed", "delivered"]
    assert client.get(f"/v1/outbox/{envelope_id}", headers=auth(SENDER)).json()["status"] == "delivered"


def test_no_push_to_an_endpoint_revoked_after_submit(client: TestClient, auth: Auth, registry: Registry,
                                                     case: Case, ctx: GatewayContext, tmp_path: Path) -> None:
    with https_receiver(tmp_path) as receiver:
        endpoint_id = _verified_endpoint(client, auth, receiver.url)
        envelope_id = _send(client, auth, registry, case, endpoint_id)
        client.post(f"/v1/agencies/{RECIPIENT}/endpoints/{endpoint_id}/revoke", headers=auth(RECIPIENT),
                    json={"reason": "server compromised"})
        with httpx.Client(verify=ssl.create_default_context(cafile=str(receiver.ca_file)), timeout=5) as http:
            assert push_due(ctx, http) == {"delivered": 0, "failed": 0}
        assert receiver.calls == 0
    # It still waits in the inbox for a pull.
    assert [e["envelope_id"] for e in client.get("/v1/inbox", headers=auth(RECIPIENT)).json()] == [envelope_id]


def test_backoff_grows_and_is_capped() -> None:
    delays = [backoff(n, rand=lambda: 0.5).total_seconds() for n in range(1, 15)]
    assert delays[:3] == [5.0, 10.0, 20.0]
    assert delays == sorted(delays)
    assert max(delays) == 3600.0


def test_inbox_hands_out_several_envelopes_oldest_first_each_with_its_own_ciphertexts(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext, clock: FixedClock
) -> None:
    sent = []
    for _ in range(3):
        sent.append(_send(client, auth, registry, case))
        clock.advance(timedelta(seconds=1))
    inbox = client.get("/v1/inbox", headers=auth(RECIPIENT)).json()
    assert [e["envelope_id"] for e in inbox] == sent
    sender_key = client.get(f"/v1/agencies/{SENDER}/keys/{inbox[0]['sender_key_id']}", headers=auth(RECIPIENT)).json()
    for envelope in inbox:
        assert envelope["status"] == "delivered"
        opened = open_referral(envelope, recipient_agency_id=RECIPIENT, recipient_keys=registry.keys[RECIPIENT],
                               sender_signing_public_b64=sender_key["public_key"])
        assert opened.fields == FIELDS
    assert _actions(ctx).count("exchange:envelope:deliver") == 3
    limited = client.get("/v1/inbox", params={"limit": 2}, headers=auth(RECIPIENT)).json()
    assert [e["envelope_id"] for e in limited] == sent[:2]
    assert _actions(ctx).count("exchange:envelope:deliver") == 3  # delivered once, audited once
