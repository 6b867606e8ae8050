"""Helpers for the consent tests: valid request bodies, subjects and consents through the API,
and a service bound to the test's database for the lower-level tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from consent import ConsentService
from consent.vocabulary import ExplainedItem
from gateway.consent_api.adapters import consent_service
from gateway.context import GatewayContext
from tests.conftest import T0, Registry, register

Auth = Callable[..., dict[str, str]]
OWNER = "ngo"
ALL_EXPLAINED = [str(i) for i in ExplainedItem]
#: What consent bodies used to name; the record now names the signed-in person instead (a body naming
#: anyone is refused with ``staff_field_from_person_token``).
STAFF = {"staff_id": "staff-17", "role": "advocate"}


def consent_body(subject_id: str, **overrides: Any) -> dict[str, Any]:
    """A consent that passes every rule for an adult subject at the NGO, naming the shelter."""
    body: dict[str, Any] = {
        "subject_id": subject_id,
        "purpose": "shelter",
        "recipients": [{"agency_id": "shelter"}],
        "scope": "relevant_portion",
        "data_classes": ["D1", "D5", "D12"],
        "explained_items": ALL_EXPLAINED,
        "notice_version": "shelter-notice-v3",
        "language": "en",
        "channel": "in_person",
        "capacity": "has_capacity",
        "expires_at": (T0 + timedelta(days=90)).isoformat(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def subject_body(**attributes: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {"age_band": "25-34", "preferred_language": "en"}
    attrs.update(attributes)
    return {"attributes": {k: v for k, v in attrs.items() if v is not None}}


@pytest.fixture
def new_subject(client: TestClient, auth: Auth, registry: Registry) -> Callable[..., str]:
    def create(agency: str = OWNER, **attributes: Any) -> str:
        response = client.post("/v1/subjects", headers=auth(agency), json=subject_body(**attributes))
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    return create


@pytest.fixture
def grant(client: TestClient, auth: Auth) -> Callable[..., dict[str, Any]]:
    def post(subject_id: str, agency: str = OWNER, expect: int = 201, **overrides: Any) -> dict[str, Any]:
        response = client.post("/v1/consents", headers=auth(agency), json=consent_body(subject_id, **overrides))
        assert response.status_code == expect, response.text
        return dict(response.json())

    return post


@pytest.fixture
def service(ctx: GatewayContext) -> Callable[[], Any]:
    """``with service() as svc:`` a ConsentService in its own committed transaction."""

    @contextmanager
    def open_service() -> Iterator[ConsentService]:
        with ctx.sessions() as session, session.begin():
            yield consent_service(ctx, session)

    return open_service


@pytest.fixture
def session(ctx: GatewayContext) -> Iterator[Session]:
    with ctx.sessions() as s:
        yield s


__all__ = ["ALL_EXPLAINED", "OWNER", "STAFF", "Auth", "consent_body", "register", "subject_body"]
