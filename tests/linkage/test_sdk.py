"""Two agencies' SDKs, a running gateway, real HTTP: the same person in two scripts is found."""

from __future__ import annotations

import pytest

from connectors import linkage
from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError
from tests.consent.conftest import consent_body, subject_body
from tests.exchange.conftest import LiveGateway, live_gateway  # noqa: F401 - the fixture
from tests.linkage.conftest import AMINA_ARABIC, AMINA_LATIN
from tests.support.pins import pins_for
from tests.support.staff import sdk_staff


def _client(live: LiveGateway, agency: str) -> GatewayClient:
    return GatewayClient(live.url, agency, live.registry.keys[agency], pins=pins_for(live.registry.keys))


def _consenting_subject(client: GatewayClient, names: list[str], live: LiveGateway) -> str:
    staff = sdk_staff(live.ctx, client)  # the subject and the consent name a signed-in staff member
    subject = staff.request("POST", "/v1/subjects", json=subject_body())
    staff.request("POST", "/v1/consents", json=consent_body(
        subject["id"], purpose="record_linkage", recipients=[{"agency_id": a} for a in names], data_classes=["D22"]))
    return str(subject["id"])


@pytest.mark.rule("CR1")
def test_two_agencies_sdks_find_the_same_person_through_the_gateway(live_gateway: LiveGateway) -> None:  # noqa: F811
    shared = linkage.LinkageSecret.generate("2026-12")
    at_ngo = shared                                          # each agency holds its own copy,
    at_shelter = linkage.LinkageSecret.from_text(shared.to_text())  # handed over out of band
    with (_client(live_gateway, "operator") as operator, _client(live_gateway, "ngo") as ngo,
          _client(live_gateway, "shelter") as shelter, _client(live_gateway, "police") as police):
        operator.request("POST", "/v1/linkage/epochs", json={"epoch": "2026-12"})
        ngo_subject = _consenting_subject(ngo, ["shelter"], live_gateway)
        shelter_subject = _consenting_subject(shelter, ["ngo"], live_gateway)
        police_subject = _consenting_subject(police, ["ngo"], live_gateway)
        # Enrolling a person's key records something about them: a signed-in person does it.
        with pytest.raises(GatewayAPIError) as machine:
            linkage.enrol(ngo, ngo_subject, linkage.encode(AMINA_LATIN, at_ngo))
        assert machine.value.reason == "person_token_required"
        linkage.enrol(sdk_staff(live_gateway.ctx, ngo), ngo_subject, linkage.encode(AMINA_LATIN, at_ngo))
        linkage.enrol(sdk_staff(live_gateway.ctx, shelter), shelter_subject, linkage.encode(AMINA_ARABIC, at_shelter))
        linkage.enrol(sdk_staff(live_gateway.ctx, police), police_subject, linkage.encode(AMINA_LATIN, at_ngo))

        # A question is a person's (the policy decides with their role): the agency's system acts for
        # its signed-in caseworker; alone it is refused.
        with pytest.raises(GatewayAPIError) as alone:
            linkage.query(ngo, ngo_subject)
        assert alone.value.status == 403 and alone.value.reason == "person_token_required"
        answer = linkage.query(sdk_staff(live_gateway.ctx, ngo), ngo_subject)
        assert [m["agency_id"] for m in answer["matches"]] == ["shelter"]
        assert answer["matches"][0]["band"] in {"possible", "strong"}

        # The police's subject consented to the NGO being asked, but no holder may ever be named
        # to the police: the same person, the same key, and an empty answer.
        assert linkage.query(sdk_staff(live_gateway.ctx, police), police_subject)["matches"] == []

        # The SDK raises the gateway's precise refusal: no key enrolled for this subject.
        unenrolled = _consenting_subject(ngo, ["shelter"], live_gateway)
        with pytest.raises(GatewayAPIError) as refused:
            linkage.query(sdk_staff(live_gateway.ctx, ngo), unenrolled)
        assert refused.value.status == 422 and refused.value.reason == "linkage_key_missing"
