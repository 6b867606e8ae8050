"""A sealed or expunged record is not there to be found (issue 22): linkage does not tell another agency
that the holder knows the person, nor where they are, unless a court access order opens D22 to it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from tests.linkage.conftest import AMINA_ARABIC, AMINA_LATIN, Auth, ask


def test_an_expunged_record_is_not_found_and_a_court_access_order_reopens_it(
    client: TestClient, auth: Auth, ctx: GatewayContext, person: Callable[..., str],
) -> None:
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter"])
    shelter_subject = person("shelter", AMINA_ARABIC, names=["ngo"])
    assert [m["agency_id"] for m in ask(client, auth, "ngo", ngo_subject)["matches"]] == ["shelter"]

    expunged = client.post(f"/v1/retention/subjects/{shelter_subject}/seals", headers=auth("shelter"),
                           json={"kind": "expunged", "classes": [], "reference": "court:2026/9"})
    assert expunged.status_code == 201, expunged.text
    assert ask(client, auth, "ngo", ngo_subject)["matches"] == []
    with ctx.sessions() as session:
        withheld = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "linkage:match:disclose", AuditEntry.decision == "deny")).all()
    assert [e.reason for e in withheld][-1] == "sealed_class_requires_court_order"

    # A court opens D22 to the NGO: the match is found again.
    opened = client.post(f"/v1/retention/subjects/{shelter_subject}/orders", headers=auth("shelter"), json={
        "kind": "access_order", "classes": ["D22"], "recipient_agency_id": "ngo", "reference": "court:2026/10"})
    assert opened.status_code == 201, opened.text
    assert [m["agency_id"] for m in ask(client, auth, "ngo", ngo_subject)["matches"]] == ["shelter"]
