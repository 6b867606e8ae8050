"""Issue 21's safety hole through the public API: an embassy registered where it sits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body

Auth = Callable[..., dict[str, str]]
EMBASSY = {"id": "embassy-xx", "name": "Embassy of XX", "kind": "embassy", "jurisdiction": "NL", "vetted": True,
           "confidentiality_policy_version": "conf-2026-1"}


def test_the_registry_requires_the_represented_state_of_an_embassy(client: TestClient, auth: Auth,
                                                                   registry: Registry) -> None:
    missing = client.post("/v1/agencies", headers=auth("operator"), json=EMBASSY)
    assert missing.status_code == 422 and missing.json()["reason"] == "represents_state_required"
    own = client.post("/v1/agencies", headers=auth("operator"), json={**EMBASSY, "represents_state": "nl"})
    assert own.status_code == 422 and own.json()["reason"] == "represents_state_invalid"
    coo = client.post("/v1/agencies", headers=auth("operator"), json={
        "id": "ministry-xx", "name": "Ministry of XX", "kind": "country_of_origin_authority", "jurisdiction": "ER",
        "represents_state": "ER"})
    assert coo.status_code == 201, coo.text  # the kind the registry used to refuse
    liaison = client.post("/v1/agencies", headers=auth("operator"), json={
        "id": "liaison-xx", "name": "XX police liaison", "kind": "police", "jurisdiction": "NL",
        "represents_state": "er"})
    assert liaison.status_code == 201 and liaison.json()["represents_state"] == "ER"
    ok = client.post("/v1/agencies", headers=auth("operator"), json={**EMBASSY, "represents_state": "er"})
    assert ok.status_code == 201 and ok.json()["represents_state"] == "ER" and ok.json()["jurisdiction"] == "NL"


@pytest.mark.rule("CR24", "SEC14")
def test_an_embassy_of_the_state_an_asylum_seeker_fled_gets_nothing_under_a_return_consent(
    client: TestClient, auth: Auth, registry: Registry,
) -> None:
    # registered where it sits (NL), acting for XX
    created = client.post("/v1/agencies", headers=auth("operator"), json={**EMBASSY, "represents_state": "ER"})
    assert created.status_code == 201, created.text
    for origin in ("ER", None):
        subject = client.post("/v1/subjects", headers=auth("iom"), json=subject_body(
            asylum_claimed=True, country_of_origin=origin))
        assert subject.status_code == 201, subject.text
        subject_id = subject.json()["id"]
        consent = client.post("/v1/consents", headers=auth("iom"), json=consent_body(
            subject_id, purpose="return", recipients=[{"agency_id": "embassy-xx"}], data_classes=["D1", "D2"]))
        assert consent.status_code == 201, consent.text
        plan = client.post("/v1/plans", headers=auth("iom"), json={
            "subject_id": subject_id, "recipient_agency_id": "embassy-xx", "purpose": "return",
            "fields": ["subject.first_name", "documents.travel_document"]})
        assert plan.status_code == 200, plan.text
        body = plan.json()
        assert body["allow"] is False and body["permitted_fields"] == []
        assert "country_of_origin_asylum_block" in body["reasons"], (origin, body)
