"""The coarse statistics attributes of a subject (sex, form of exploitation) through the subjects API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.context import GatewayContext
from gateway.statistics.models import StatPerson
from gateway.statistics.service import StatisticsService
from tests.conftest import Registry
from tests.consent.conftest import Auth, subject_body


def test_sex_and_exploitation_type_are_optional_coded_and_reach_the_store(
        client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext) -> None:
    body = subject_body()
    body["attributes"].update(sex="female", exploitation_type="labour")
    created = client.post("/v1/subjects", headers=auth("ngo"), json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["sex"], created.json()["exploitation_type"]) == ("female", "labour")
    plain = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body())
    assert (plain.json()["sex"], plain.json()["exploitation_type"]) == (None, None)

    bad = subject_body()
    bad["attributes"]["exploitation_type"] = "trafficked by her uncle in Rotterdam"
    refused = client.post("/v1/subjects", headers=auth("ngo"), json=bad)
    assert refused.status_code == 422 and "uncle" not in refused.text

    changed = client.post(f"/v1/subjects/{plain.json()['id']}/attributes", headers=auth("ngo"), json={
        "changes": {"sex": "male"}, "reason": "new_information"})
    assert changed.status_code in (200, 201), changed.text

    service = StatisticsService(ctx)
    service.refresh()
    with ctx.sessions() as session:
        stored = sorted((p.sex, p.exploitation_type) for p in session.scalars(select(StatPerson)))
    assert stored == [("female", "labour"), ("male", "unknown")]
