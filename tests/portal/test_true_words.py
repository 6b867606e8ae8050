"""Issue 17, attack 8: the portal says only true things.

- A referral the advocate wanted to send to the police, refused for lack of consent, is told as
  the advocate's wish, never as "the police asked for information about you".
- Each disclosure names its real basis: the person's consent, the risk summary's safety basis.
- Past choices list what *could* be shared under a consent, not what was shared.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Registry
from tests.exchange.conftest import Case, plan, sealed, submit
from tests.portal.conftest import Auth, csrf_of, make_person, sign_in


@pytest.mark.rule("CR32")
def test_a_refused_referral_names_the_agency_that_wanted_it(client: TestClient, auth: Auth,
                                                             registry: Registry) -> None:
    person = make_person(client, auth)
    refused = client.post("/v1/plans", headers=auth("ngo"), json={
        "subject_id": person.subject_id, "recipient_agency_id": "police", "purpose": "criminal_justice",
        "fields": ["subject.preferred_name"]})
    assert refused.status_code == 200 and refused.json()["allow"] is False
    assert sign_in(client, person.code, person.pin).status_code == 303
    home = client.get("/p/").text
    assert "ngo agency wanted to send information about you to police agency. Nothing was sent." in home
    assert "police agency asked" not in home and "asked for information" not in home
    client.post("/p/lang", data={"csrf_token": csrf_of(home), "lang": "fr", "next": "/p/"})
    assert "ngo agency voulait envoyer des informations sur vous à police agency" in client.get("/p/").text


def test_each_disclosure_shows_its_real_basis(client: TestClient, auth: Auth, registry: Registry) -> None:
    person = make_person(client, auth)
    the_plan = plan(client, auth, Case(person.subject_id, person.consent_id))
    assert submit(client, auth, sealed(client, auth, registry, the_plan)).status_code == 201
    assert sign_in(client, person.code, person.pin).status_code == 303
    shared = client.get("/p/shared").text
    assert "Because you agreed to: A safe place to stay." in shared
    assert "The safety summary (the risks to you and to others) was sent" in shared
    token = csrf_of(client.get("/p/").text)
    assert client.post(f"/p/choices/{person.consent_id}/withdraw", data={"csrf_token": token}).status_code == 200
    past = client.get("/p/past").text
    assert "What could be shared" in past and "What was shared" not in past
