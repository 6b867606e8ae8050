"""Bad input gets a precise problem document, never a 500 or a stack trace."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import ISSUER, Registry

Auth = Callable[..., dict[str, str]]
PROBLEM = "application/problem+json"


def _problem(response, status: int, reason: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["reason"] == reason
    assert body["status"] == status
    assert "Traceback" not in response.text
    return dict(body)


def test_malformed_json_is_400(client: TestClient, auth: Auth, registry: Registry) -> None:
    response = client.post("/v1/agencies/shelter/keys", headers={**auth("shelter"), "content-type": "application/json"},
                           content=b'{"kind": "x25519", "public_key": ')
    _problem(response, 400, "malformed_json")


def test_wrong_types_are_422_without_echoing_values(client: TestClient, auth: Auth, registry: Registry) -> None:
    secret_marker = "Maria-from-Lagos-1234567890123456789012345"
    response = client.post("/v1/agencies/shelter/keys", headers=auth("shelter"),
                           json={"kind": "rsa", "public_key": secret_marker})
    body = _problem(response, 422, "invalid_request")
    assert secret_marker not in response.text
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "kind")}


def test_unknown_fields_are_422(client: TestClient, auth: Auth, registry: Registry) -> None:
    response = client.post("/v1/agencies/shelter/endpoints", headers=auth("shelter"),
                           json={"url": "https://x.example/hook", "verified": True})
    _problem(response, 422, "unknown_field")


def test_oversized_body_is_413(client: TestClient, auth: Auth, registry: Registry, app: FastAPI) -> None:
    big = "x" * (app.state.ctx.settings.max_body_bytes + 1)
    response = client.post("/v1/agencies/shelter/endpoints", headers=auth("shelter"), json={"url": big})
    _problem(response, 413, "body_too_large")


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    _problem(client.get("/v1/nothing-here"), 404, "not_found")
    _problem(client.delete("/healthz"), 405, "method_not_allowed")


def test_unexpected_error_is_a_bare_500(app: FastAPI) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail: Maria lives at 12 Hidden Street")

    with TestClient(app, base_url=ISSUER, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    body = _problem(response, 500, "internal_error")
    assert "Hidden Street" not in response.text
    assert body["request_id"]


def test_security_headers_on_every_response(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
