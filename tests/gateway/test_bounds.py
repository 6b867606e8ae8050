"""Inputs that used to answer 500: an impossible recipient id, integers past int64, edge dates."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from tests.conftest import Registry
from tests.exchange.conftest import FIELDS, open_case

Auth = Callable[..., dict[str, str]]


def test_plan_to_an_impossible_recipient_id_is_a_422_and_audited(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
) -> None:
    case = open_case(client, auth)
    response = client.post("/v1/plans", headers=auth("ngo"), json={
        "subject_id": case.subject_id, "recipient_agency_id": "shel ter", "purpose": "shelter",
        "fields": sorted(FIELDS)})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "unknown_recipient"
    with ctx.sessions() as session:
        denied = session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange:plan:create",
                                                          AuditEntry.decision == "deny")).all()
    assert [e.reason for e in denied] == ["unknown_recipient"]
    assert denied[0].recipient_agency_id is None  # the typed id is not kept
    assert "shel ter" not in str(denied[0].details)


@pytest.mark.parametrize("path", [
    "/v1/audit/checkpoints/9223372036854775808",
    "/v1/audit/entries/9223372036854775808/inclusion-proof",
    "/v1/audit/entries/0/inclusion-proof?tree_size=99999999999999999999",
    "/v1/audit/consistency-proof?first=0&second=99999999999999999999",
    "/v1/audit/entries?after=99999999999999999999",
    "/v1/audit/entries?since=0001-01-01T00:00:00%2B01:00",
    "/v1/audit/entries?until=9999-12-31T23:59:59-05:00",
])
def test_out_of_range_audit_queries_are_422(client: TestClient, auth: Auth, registry: Registry, path: str) -> None:
    response = client.get(path, headers=auth("operator"))
    assert response.status_code == 422, response.text
    assert response.json()["reason"] in {"invalid_request", "time_out_of_range"}


def test_in_range_audit_queries_still_answer(client: TestClient, auth: Auth, registry: Registry) -> None:
    response = client.get("/v1/audit/entries?after=9223372036854775807&since=2026-01-01T00:00:00%2B01:00",
                          headers=auth("operator"))
    assert response.status_code == 200, response.text
    assert response.json()["entries"] == []


def test_console_edge_dates_are_form_errors_not_500() -> None:
    from gateway.console.views import FilterForm

    for since, until in (("0001-01-01T00:00+01:00", ""), ("", "9999-12-31"), ("", "9999-12-31T23:00-05:00")):
        form = FilterForm.parse({"from": since, "to": until})
        assert form.errors and "between" in form.errors[0]
        assert form.filter.since is None and form.filter.until is None
    assert not FilterForm.parse({"from": "2026-01-01", "to": "2026-01-31"}).errors
