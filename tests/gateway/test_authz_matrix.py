"""Every endpoint that holds an object id, called with another agency's token, answers 404.

The table below must classify every ``/v1`` route: a new route that is not listed fails
``test_every_route_is_classified``, so the matrix grows with the API (ASVS 8.2.2, API1).

- ``owned``: the object belongs to one agency; anyone else gets 404 exactly as for an
  absent object (existence must not leak).
- ``directory``: public registry information every vetted agency may read.
- ``operator``: function-level, operator only; anyone else gets 403 whatever the id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crypto.keys import generate_agency_keys
from tests.conftest import Registry

Auth = Callable[..., dict[str, str]]

OWNER = "ngo"
OTHER = "shelter"

# (method, path) -> (class, body factory)
ROUTES: dict[tuple[str, str], tuple[str, Callable[[], Any] | None]] = {
    ("GET", "/v1/agencies"): ("directory", None),
    ("GET", "/v1/agencies/me"): ("directory", None),
    ("GET", "/v1/agencies/{agency_id}"): ("directory", None),
    ("POST", "/v1/agencies"): ("operator", lambda: {"id": "x-new", "name": "New", "kind": "ngo",
                                                   "jurisdiction": "NL"}),
    ("POST", "/v1/agencies/{agency_id}/keys"): (
        "owned", lambda: {"kind": "x25519", "public_key": generate_agency_keys().public().encryption_b64}),
    ("GET", "/v1/agencies/{agency_id}/keys/{key_id}"): ("directory", None),
    ("POST", "/v1/agencies/{agency_id}/keys/{key_id}/verify"): ("operator", lambda: {"fingerprint": "AAAA-BBBB"}),
    ("POST", "/v1/agencies/{agency_id}/keys/{key_id}/revoke"): ("owned", lambda: {"reason": "testing"}),
    ("POST", "/v1/agencies/{agency_id}/endpoints"): ("owned", lambda: {"url": "https://ngo.example/hook"}),
    ("GET", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}"): ("owned", None),
    ("POST", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/verify"): (
        "operator", lambda: {"fingerprint": "AAAA-BBBB"}),
    ("POST", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/revoke"): ("owned", lambda: {"reason": "testing"}),
    ("GET", "/v1/agencies/{agency_id}/recipient-key"): ("directory", None),
}


def _v1_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) of the API, read from the OpenAPI document the app serves."""
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }


def test_every_route_is_classified(app: FastAPI) -> None:
    unclassified = _v1_routes(app) - set(ROUTES)
    assert not unclassified, f"classify these routes in the authorisation matrix: {sorted(unclassified)}"
    stale = set(ROUTES) - _v1_routes(app)
    assert not stale, f"routes listed but gone: {sorted(stale)}"


@pytest.fixture
def owned_ids(client: TestClient, auth: Auth, registry: Registry) -> dict[str, str]:
    """Objects belonging to OWNER, one per path parameter name."""
    ep = client.post(f"/v1/agencies/{OWNER}/endpoints", headers=auth(OWNER),
                     json={"url": "https://ngo.example/inbox"}).json()
    return {"agency_id": OWNER, "key_id": registry.key_ids[OWNER]["x25519"], "endpoint_id": ep["id"]}


def _fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no object factory for a parameter in {path}"
    return path


@pytest.mark.rule("ASVS-8.2.2", "API1")
@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v[0] == "owned"])
def test_another_agency_gets_404_on_owned_objects(
    client: TestClient, auth: Auth, owned_ids: dict[str, str], method: str, path: str
) -> None:
    body_factory = ROUTES[(method, path)][1]
    url = _fill(path, owned_ids)
    kwargs: dict[str, Any] = {"json": body_factory()} if body_factory else {}
    theirs = client.request(method, url, headers=auth(OTHER), **kwargs)
    assert theirs.status_code == 404, f"{method} {url}: {theirs.status_code} {theirs.text}"
    absent_ids = {k: (v + "-absent" if k != "agency_id" else "absent-agency") for k, v in owned_ids.items()}
    absent = client.request(method, _fill(path, absent_ids), headers=auth(OTHER),
                            **({"json": body_factory()} if body_factory else {}))
    assert absent.status_code == 404
    # "Not yours" and "not there" are indistinguishable.
    assert theirs.json()["detail"] == absent.json()["detail"]
    mine = client.request(method, url, headers=auth(OWNER), **({"json": body_factory()} if body_factory else {}))
    assert mine.status_code != 404, mine.text


@pytest.mark.rule("API5")
@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v[0] == "operator"])
def test_operator_routes_are_403_for_agencies(
    client: TestClient, auth: Auth, owned_ids: dict[str, str], method: str, path: str
) -> None:
    body_factory = ROUTES[(method, path)][1]
    response = client.request(method, _fill(path, owned_ids), headers=auth(OWNER),
                              json=body_factory() if body_factory else None)
    assert response.status_code == 403
    assert response.json()["reason"] == "operator_only"
