"""``GET /v1/subjects``: an agency lists its own people (the workspace's list), newest first, paged;
another agency's people are never listed, and its subject ids cannot be used to page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Registry
from tests.consent.conftest import subject_body
from tests.exchange.conftest import Auth


def _create(client: TestClient, auth: Auth, agency: str, **attributes: object) -> str:
    response = client.post("/v1/subjects", headers=auth(agency), json=subject_body(**attributes))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_an_agency_lists_only_its_own_people_newest_first(client: TestClient, auth: Auth,
                                                          registry: Registry) -> None:
    mine = [_create(client, auth, "ngo", age_band=band) for band in ("18-24", "25-34", "35-49")]
    theirs = _create(client, auth, "shelter")
    listed = client.get("/v1/subjects", headers=auth("ngo"))
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert {row["id"] for row in rows} == set(mine)
    assert all(row["owner_agency_id"] == "ngo" for row in rows)
    keys = [(row["created_at"], row["id"]) for row in rows]
    assert keys == sorted(keys, reverse=True)
    assert {row["age_band"] for row in rows} == {"18-24", "25-34", "35-49"}

    first = client.get("/v1/subjects", params={"limit": 2}, headers=auth("ngo")).json()
    rest = client.get("/v1/subjects", params={"limit": 2, "before": first[-1]["id"]}, headers=auth("ngo")).json()
    assert [row["id"] for row in first + rest] == [row["id"] for row in rows]

    assert [row["id"] for row in client.get("/v1/subjects", headers=auth("shelter")).json()] == [theirs]
    probe = client.get("/v1/subjects", params={"before": theirs}, headers=auth("ngo"))
    assert probe.status_code == 404 and probe.json()["reason"] == "unknown_subject"
    bad = client.get("/v1/subjects", params={"limit": 0}, headers=auth("ngo"))
    assert bad.status_code == 422
