"""The advocate's API for the portal: PINs (hashes only), unlock, status, alerts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.portal_access import PortalAccess, pin_problems
from gateway.context import GatewayContext
from tests.conftest import Registry
from tests.consent.conftest import subject_body
from tests.portal.conftest import OWNER, Auth, PortalPerson, sign_in


def _set(client: TestClient, auth: Auth, subject_id: str, agency: str = OWNER, **body: Any) -> Any:
    payload = {"pin": "482913", **body}
    return client.post(f"/v1/subjects/{subject_id}/portal-access/pin", headers=auth(agency, person="advocate"),
                       json={k: v for k, v in payload.items() if v is not None})


@pytest.mark.parametrize(("pin", "problem"), [
    ("123456", "pin_too_simple"), ("000000", "pin_too_simple"), ("987654", "pin_too_simple"),
    ("890123", "pin_too_simple"), ("12a456", "pin_digits_only"), ("١٢٣٤٥٦", "pin_digits_only"),
    ("4829", "pin_length"), ("48291", "pin_length"), ("1" * 13, "pin_length"),
])
def test_pin_rules(pin: str, problem: str) -> None:
    assert pin_problems(pin) == [problem]


@pytest.mark.parametrize("pin", ["482913", "135792", "120934", "000000000001"])
def test_acceptable_pins(pin: str) -> None:
    assert pin_problems(pin) == []


@pytest.mark.rule("ASVS-6.2", "NIST-800-63B")
def test_pins_are_stored_only_as_argon2id_hashes(client: TestClient, auth: Auth, person: PortalPerson,
                                                  ctx: GatewayContext) -> None:
    with ctx.sessions() as session:
        row = session.scalars(select(PortalAccess).where(PortalAccess.subject_id == person.subject_id)).one()
    assert row.pin_hash and row.pin_hash.startswith("$argon2id$") and person.pin not in row.pin_hash
    assert row.duress_pin_hash and row.duress_pin_hash.startswith("$argon2id$")
    status = client.get(f"/v1/subjects/{person.subject_id}/portal-access", headers=auth(OWNER)).json()
    assert status["pin_set"] is True and status["duress_pin_set"] is True and status["locked"] is False
    assert "pin_hash" not in status and "code_hash" not in status


def test_unusable_pins_are_refused(client: TestClient, auth: Auth, person: PortalPerson) -> None:
    assert _set(client, auth, person.subject_id, pin="111111").json()["reason"] == "pin_too_simple"
    same = _set(client, auth, person.subject_id, pin="482913", duress_pin="482913")
    assert same.status_code == 422 and same.json()["reason"] == "duress_pin_same_as_pin"
    assert _set(client, auth, person.subject_id, pin="48a913").status_code == 422
    # "The person is present" is the signed-in advocate's to attest, not a flag the agency's system sets.
    forged = _set(client, auth, person.subject_id, person_present=True)
    assert forged.status_code == 422
    absent = client.post(f"/v1/subjects/{person.subject_id}/portal-access/pin", headers=auth(OWNER, system=True),
                         json={"pin": "482913"})
    assert absent.status_code == 403 and absent.json()["reason"] == "person_token_required"
    assert _set(client, auth, person.subject_id, extra="x").status_code == 422


def test_a_new_pin_ends_open_sessions(client: TestClient, auth: Auth, person: PortalPerson) -> None:
    assert sign_in(client, person.code, person.pin).status_code == 303
    assert _set(client, auth, person.subject_id, pin="503817").status_code == 200
    assert 'action="/p/sign-in"' in client.get("/p/").text
    assert sign_in(client, person.code, person.pin).status_code == 401
    assert sign_in(client, person.code, "503817").status_code == 303
    # The duress PIN was not given again, so it is gone.
    status = client.get(f"/v1/subjects/{person.subject_id}/portal-access", headers=auth(OWNER)).json()
    assert status["duress_pin_set"] is False


def test_no_code_yet_is_a_conflict(client: TestClient, auth: Auth, registry: Registry) -> None:
    subject = client.post("/v1/subjects", headers=auth(OWNER), json=subject_body()).json()
    response = _set(client, auth, subject["id"])
    assert response.status_code == 409 and response.json()["reason"] == "no_access_code"


def test_only_the_owner_agency_with_subjects_write(client: TestClient, auth: Auth, person: PortalPerson) -> None:
    other = _set(client, auth, person.subject_id, agency="shelter")
    absent = _set(client, auth, "subj_nobody")
    assert other.status_code == absent.status_code == 404
    assert other.json()["detail"] == absent.json()["detail"]
    no_scope = client.get("/v1/alerts", headers=auth(OWNER, "audit:read"))
    assert no_scope.status_code == 403
    assert client.get("/v1/alerts").status_code == 401
