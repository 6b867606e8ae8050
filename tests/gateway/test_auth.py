"""Agency authentication: private_key_jwt client assertions and short-lived EdDSA access tokens."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey

from connectors.assertion import ASSERTION_TYPE, client_assertion, token_request_form
from consent.clock import FixedClock
from crypto.keys import ed25519_public_jwk, generate_agency_keys, generate_signing_seed
from gateway.audit.log import Actor
from gateway.auth.tokens import TokenAuthority
from gateway.context import GatewayContext
from gateway.registry import service
from gateway.registry.models import Agency, VettingStatus
from tests.conftest import ISSUER, Registry, TokenFor

TOKEN_URL = f"{ISSUER}/oauth/token"


def _token_request(client: TestClient, form: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post("/oauth/token", data=form)


def test_client_credentials_with_ed25519_assertion_issues_short_lived_token(
    client: TestClient, registry: Registry, clock: FixedClock
) -> None:
    form = token_request_form("ngo", registry.keys["ngo"].signing_seed, TOKEN_URL, now=clock.now().timestamp())
    response = _token_request(client, form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 300
    assert response.headers["cache-control"] == "no-store"
    me = client.get("/v1/agencies/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == "ngo"


def test_scope_can_be_narrowed_but_not_widened(client: TestClient, token_for: TokenFor) -> None:
    token = token_for("ngo", "registry:read registry:admin")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["scope"] == "registry:read"


def test_replayed_assertion_jti_is_refused(client: TestClient, registry: Registry, clock: FixedClock) -> None:
    form = token_request_form("ngo", registry.keys["ngo"].signing_seed, TOKEN_URL, now=clock.now().timestamp())
    assert _token_request(client, form).status_code == 200
    again = _token_request(client, form)
    assert again.status_code == 401
    assert again.json()["reason"] == "invalid_client"
    assert again.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("case", "expected"),
    [("expired", 401), ("wrong_audience", 401), ("tampered", 401), ("other_key", 401), ("too_long_lived", 401)],
)
def test_bad_assertions_are_refused(
    client: TestClient, registry: Registry, clock: FixedClock, case: str, expected: int
) -> None:
    seed = registry.keys["ngo"].signing_seed
    now = clock.now().timestamp()
    if case == "expired":
        assertion = client_assertion("ngo", seed, TOKEN_URL, now=now - 600)
    elif case == "wrong_audience":
        assertion = client_assertion("ngo", seed, "https://evil.example/oauth/token", now=now)
    elif case == "tampered":
        good = client_assertion("ngo", seed, TOKEN_URL, now=now)
        head, payload, sig = good.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = claims["iss"] = "police"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        assertion = f"{head}.{forged}.{sig}"
    elif case == "other_key":
        assertion = client_assertion("ngo", generate_agency_keys().signing_seed, TOKEN_URL, now=now)
    else:
        assertion = client_assertion("ngo", seed, TOKEN_URL, now=now, ttl_s=3600)
    response = _token_request(client, {
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion,
    })
    assert response.status_code == expected, response.text
    assert "access_token" not in response.text


def test_shared_secrets_are_never_accepted(client: TestClient, registry: Registry) -> None:
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("ngo", "secret"))
    assert response.status_code == 401


def test_pending_or_revoked_signing_key_cannot_authenticate(
    client: TestClient, ctx: GatewayContext, registry: Registry, clock: FixedClock
) -> None:
    from gateway.registry.models import AgencyKind
    from tests.conftest import register

    pending_keys, _ = register(ctx, "newcomer", AgencyKind.NGO, verified=False)
    form = token_request_form("newcomer", pending_keys.signing_seed, TOKEN_URL, now=clock.now().timestamp())
    assert _token_request(client, form).status_code == 401

    with ctx.sessions() as session, session.begin():
        service.revoke_key(session, "ngo", registry.key_ids["ngo"]["ed25519"], "compromised laptop",
                           actor=Actor(role="operator"), now=clock.now())
    form = token_request_form("ngo", registry.keys["ngo"].signing_seed, TOKEN_URL, now=clock.now().timestamp())
    assert _token_request(client, form).status_code == 401


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_missing_token_is_401_with_problem(client: TestClient, registry: Registry) -> None:
    response = client.get("/v1/agencies")
    assert response.status_code == 401
    assert response.json()["reason"] == "missing_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_expired_access_token_is_401(client: TestClient, token_for: TokenFor, clock: FixedClock) -> None:
    token = token_for("ngo")
    assert client.get("/v1/agencies", headers=_bearer(token)).status_code == 200
    clock.advance(timedelta(seconds=300 + 6))  # five minutes plus the 5 s clock-skew leeway
    response = client.get("/v1/agencies", headers=_bearer(token))
    assert response.status_code == 401
    assert response.json()["reason"] == "token_expired"


def test_tampered_access_token_is_401(client: TestClient, token_for: TokenFor) -> None:
    token = token_for("ngo")
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "operator"
    claims["scope"] = "registry:admin registry:read"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = client.get("/v1/agencies", headers=_bearer(f"{head}.{forged}.{sig}"))
    assert response.status_code == 401


def test_token_for_another_audience_or_issuer_is_401(client: TestClient, registry: Registry, clock: FixedClock,
                                                     signing_seed: bytes) -> None:
    other = TokenAuthority(signing_seed, issuer="https://other-gateway.example", ttl_s=300)
    token, _ = other.issue("ngo", ["registry:read"], clock.now())
    assert client.get("/v1/agencies", headers=_bearer(token)).status_code == 401
    foreign = TokenAuthority(generate_signing_seed(), issuer=ISSUER, ttl_s=300)
    token, _ = foreign.issue("ngo", ["registry:read"], clock.now())
    assert client.get("/v1/agencies", headers=_bearer(token)).status_code == 401


def test_alg_none_and_hs256_confusion_are_401(client: TestClient, registry: Registry, clock: FixedClock,
                                              signing_seed: bytes) -> None:
    now = int(clock.now().timestamp())
    claims = {"iss": ISSUER, "sub": "operator", "aud": ISSUER + "/v1", "iat": now, "exp": now + 60,
              "jti": "x", "scope": "registry:admin registry:read"}
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert client.get("/v1/agencies", headers=_bearer(f"{header}.{body}.")).status_code == 401
    from crypto.keys import signing_public_key

    public_jwk = ed25519_public_jwk(signing_public_key(signing_seed))
    secret = OctKey.import_key(public_jwk["x"].encode())
    hs = jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, secret, algorithms=["HS256"])
    assert client.get("/v1/agencies", headers=_bearer(hs)).status_code == 401
    assert OKPKey  # the real key type used for tokens


def test_suspended_agency_loses_access_at_once(client: TestClient, ctx: GatewayContext, token_for: TokenFor) -> None:
    token = token_for("ngo")
    assert client.get("/v1/agencies", headers=_bearer(token)).status_code == 200
    with ctx.sessions() as session, session.begin():
        agency = session.get(Agency, "ngo")
        assert agency is not None
        agency.vetting_status = VettingStatus.SUSPENDED
    response = client.get("/v1/agencies", headers=_bearer(token))
    assert response.status_code == 401
    assert response.json()["reason"] == "client_suspended"


def test_token_issue_and_refusal_are_audited(client: TestClient, ctx: GatewayContext, registry: Registry,
                                            clock: FixedClock) -> None:
    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    form = token_request_form("ngo", registry.keys["ngo"].signing_seed, TOKEN_URL, now=clock.now().timestamp())
    _token_request(client, form)
    _token_request(client, form)
    from gateway.scheduler import ScheduledJobs

    ScheduledJobs(ctx).run_once()  # refusals are written in aggregate by the scheduled jobs
    with ctx.sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert "auth:token:issue" in actions
    assert actions[-1] == "auth:token:refuse"


def test_a_token_whose_signature_was_checked_is_still_validated_on_every_use(
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The authority remembers signatures it verified, never the rest of the verdict."""
    from gateway.auth import tokens
    from gateway.errors import Unauthenticated

    authority = TokenAuthority(generate_signing_seed(), issuer=ISSUER, ttl_s=300)
    token, _ = authority.issue("ngo", ["referrals:read"], clock.now())
    assert authority.verify(token, clock.now()).agency_id == "ngo"
    assert authority.verify(token, clock.now()).scopes == frozenset({"referrals:read"})
    with pytest.raises(Unauthenticated) as expired:
        authority.verify(token, clock.now() + timedelta(seconds=306))
    assert expired.value.reason == "token_expired"
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "operator"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        authority.verify(f"{head}.{forged}.{sig}", clock.now())
    monkeypatch.setattr(tokens, "SIGNATURE_MEMO_SIZE", 8)
    for n in range(20):
        authority.verify(authority.issue(f"agency-{n}", [], clock.now())[0], clock.now())
    assert len(authority._signed) <= 8
