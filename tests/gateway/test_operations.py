"""Health, readiness, OpenAPI, and a schema that matches its migrations on both databases."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from gateway.app import create_app
from gateway.context import GatewayContext
from gateway.models import metadata
from tests.conftest import ISSUER


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "policy_engine": True}


class _DownPolicy:
    name = "down"
    version = "x"

    def ready(self) -> bool:
        raise ConnectionError("OPA unreachable")

    def close(self) -> None:
        return None


def test_readyz_is_503_when_the_policy_engine_is_down(ctx: GatewayContext) -> None:
    ctx.policy = _DownPolicy()  # type: ignore[assignment]
    with TestClient(create_app(context=ctx), base_url=ISSUER) as c:
        response = c.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["policy_engine"] is False
        assert c.get("/healthz").status_code == 200  # the process stays up


def test_openapi_documents_every_route(app: FastAPI, client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/agencies/{agency_id}/keys/{key_id}/verify" in spec["paths"]
    assert "/oauth/token" in spec["paths"]


def test_migrations_match_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect an index on an expression; the one there is (PostgreSQL only,
        # ix_audit_entries_envelope) is compared on PostgreSQL.
        warnings.filterwarnings("ignore", message="autogenerate skipping metadata-specified expression-based index")
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
