"""The API's own documentation: a valid OpenAPI document that says what the API answers, and
Swagger UI and ReDoc served by the gateway under a CSP that lets exactly them run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from tests.conftest import empty_database
from tests.support.browser import screenshot


def test_the_document_validates_and_declares_problems_security_and_the_token_form(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    validate(doc)  # openapi-spec-validator: OpenAPI 3.1 and its JSON Schema dialect
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert set(doc["components"]["securitySchemes"]) == {"agencyToken", "consoleSession"}
    token = doc["paths"]["/oauth/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form == {"$ref": "#/components/schemas/TokenRequest"}
    assert doc["components"]["schemas"]["TokenRequest"]["required"] == [
        "grant_type", "client_assertion_type", "client_assertion"]
    statuses: set[str] = set()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    statuses.add(status)
                    assert response["content"] == {"application/problem+json": {"schema": {
                        "$ref": "#/components/schemas/Problem"}}}, (method, path, status)
            if (method, path) in TOKENLESS:
                assert "security" not in operation and "401" not in operation["responses"], (method, path)
            elif path.startswith("/v1/"):
                assert operation.get("security"), (method, path)
                assert "401" in operation["responses"], (method, path)
    assert {"400", "401", "403", "404", "409", "413", "422", "503"} <= statuses


TOKENLESS = {
    # An agency's first enrolment: a one-time secret in the body (403 when wrong), no token yet.
    ("post", "/v1/agencies/{agency_id}/enrol"),
    # A revocation the agency signed: the signature is the authority (422 when it does not verify).
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/revocation"),
    # Key transparency and the audit log's checkpoints, proofs and witnesses' cosignatures: public by
    # design, so that whoever checks them does not depend on the gateway letting them.
    ("get", "/v1/agencies/{agency_id}/keys/{key_id}/proof"),
    ("get", "/v1/agencies/{agency_id}/key-events"),
    ("get", "/v1/audit/checkpoint"),
    ("get", "/v1/audit/checkpoint/witnessed"),
    ("get", "/v1/audit/checkpoint/key"),
    ("get", "/v1/audit/proof/consistency"),
    ("post", "/v1/audit/checkpoint/cosignatures"),
    # The owner-signed policy bundle OPA pulls: its signature is the authority (gateway/policy_bundle_route.py).
    ("get", "/v1/policy/bundle.tar.gz"),
}
"""The /v1 operations that take no token (and so declare no 401)."""


def test_a_real_error_matches_the_problem_schema(client: TestClient) -> None:
    from jsonschema import Draft202012Validator

    doc = client.get("/openapi.json").json()
    response = client.post("/v1/plans", json={})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    Draft202012Validator(doc["components"]["schemas"]["Problem"]).validate(response.json())


def test_docs_pages_load_only_this_origins_scripts(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "http" not in csp and "'unsafe-eval'" not in csp
        assert "<script>" not in response.text  # no inline script
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/../../settings.py").status_code == 404
    assert client.get("/redoc/assets/redoc.standalone.js").status_code == 200


def test_docs_are_off_in_production(tmp_path: Any, signing_seed: bytes, policy_bundle: Any, db_url: str) -> None:
    from gateway.app import build_context, create_app
    from gateway.keyring import KeyRing
    from gateway.policy.factory import build_engine
    from gateway.settings import Settings

    settings = Settings(env="production", issuer="https://gw.example.org", database_url=db_url, data_dir=tmp_path,
                        background_worker=False, argon2_memory_kib=19_456, argon2_time_cost=1)
    ctx = build_context(settings, signing_seed=signing_seed, policy=build_engine("embedded", bundle=policy_bundle),
                        checkpoint_seed=signing_seed, keyring=KeyRing.load_or_create(tmp_path / "ring", create=True))
    try:
        with TestClient(create_app(context=ctx), base_url="https://gw.example.org") as prod:
            for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
                assert prod.get(path).status_code == 404, path
    finally:
        ctx.engine.dispose()


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    """SQLite only, like every browser test (tests/support/browser.py)."""
    yield sqlite_database
    empty_database(sqlite_database)


@pytest.mark.browser
@pytest.mark.parametrize(("page", "selector"), [("/docs", ".opblock-summary-path"),
                                                 ("/redoc", "[data-section-id^='operation/']")])
def test_docs_render_operations_in_chromium(server: str, browser: Any, page: str, selector: str) -> None:
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.goto(server + page)
    tab.wait_for_selector(selector, timeout=30_000)
    text = tab.inner_text("body")
    assert "/v1/plans" in text or "Create Plan" in text
    assert tab.locator(selector).count() > 40
    screenshot(tab, f"api-docs{page.replace('/', '-')}")
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems


def _untyped(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> bool:
    """A schema that says nothing of the answer's shape: ``{}``, or an object with no properties."""
    if "$ref" in schema:
        return depth < 8 and _untyped(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas, depth + 1)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return any(_untyped(s, schemas, depth) for s in alternatives if s.get("type") != "null")
    if schema.get("type") == "array":
        return _untyped(schema.get("items", {}), schemas, depth)
    return schema.get("type", "object") == "object" and not schema.get("properties") and "const" not in schema


def test_every_success_answer_is_typed(client: TestClient) -> None:
    """Each 2xx JSON answer has a schema with properties (a model), never a bare object or ``{}``."""
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    untyped = sorted(
        f"{method.upper()} {path} {status}"
        for path, item in doc["paths"].items() for method, operation in item.items()
        for status, response in operation["responses"].items() if status.startswith("2")
        for media, content in response.get("content", {}).items()
        if "json" in media and _untyped(content.get("schema", {}), schemas))
    assert not untyped, "\n".join(untyped)
    assert _untyped({}, schemas) and _untyped({"type": "object", "additionalProperties": True}, schemas)
    assert not _untyped({"$ref": "#/components/schemas/Problem"}, schemas)


def test_typed_answers_write_timestamps_and_numbers_as_the_handlers_did() -> None:
    """A response model changes the document, not the wire: ``+00:00`` timestamps (not pydantic's ``Z``),
    an int stays an int, and a key the handler leaves out stays out."""
    from datetime import UTC, datetime

    from gateway.responses import InformationRequestOut, PreviewApprovalOut, StatisticsDefaultsOut

    at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    approval = PreviewApprovalOut.model_validate({"plan_id": "p", "preview_hash": "h", "approved_at": at})
    assert approval.model_dump(mode="json")["approved_at"] == at.isoformat() == "2026-11-24T10:00:00+00:00"
    defaults = StatisticsDefaultsOut.model_validate({"epsilon": 0.5, "delta": 0, "k": 11, "budget_per_year": 2,
                                                     "max_contributions": 10, "max_cells": 5000})
    assert defaults.model_dump_json() == ('{"epsilon":0.5,"delta":0,"k":11,"budget_per_year":2,'
                                          '"max_contributions":10,"max_cells":5000}')
    request = InformationRequestOut.model_validate({
        "id": "r", "requester_agency_id": "a", "holder_agency_id": "b", "subject_ref": "s", "purpose": "p",
        "fields": [], "basis": "consent", "urgency": "normal", "status": "open", "created_at": at, "due_at": None,
        "overdue": False, "closed_at": None, "decline_reason": None, "refusal_reasons": None, "envelope_id": None})
    assert "plan_id" not in request.model_dump(mode="json", exclude_unset=True)
