"""The token endpoint as stock OAuth clients expect it: RFC 6749 section 5.2 error bodies, RFC 7521
section 4.2 ``client_id`` checks, RFC 7523bis issuer audience, and Authlib's own client."""

from __future__ import annotations

import time
from typing import Any

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey

from connectors.assertion import ASSERTION_TYPE, client_assertion
from consent.clock import FixedClock
from crypto.keys import ed25519_private_jwk
from tests.conftest import ISSUER, Registry
from tests.exchange.conftest import LiveGateway

TOKEN_URL = f"{ISSUER}/oauth/token"


def _form(assertion: str, **extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, **extra}


def _refusals(registry: Registry, clock: FixedClock) -> dict[str, dict[str, str]]:
    seed = registry.keys["ngo"].signing_seed
    now = clock.now().timestamp()
    good = client_assertion("ngo", seed, TOKEN_URL, now=now)
    return {
        "no_grant_type": {"client_assertion_type": ASSERTION_TYPE, "client_assertion": good},
        "password_grant": {**_form(client_assertion("ngo", seed, TOKEN_URL, now=now)), "grant_type": "password"},
        "no_assertion": {"grant_type": "client_credentials"},
        "garbage_assertion": _form("not.a.jwt"),
        "expired": _form(client_assertion("ngo", seed, TOKEN_URL, now=now - 3600)),
        "an_hour_long": _form(client_assertion("ngo", seed, TOKEN_URL, now=now, ttl_s=3600)),
        "other_audience": _form(client_assertion("ngo", seed, "https://elsewhere.example/oauth/token", now=now)),
        "other_client_id": _form(client_assertion("ngo", seed, TOKEN_URL, now=now), client_id="police"),
        "unknown_client": _form(client_assertion("nobody", seed, TOKEN_URL, now=now)),
    }


@pytest.mark.parametrize("case", ["no_grant_type", "password_grant", "no_assertion", "garbage_assertion", "expired",
                                  "an_hour_long", "other_audience", "other_client_id", "unknown_client"])
def test_every_token_error_carries_error_and_error_description(
    client: TestClient, registry: Registry, clock: FixedClock, case: str,
) -> None:
    response = client.post("/oauth/token", data=_refusals(registry, clock)[case])
    assert response.status_code in (400, 401), response.text
    body = response.json()
    assert "access_token" not in body
    assert body["error"] in {"invalid_request", "invalid_client", "unsupported_grant_type"}
    assert isinstance(body["error_description"], str) and len(body["error_description"]) > 15
    assert response.headers["cache-control"] == "no-store"


def test_an_assertion_that_lives_an_hour_says_why_it_was_refused(
    client: TestClient, registry: Registry, clock: FixedClock,
) -> None:
    body = client.post("/oauth/token", data=_refusals(registry, clock)["an_hour_long"]).json()
    assert "lives too long" in body["error_description"]
    assert "300 s" in body["error_description"]


def test_client_id_must_name_the_assertions_client(client: TestClient, registry: Registry, clock: FixedClock) -> None:
    """RFC 7521 section 4.2: the ngo's own assertion with client_id=police is refused, not ignored."""
    seed = registry.keys["ngo"].signing_seed
    now = clock.now().timestamp()
    refused = client.post("/oauth/token", data=_form(client_assertion("ngo", seed, TOKEN_URL, now=now),
                                                     client_id="police"))
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert "client_id" in refused.json()["error_description"]
    same = client.post("/oauth/token", data=_form(client_assertion("ngo", seed, TOKEN_URL, now=now),
                                                  client_id="ngo"))
    assert same.status_code == 200, same.text


def test_the_issuer_is_an_accepted_audience(client: TestClient, registry: Registry, clock: FixedClock) -> None:
    """RFC 7523bis: the authorization server's issuer identifier as the assertion's audience."""
    seed = registry.keys["ngo"].signing_seed
    now = clock.now().timestamp()
    response = client.post("/oauth/token", data=_form(client_assertion("ngo", seed, ISSUER, now=now)))
    assert response.status_code == 200, response.text
    foreign = client.post("/oauth/token", data=_form(client_assertion("ngo", seed, "https://other.example", now=now)))
    assert foreign.status_code == 401


def _stock_client(live: LiveGateway, agency_id: str, *, expires_in: int | None) -> OAuth2Client:
    token_url = f"{live.url}/oauth/token"
    key = OKPKey.import_key({k: v for k, v in ed25519_private_jwk(live.registry.keys[agency_id].signing_seed).items()
                             if k != "alg"})
    claims: dict[str, Any] | None = None
    if expires_in is not None:
        # The only change from Authlib's defaults: an assertion that lives minutes, not an hour.
        claims = {"exp": int(time.time()) + expires_in}
    session = OAuth2Client(agency_id, key, token_endpoint_auth_method="private_key_jwt")
    session.register_client_auth_method(PrivateKeyJWT(token_url, alg="EdDSA", claims=claims))
    return session


def test_stock_authlib_oauth2client_with_private_key_jwt_obtains_a_token(live_gateway: LiveGateway) -> None:
    with _stock_client(live_gateway, "ngo", expires_in=None) as hour_long, \
            pytest.raises(Exception, match="lives too long"):
        hour_long.fetch_token(f"{live_gateway.url}/oauth/token", grant_type="client_credentials")
    with _stock_client(live_gateway, "ngo", expires_in=120) as session:
        token = session.fetch_token(f"{live_gateway.url}/oauth/token", grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        me = session.get(f"{live_gateway.url}/v1/agencies/me")
    assert me.status_code == 200
    assert me.json()["id"] == "ngo"
