"""An undeclared key in a success answer (drift between a handler and its typed response model):
a test fails on it, production drops it and logs the drift instead of answering 500."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from pydantic import ValidationError

from gateway import responses
from gateway.responses import Answer, PlanOut, StaffRolesOut

PLAN: dict[str, Any] = {
    "plan_id": "plan_1", "envelope_id": "env_1", "expires_at": None, "subject_id": "subj_1",
    "recipient_agency_id": "shelter", "purpose": "shelter_placement", "allow": True,
    "permitted_fields": ["x"], "denied_fields": [{"field": "y", "reason": "r", "secret_value": "Anna"}],
    "reasons": [], "basis": {"consent_ids": ["c1"], "exception": None},
    "obligations": {"include_risk_summary": False, "person_preview_required": False, "notify_person": False,
                    "second_approver_required": False, "expires_at": None},
    "policy_version": "v1", "explanation": [], "home_address": "Kerkstraat 1",
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(responses.STRICT_ENV, raising=False)
    yield


def test_the_suite_runs_strict() -> None:
    assert responses.strict_answers()


def test_in_tests_drift_fails_at_any_depth() -> None:
    with pytest.raises(ValidationError, match="PlanOut does not declare home_address"):
        PlanOut.model_validate(PLAN)
    with pytest.raises(ValidationError, match="DeniedField does not declare secret_value"):
        PlanOut.model_validate({k: v for k, v in PLAN.items() if k != "home_address"})
    PlanOut.model_validate({k: v for k, v in PLAN.items() if k != "home_address"} | {
        "denied_fields": [{"field": "y", "reason": "r"}]})


def test_in_production_drift_is_dropped_and_logged_without_values(
    production: None, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.responses"):
        plan = PlanOut.model_validate(PLAN)
    wire = plan.model_dump(mode="json")
    assert "home_address" not in wire and "secret_value" not in wire["denied_fields"][0]
    assert wire["denied_fields"] == [{"field": "y", "reason": "r"}]
    drift = [r.getMessage() for r in caplog.records if r.name == "gateway.responses"]
    assert any("PlanOut" in m and "home_address" in m for m in drift)
    assert any("DeniedField" in m and "secret_value" in m for m in drift)
    assert not any("Kerkstraat" in m or "Anna" in m for m in drift)


def test_a_key_that_is_not_a_name_is_logged_as_unprintable(production: None,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.responses"):
        StaffRolesOut.model_validate({"roles": [], "entitlements": {}, "Anna de Vries, Kerkstraat 1": 1})
    assert [r.getMessage() for r in caplog.records if "Kerkstraat" in r.getMessage()] == []
    assert any("<unprintable key>" in r.getMessage() for r in caplog.records)


def _app() -> FastAPI:
    """A handler that returns more than its model declares, through FastAPI's real response path."""
    app = FastAPI()

    @app.get("/plan", response_model=PlanOut)
    def plan() -> dict[str, Any]:
        return PLAN

    return app


def test_a_drifting_handler_answers_200_without_the_key_in_production(production: None) -> None:
    response = TestClient(_app()).get("/plan")
    assert response.status_code == 200
    assert "home_address" not in response.json() and response.json()["plan_id"] == "plan_1"


def test_a_drifting_handler_fails_in_tests() -> None:
    with pytest.raises(ResponseValidationError):
        TestClient(_app()).get("/plan")


def test_every_answer_model_shares_the_drift_check() -> None:
    models = [m for m in vars(responses).values()
              if isinstance(m, type) and issubclass(m, Answer) and m is not Answer]
    assert len(models) > 30
    assert all(m.model_config.get("extra") == "ignore" for m in models)


def test_the_document_still_promises_no_undeclared_keys() -> None:
    assert PlanOut.model_json_schema()["additionalProperties"] is False
