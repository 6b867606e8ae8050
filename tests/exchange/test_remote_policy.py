"""Switching to a remote OPA server is one setting; an unreachable OPA denies, and the gateway stays up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from consent.clock import FixedClock
from gateway.app import build_context, create_app
from gateway.settings import Settings
from tests.conftest import AGENCIES, ISSUER, Registry, register
from tests.exchange.conftest import FIELDS, Case, open_case
from tests.support.opa_server import OpaServer
from tests.support.staff import exchange_form, new_staff

Auth = Callable[..., dict[str, str]]


def test_gateway_on_a_real_opa_server_publishes_decides_and_fails_closed(
    db_url: str, tmp_path: Path, clock: FixedClock, signing_seed: bytes
) -> None:

    server = OpaServer().start()
    settings = Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER, policy_engine="opa",
                        opa_url=server.url, opa_timeout_s=2.0, background_worker=False, argon2_time_cost=1,
                        argon2_memory_kib=8)
    ctx = build_context(settings, clock=clock, signing_seed=signing_seed)  # publishes the bundle to OPA
    registry = Registry(keys={}, key_ids={})
    for agency_id, kind in AGENCIES:
        registry.keys[agency_id], registry.key_ids[agency_id] = register(ctx, agency_id, kind)
    try:
        with TestClient(create_app(context=ctx), base_url=ISSUER, raise_server_exceptions=False) as client:
            staff: dict[str, str] = {}

            def auth(agency: str) -> dict[str, str]:
                """The agency's client acting for its signed-in caseworker (subjects, consents and plans
                are a person's acts): a person token exchanged at the token endpoint (RFC 8693)."""
                if agency not in staff:
                    staff[agency] = new_staff(ctx, agency, "caseworker", password=None).account_id
                person, _ttl = ctx.tokens.issue_person_token(staff[agency], agency, clock.now())
                form = exchange_form(registry, agency, person, clock, token_url=f"{ISSUER}/oauth/token")
                return {"Authorization": "Bearer " + client.post("/oauth/token", data=form).json()["access_token"]}

            assert client.get("/readyz").json()["checks"]["policy_engine"] is True
            case: Case = open_case(client, auth)
            body = {"subject_id": case.subject_id, "recipient_agency_id": "shelter", "purpose": "shelter",
                    "fields": sorted(FIELDS)}
            allowed = client.post("/v1/plans", headers=auth("ngo"), json=body).json()
            assert allowed["allow"] is True
            assert allowed["policy_version"] == ctx.policy.version  # type: ignore[union-attr]

            server.stop()
            denied = client.post("/v1/plans", headers=auth("ngo"), json=body)
            assert denied.status_code == 200
            assert denied.json()["allow"] is False
            assert denied.json()["reasons"] == ["policy_engine_unreachable"]
            assert denied.json()["plan_id"] is None
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
    finally:
        server.stop() if server._thread.is_alive() else None
        ctx.engine.dispose()
