"""Linkage fixtures: a shared secret, agencies' subjects with record_linkage consents, keys enrolled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.linkage import LinkageKey, LinkageSecret, PersonIdentifiers, encode
from gateway.context import GatewayContext
from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body
from tests.console.conftest import StaffLogin, make_staff

Auth = Callable[..., dict[str, str]]
EPOCH = "2026-12"

AMINA_LATIN = PersonIdentifiers(names=("Amina Bakri",), birth_date=date(2001, 3, 14), sex="f", nationality="ER")
AMINA_ARABIC = PersonIdentifiers(names=("بكري أمينة",), birth_date=date(2001, 3, 14), sex="f", nationality="ER")
AMINA_CYRILLIC = PersonIdentifiers(names=("Амина Бакри",), birth_date=date(2001, 3, 14), sex="f")
SOMEONE_ELSE = PersonIdentifiers(names=("Fatima Yusuf",), birth_date=date(1999, 7, 2), sex="f", nationality="ER")


@pytest.fixture
def secret() -> LinkageSecret:
    return LinkageSecret.generate(EPOCH)


@pytest.fixture
def epoch(client: TestClient, auth: Auth, registry: Registry) -> str:
    response = client.post("/v1/linkage/epochs", headers=auth("operator"), json={"epoch": EPOCH})
    assert response.status_code == 201, response.text
    return EPOCH


def new_subject(client: TestClient, auth: Auth, agency: str, *, consent_names: list[str] | None = None,
                **attributes: Any) -> str:
    """A subject of ``agency``; with ``consent_names``, a record_linkage consent naming those agencies."""
    response = client.post("/v1/subjects", headers=auth(agency), json=subject_body(**attributes))
    assert response.status_code == 201, response.text
    subject_id = str(response.json()["id"])
    if consent_names is not None:
        granted = client.post("/v1/consents", headers=auth(agency), json=consent_body(
            subject_id, purpose="record_linkage", recipients=[{"agency_id": a} for a in consent_names],
            data_classes=["D22"], notice_version="linkage-notice-v1"))
        assert granted.status_code == 201, granted.text
    return subject_id


def enrol(client: TestClient, auth: Auth, agency: str, subject_id: str, key: LinkageKey,
          expect: int = 200) -> dict[str, Any]:
    response = client.put(f"/v1/linkage/subjects/{subject_id}/key", headers=auth(agency), json=key.document())
    assert response.status_code == expect, response.text
    return dict(response.json())


def ask(client: TestClient, auth: Auth, agency: str, subject_id: str, expect: int = 200) -> dict[str, Any]:
    response = client.post("/v1/linkage/queries", headers=auth(agency), json={"subject_id": subject_id})
    assert response.status_code == expect, response.text
    return dict(response.json())


@pytest.fixture
def person(client: TestClient, auth: Auth, epoch: str, secret: LinkageSecret) -> Callable[..., str]:
    """``person(agency, identifiers, names=[...])``: a consenting subject with its key enrolled."""

    def make(agency: str, identifiers: PersonIdentifiers, names: list[str]) -> str:
        subject_id = new_subject(client, auth, agency, consent_names=names)
        enrol(client, auth, agency, subject_id, encode(identifiers, secret))
        return subject_id

    return make


@pytest.fixture
def dpo(ctx: GatewayContext) -> StaffLogin:
    return make_staff(ctx, "dpo", "dpo")
