"""The person's portal shows what was sealed and who was told (issue 22), and shows nothing of it to
someone who signed in with the duress PIN."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import Registry
from tests.exchange.conftest import Case, plan, sealed, submit
from tests.portal.conftest import make_person, sign_in

Auth = Callable[..., dict[str, str]]


def test_the_portal_shows_what_was_sealed_and_who_was_told_but_not_under_duress(
    client: TestClient, auth: Auth, registry: Registry,
) -> None:
    person = make_person(client, auth)
    case = Case(person.subject_id, person.consent_id)
    the_plan = plan(client, auth, case, fields=["subject.preferred_name", "risk.level"], recipient="shelter")
    sent = submit(client, auth, sealed(client, auth, registry, the_plan), key="k-shelter")
    assert sent.status_code == 201, sent.text
    done = client.post(f"/v1/retention/subjects/{person.subject_id}/seals", headers=auth("ngo"),
                       json={"kind": "sealed", "classes": ["D12"], "reference": "court:2026/118"})
    assert done.status_code == 201, done.text

    assert sign_in(client, person.code, person.pin).status_code == 303
    page = client.get("/p/shared")
    assert page.status_code == 200
    sealed_part = page.text.split('id="sealed"', 1)[1]
    assert "Sealed" in sealed_part and "Risks and safety plan" in sealed_part
    assert "shelter agency" in sealed_part
    assert "court:2026/118" not in page.text  # the order's reference is not the person's to carry

    # Someone holding the person's phone who was given the duress PIN sees no trace of it.
    assert person.duress_pin is not None
    assert sign_in(client, person.code, person.duress_pin).status_code == 303
    decoy = client.get("/p/shared")
    assert decoy.status_code == 200 and 'id="sealed"' not in decoy.text
    assert "shelter agency" not in decoy.text
