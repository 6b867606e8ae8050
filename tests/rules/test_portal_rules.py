"""Rules the person's portal carries (issue 21, the last planned ids).

- S28: the signed-in person sees what the gateway holds about them and who received what (the
  full disclosure history is ``tests/portal/test_pages.py::test_who_received_what_when_and_why``),
  and a correction request is tracked to its resolution, each status shown to them;
- SEC5: no staff identity reaches a victim-facing page: not the person who recorded the consent,
  set the PIN or resolved the request.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.context import GatewayContext
from gateway.portal.models import PortalRequest
from gateway.portal.routes import PAGES
from tests.conftest import Registry
from tests.console.conftest import sign_in as console_sign_in
from tests.portal.conftest import Auth, PortalPerson, csrf_of, make_person, sign_in
from tests.portal.test_pages import _staff
from tests.support.staff import DEFAULT_PERSON


def _signed_in(client: TestClient, auth: Auth) -> tuple[TestClient, PortalPerson]:
    person = make_person(client, auth)
    response = sign_in(client, person.code, person.pin)
    assert response.status_code == 303, response.text
    return client, person


@pytest.mark.rule("S28", "7.2")
def test_a_correction_request_is_tracked_to_its_resolution(client: TestClient, auth: Auth, registry: Registry,
                                                           ctx: GatewayContext) -> None:
    portal, person = _signed_in(client, auth)
    home = portal.get("/p/").text
    assert "A safe place to stay" in home  # what they agreed to, in their words
    assert portal.get("/p/shared").status_code == 200
    form = portal.get("/p/correction")
    sent = portal.post("/p/requests", data={"csrf_token": csrf_of(form.text), "kind": "correction", "topic": "D1",
                                            "message": "My name is spelt Mariam, not Maryam."},
                       follow_redirects=False)
    assert sent.status_code == 303
    assert "Status: <strong>Received</strong>" in portal.get("/p/requests?sent=1").text
    with ctx.sessions() as session:
        row = session.scalars(select(PortalRequest)).one()
    assert (row.kind, row.topic, row.subject_id) == ("correction", "D1", person.subject_id)

    console = TestClient(portal.app, base_url="https://testserver")
    assert console_sign_in(console, _staff(ctx, "dpo-s28", "dpo", None)).status_code == 303
    detail = console.get(f"/console/requests/{row.id}")
    assert "spelt Mariam" in detail.text
    token = csrf_of(detail.text)
    assert console.post(f"/console/requests/{row.id}", data={"csrf_token": token, "status": "in_review"},
                        follow_redirects=False).status_code == 303
    assert "Someone is looking at it" in portal.get("/p/requests").text
    assert console.post(f"/console/requests/{row.id}", data={"csrf_token": token, "status": "resolved",
                                                             "outcome": "corrected", "note": "fixed by dpo-s28"},
                        follow_redirects=False).status_code == 303
    mine = portal.get("/p/requests").text
    assert "Finished" in mine
    assert "fixed by dpo-s28" not in mine and "dpo-s28" not in mine  # SEC5 too: no staff identity


@pytest.mark.rule("SEC5")
def test_no_staff_identity_reaches_the_persons_pages(client: TestClient, auth: Auth, registry: Registry,
                                                     ctx: GatewayContext) -> None:
    portal, person = _signed_in(client, auth)
    consent = client.get(f"/v1/consents/{person.consent_id}", headers=auth("ngo"))
    assert consent.status_code == 200, consent.text
    recorded_by = consent.json()["obtained_by"]["staff_id"]
    assert recorded_by  # the consent does name who recorded it, for the agency and the DPO
    for page in PAGES:
        html = portal.get(page).text
        for identity in {recorded_by, DEFAULT_PERSON, "staff_"}:
            assert identity not in html, (page, identity)
