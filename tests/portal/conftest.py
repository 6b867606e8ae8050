"""Portal fixtures: a person with a consent, an access code and PINs set through the API, and
helpers to sign in with a plain HTTP client (no JavaScript, like the no-JS browser path)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body

Auth = Callable[..., dict[str, str]]
OWNER = "ngo"
COOKIE = "__Host-sid"
PIN = "482913"
DURESS_PIN = "731546"


@dataclass
class PortalPerson:
    subject_id: str
    code: str
    consent_id: str
    pin: str = PIN
    duress_pin: str | None = DURESS_PIN


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def make_person(client: TestClient, auth: Auth, *, language: str = "en", duress: bool = True, pin: str = PIN,
                consent: dict[str, Any] | None = None, **subject_attrs: Any) -> PortalPerson:
    """A subject of OWNER with one consent (a shelter referral unless ``consent`` overrides it), its
    access code, and a PIN (and duress PIN) set through the advocate's API."""
    subject = client.post("/v1/subjects", headers=auth(OWNER), json=subject_body(preferred_language=language,
                                                                                  **subject_attrs))
    assert subject.status_code == 201, subject.text
    subject_id = subject.json()["id"]
    consent_json = consent_body(subject_id, **{"language": language, **(consent or {})})
    granted = client.post("/v1/consents", headers=auth(OWNER), json=consent_json)
    assert granted.status_code == 201, granted.text
    code = granted.json()["access_code"]
    assert code
    body: dict[str, Any] = {"pin": pin}
    if duress:
        body["duress_pin"] = DURESS_PIN
    response = client.post(f"/v1/subjects/{subject_id}/portal-access/pin", headers=auth(OWNER, person="advocate"),
                           json=body)
    assert response.status_code == 200, response.text
    return PortalPerson(subject_id=subject_id, code=code, consent_id=granted.json()["consent"]["id"], pin=pin,
                        duress_pin=DURESS_PIN if duress else None)


@pytest.fixture
def person(client: TestClient, auth: Auth, registry: Registry) -> PortalPerson:
    return make_person(client, auth)


def sign_in(client: TestClient, code: str, pin: str, *, fresh: bool = True) -> Response:
    """GET the form (for its CSRF token) and POST the code and PIN; redirects are not followed."""
    if fresh:
        client.cookies.clear()
    form = client.get("/p/")
    assert form.status_code == 200, form.text
    return client.post("/p/sign-in", data={"csrf_token": csrf_of(form.text), "code": code, "pin": pin},
                       follow_redirects=False)


@pytest.fixture
def signed_in(client: TestClient, person: PortalPerson) -> TestClient:
    response = sign_in(client, person.code, person.pin)
    assert response.status_code == 303, response.text
    return client
