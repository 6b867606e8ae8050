"""Recovery and revocation end a person's tokens at once (issue #16): an access token exchanged for a
person (RFC 8693) and a person token not yet exchanged both carry the account's generation, and a
request with an older one is refused on the very next request, with its reason, and audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.clock import FixedClock
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from tests.conftest import Registry
from tests.support.staff import People, exchange_form, new_staff

OWNER = "ngo"


def _refusal_reasons(ctx: GatewayContext) -> list[str | None]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry.reason).where(AuditEntry.action == "staff:person:refuse")
                                    .order_by(AuditEntry.seq)))


@pytest.mark.parametrize("step", ["recovery", "revocation"])
def test_the_old_exchanged_token_is_refused_the_moment_the_account_is_recovered_or_revoked(
    client: TestClient, people: People, registry: Registry, ctx: GatewayContext, step: str,
) -> None:
    admin = people.headers(OWNER, "ada", "administrator")
    member = people.get(OWNER, "lost-phone", "caseworker")
    stolen = people.headers(OWNER, "lost-phone")  # what the thief's copy of the device still holds
    assert client.get("/v1/staff/me", headers=stolen).json()["person"]["account_id"] == member.account_id

    done = client.post(f"/v1/staff/accounts/{member.account_id}/{step}", headers=admin)
    assert done.status_code == 200, done.text

    # Same clock instant: the token has all of its five minutes left, and is refused anyway.
    refused = client.get("/v1/staff/me", headers=stolen)
    assert refused.status_code == 401
    expected = "person_token_revoked" if step == "recovery" else "person_not_active"
    assert refused.json()["reason"] == expected
    if step == "recovery":
        assert _refusal_reasons(ctx)[-1] == "person_token_revoked"
        # After recovery the person signs in again: a fresh token (new generation) works.
        fresh = people.headers(OWNER, "lost-phone")
        assert client.get("/v1/staff/me", headers=fresh).json()["person"]["account_id"] == member.account_id
        # ... and the old one stays refused.
        assert client.get("/v1/staff/me", headers=stolen).json()["reason"] == "person_token_revoked"


def test_a_person_token_issued_before_recovery_cannot_be_exchanged_after_it(
    client: TestClient, people: People, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    admin = people.headers(OWNER, "ada", "administrator")
    member = new_staff(ctx, OWNER, "caseworker", password=None)
    before, _ttl = ctx.tokens.issue_person_token(member.account_id, OWNER, clock.now(), 0)
    assert client.post(f"/v1/staff/accounts/{member.account_id}/recovery", headers=admin).status_code == 200
    refused = client.post("/oauth/token", data=exchange_form(registry, OWNER, before, clock))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert "recovered or revoked" in refused.json()["error_description"]


def test_a_forged_generation_claim_is_not_accepted(
    client: TestClient, people: People, registry: Registry, ctx: GatewayContext, clock: FixedClock,
) -> None:
    """The generation is signed into the token: a client cannot write a newer one into an old token,
    and a person token claiming a generation the account never had is refused at the exchange."""
    member = new_staff(ctx, OWNER, "caseworker", password=None)
    ahead, _ttl = ctx.tokens.issue_person_token(member.account_id, OWNER, clock.now(), 7)
    refused = client.post("/oauth/token", data=exchange_form(registry, OWNER, ahead, clock))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    token = people.headers(OWNER, "x")["Authorization"].split()[1]
    head, body, signature = token.split(".")
    tampered = f"{head}.{body[:-2]}AA.{signature}"
    assert client.get("/v1/staff/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
