"""Enrolling or removing a person's linkage key records something about them: a signed-in person does
it; the agency's system alone is refused, and a malformed subject id is a precise 422 either way."""

from __future__ import annotations

from fastapi.testclient import TestClient

from connectors.linkage import LinkageSecret, encode
from tests.linkage.conftest import AMINA_LATIN, Auth, new_subject


def test_a_linkage_key_is_enrolled_and_removed_by_a_signed_in_person_only(
    client: TestClient, auth: Auth, epoch: str, secret: LinkageSecret,
) -> None:
    subject_id = new_subject(client, auth, "ngo", consent_names=["shelter"])
    key = encode(AMINA_LATIN, secret).document()
    alone = client.put(f"/v1/linkage/subjects/{subject_id}/key", headers=auth("ngo", system=True), json=key)
    assert (alone.status_code, alone.json()["reason"]) == (403, "person_token_required")
    assert client.put(f"/v1/linkage/subjects/{subject_id}/key", headers=auth("ngo"), json=key).status_code == 200
    gone = client.delete(f"/v1/linkage/subjects/{subject_id}/key", headers=auth("ngo", system=True))
    assert (gone.status_code, gone.json()["reason"]) == (403, "person_token_required")
    assert client.delete(f"/v1/linkage/subjects/{subject_id}/key", headers=auth("ngo")).status_code == 204
    # A subject id that is not an id: 422, never a lookup.
    assert client.put("/v1/linkage/subjects/bad%20id/key", headers=auth("ngo"), json=key).status_code == 422
    assert client.delete("/v1/linkage/subjects/bad%20id/key", headers=auth("ngo")).status_code == 422
