"""Signed receipts verify with the gateway's published key; tampering fails; the access code is shown once."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent import PortalAccess, verify_access_code, verify_receipt
from crypto.encoding import b64u_decode
from crypto.errors import InvalidSignature
from crypto.keys import generate_signing_seed, signing_public_key
from gateway.audit.models import AuditEntry
from gateway.consent_api.adapters import secret_hasher
from gateway.context import GatewayContext
from tests.consent.conftest import Auth
from tests.support.pseudonyms import pseudonym_of

Grant = Callable[..., dict[str, Any]]


def published_key(client: TestClient, kid: str) -> bytes:
    """The gateway's public key, fetched as any verifier would: from /.well-known/jwks.json."""
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    (jwk,) = [k for k in keys if k["kid"] == kid]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    return b64u_decode(jwk["x"])


def header(token: str) -> dict[str, Any]:
    return dict(json.loads(b64u_decode(token.split(".", maxsplit=1)[0])))


@pytest.mark.rule("CR14", "CR5")
def test_grant_and_withdrawal_receipts_verify_with_the_published_key(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], grant: Grant
) -> None:
    """Receipts list purpose, recipients (ids and names), scope, classes, dates and how to withdraw."""
    sid = new_subject()
    created = grant(sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}])
    token = created["receipt"]
    key = published_key(client, header(token)["kid"])
    claims = verify_receipt(token, key)
    assert claims["receipt_id"] == created["receipt_id"]
    assert {k: claims[k] for k in ("kind", "consent_id", "subject", "purpose", "scope", "data_classes")} == {
        "kind": "grant", "consent_id": created["consent"]["id"], "subject": sid, "purpose": "healthcare",
        "scope": "relevant_portion", "data_classes": ["D1", "D5", "D12"]}
    assert claims["recipients"] == [{"agency_id": "clinic", "name": "clinic agency"}]
    assert (claims["obtained_at"], claims["expires_at"]) == ("2026-11-24T10:00:00Z", "2027-02-22T10:00:00Z")
    assert claims["how_to_withdraw"] == {
        "one_step": True, "portal": "https://testserver/portal", "advocate_agency_id": "ngo",
        "api": f"POST /v1/consents/{created['consent']['id']}/withdraw"}

    withdrawn = client.post(f"/v1/consents/{created['consent']['id']}/withdraw", headers=auth("ngo"),
                            json={"channel": "portal"}).json()
    w_claims = verify_receipt(withdrawn["receipt"], key)
    assert (w_claims["kind"], w_claims["withdrawn_at"]) == ("withdrawal", "2026-11-24T10:00:00Z")


def test_a_tampered_or_foreign_receipt_fails(client: TestClient, new_subject: Callable[..., str],
                                            grant: Grant) -> None:
    token = grant(new_subject())["receipt"]
    key = published_key(client, header(token)["kid"])
    head, payload, signature = token.split(".")
    claims = json.loads(b64u_decode(payload))
    claims["recipients"].append({"agency_id": "police", "name": "police agency"})
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        verify_receipt(f"{head}.{forged_payload}.{signature}", key)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidSignature):
        verify_receipt(f"{head}.{payload}.{flipped}", key)
    with pytest.raises(InvalidSignature):
        verify_receipt(token, signing_public_key(generate_signing_seed()))


@pytest.mark.rule("ASVS-6.4")
def test_the_access_code_is_shown_once_and_stored_only_as_an_argon2id_hash(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], grant: Grant, ctx: GatewayContext
) -> None:
    sid = new_subject()
    first = grant(sid)
    code = first["access_code"]
    assert first["access_code_status"] == "issued"
    groups = code.split("-")
    assert len(groups) == 4 and all(len(g) == 4 for g in groups)
    later = grant(sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}])
    assert (later["access_code"], later["access_code_status"]) == (None, "existing")
    with ctx.sessions() as session:
        row = session.get(PortalAccess, sid)
        assert row is not None
        assert row.locator == groups[0]
        assert row.code_hash.startswith("$argon2id$")
        assert "-".join(groups[1:]) not in row.code_hash
        hasher = secret_hasher(ctx)
        assert verify_access_code(session, code.lower().replace("-", " "), hasher=hasher) == sid
        assert verify_access_code(session, groups[0] + "-2222-2222-2222", hasher=hasher) is None
        assert verify_access_code(session, "ZZZZ-2222-2222-2222", hasher=hasher) in (None,)
        assert verify_access_code(session, "not a code", hasher=hasher) is None
        audit = " ".join(str(e.details) for e in session.scalars(select(AuditEntry)))
    assert groups[1] not in audit and groups[0] not in audit

    reissued = grant(sid, purpose="shelter", reissue_access_code=True)
    assert reissued["access_code_status"] == "reissued"
    new_code = reissued["access_code"]
    assert new_code and new_code != code
    mine = AuditEntry.subject_id == pseudonym_of(ctx, sid)
    with ctx.sessions() as session:
        assert verify_access_code(session, code, hasher=secret_hasher(ctx)) is None  # the old code is dead
        assert verify_access_code(session, new_code, hasher=secret_hasher(ctx)) == sid
        actions = [e.action for e in session.scalars(select(AuditEntry).where(mine))]
    assert actions.count("portal:access_code:issue") == 1 and actions.count("portal:access_code:rotate") == 1
