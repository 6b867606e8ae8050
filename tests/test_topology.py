"""The production shape run for real: Caddy (TLS, internal CA) -> two ``gateway serve`` replicas ->
one PostgreSQL, with the OPA server; see tests/support/topology.py. Agencies use the SDK over HTTPS
through Caddy only, verifying its CA.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from connectors.client import GatewayClient
from crypto.keys import generate_signing_seed, signing_public_key
from gateway.app import build_context
from gateway.audit.verify import verify_database
from gateway.context import GatewayContext
from gateway.settings import Settings
from gateway.web.models import LoginThrottle
from gateway.web.throttle import ThrottleKey
from tests.conftest import AGENCIES, Registry, register
from tests.support.postgres import throwaway_cluster
from tests.support.topology import AGENCY_HOST, PROXY_SOURCE, Topology, production_shape

SENDERS = ("ngo", "iom", "unhcr")
RECIPIENT = "shelter"


@dataclass
class Shape:
    topology: Topology
    ctx: GatewayContext
    registry: Registry
    clients: dict[str, GatewayClient] = field(default_factory=dict)

    def client(self, agency_id: str) -> GatewayClient:
        if agency_id not in self.clients:
            self.clients[agency_id] = GatewayClient(self.topology.url, agency_id, self.registry.keys[agency_id],
                                                    transport=self.topology.transport(), timeout_s=30)
        return self.clients[agency_id]


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory, policy_bundle: Any) -> Iterator[Shape]:
    from gateway.policy.factory import build_engine

    seed = generate_signing_seed()
    work = tmp_path_factory.mktemp("shape")
    with throwaway_cluster() as database_url, production_shape(database_url, work, seed) as topology:
        settings = Settings(env="test", database_url=database_url, data_dir=work / "local", issuer=topology.url,
                            background_worker=False, argon2_time_cost=1, argon2_memory_kib=8)
        ctx = build_context(settings, signing_seed=seed, policy=build_engine("embedded", bundle=policy_bundle))
        reg = Registry(keys={}, key_ids={})
        for agency_id, kind in AGENCIES:
            reg.keys[agency_id], reg.key_ids[agency_id] = register(ctx, agency_id, kind)
        result = Shape(topology, ctx, reg)
        try:
            yield result
        finally:
            for client in result.clients.values():
                client.close()
            ctx.engine.dispose()


def _audit_ok(shape: Shape) -> None:
    with shape.ctx.sessions() as session:
        report = verify_database(session, signing_public_key(shape.ctx.signing_seed), origin=shape.topology.url)
    assert report.ok, report.summary()


def test_the_token_endpoint_works_through_the_proxy_with_an_https_issuer(shape: Shape) -> None:
    """Caddy forwards plain HTTP; the replicas believe its X-Forwarded-Proto (and only its): no 500."""
    client = shape.client("ngo")
    assert client.token()
    assert {a["id"] for a in client.agencies()} >= {"ngo", RECIPIENT}
    with httpx.Client(transport=shape.topology.transport()) as http:
        metadata = http.get(f"{shape.topology.url}/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == shape.topology.url and metadata["issuer"].startswith("https://")
        # Each replica answers with the same issuer: tokens from one are accepted by the other.
        for replica in shape.topology.replicas:
            assert http.get(f"{replica.url}/.well-known/oauth-authorization-server").json()["issuer"] \
                == shape.topology.url
    for _ in range(4):  # round robin: both replicas accept the token
        assert client.request("GET", "/v1/agencies")


def test_the_portal_sees_the_visitors_address_not_the_proxys(shape: Shape) -> None:
    """One throttle per visitor, not one shared by everyone behind Caddy."""
    from gateway.portal.auth import REALM

    with httpx.Client(transport=shape.topology.transport(), base_url=shape.topology.url) as browser:
        page = browser.get("/p/")
        assert page.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "no CSRF token in the sign-in form"
        failed = browser.post("/p/sign-in", data={"csrf_token": token.group(1), "code": "WRONG-CODE-0000",
                                                  "pin": "000000"})
        assert failed.status_code in (401, 403, 429)
    visitor = ThrottleKey("address", AGENCY_HOST, free=1).digest(REALM)
    proxy = ThrottleKey("address", PROXY_SOURCE, free=1).digest(REALM)
    with shape.ctx.sessions() as session:
        assert session.get(LoginThrottle, visitor) is not None, "the visitor's address was not seen"
        assert session.get(LoginThrottle, proxy) is None, "the proxy's address was taken for the visitor's"
