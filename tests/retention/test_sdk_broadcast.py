"""A sealing reaches both past recipients through a running gateway, with the SDK only (issue 22).

The NGO refers one person to the shelter and to IOM; a court seals the risk class (D12). Each
recipient's SDK fetches its notice, checks the gateway's signature, opens the reference with its own
key (the envelope it received), acknowledges it; the acknowledgements are in the log, and a later
plan for the sealed class is refused without a court order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError
from gateway.audit.models import AuditEntry
from tests.consent.conftest import consent_body, subject_body
from tests.exchange.conftest import LiveGateway, live_gateway  # noqa: F401 - the fixture
from tests.support.pins import pins_for
from tests.support.staff import sdk_staff

FIELDS = {"subject.preferred_name": "Quokka-Sealed-4417", "risk.level": "high"}


def _client(live: LiveGateway, agency: str) -> GatewayClient:
    return GatewayClient(live.url, agency, live.registry.keys[agency], pins=pins_for(live.registry.keys))


def test_a_sealing_reaches_two_recipients_through_the_sdk_and_they_acknowledge(live_gateway: LiveGateway) -> None:  # noqa: F811
    with _client(live_gateway, "ngo") as ngo, _client(live_gateway, "shelter") as shelter, \
            _client(live_gateway, "iom") as iom:
        staff = sdk_staff(live_gateway.ctx, ngo)
        subject = staff.request("POST", "/v1/subjects", json=subject_body())["id"]
        staff.request("POST", "/v1/consents", json=consent_body(
            subject, recipients=[{"agency_id": "shelter"}, {"agency_id": "iom"}]))
        sent: dict[str, str] = {}
        for recipient in ("shelter", "iom"):
            plan = staff.plan(subject, recipient, "shelter", list(FIELDS))
            assert plan["allow"] and "risk.level" in plan["permitted_fields"]
            preview = ngo.preview(plan, FIELDS, language="en")
            staff.approve_preview(plan, preview)
            sent[recipient] = ngo.submit(plan, FIELDS, preview=preview)["envelope_id"]
        for client, agency in ((shelter, "shelter"), (iom, "iom")):
            assert [e["envelope_id"] for e in client.inbox()] == [sent[agency]]
            client.ack(sent[agency])

        sealing = staff.request("POST", f"/v1/retention/subjects/{subject}/seals",
                                json={"kind": "sealed", "classes": ["D12"], "reference": "court:2026/77"})
        assert sorted(n["agency_id"] for n in sealing["notices"]) == ["iom", "shelter"]

        for client, agency in ((shelter, "shelter"), (iom, "iom")):
            (notice,) = client.retention_notices()
            assert notice.action == "sealed" and notice.classes == ("D12",)
            assert notice.envelope_ids == (sent[agency],)  # only this agency's envelope, opened with its key
            assert notice.acknowledged_at is None and not notice.overdue
            client.acknowledge_retention_notice(notice.id)
            (done,) = client.retention_notices()
            assert done.acknowledged_at is not None

        with pytest.raises(GatewayAPIError) as refused:
            staff.plan(subject, "shelter", "shelter", ["risk.level"])
        assert refused.value.status == 403 and refused.value.reason == "sealed_class_requires_court_order"

    with live_gateway.ctx.sessions() as session:
        acks = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "retention:notice:ack")))
        rows = [str(tuple(r)) for r in session.execute(select(AuditEntry.details, AuditEntry.subject_id))]
    assert sorted(e.recipient_agency_id or "" for e in acks) == ["iom", "shelter"]
    assert all(e.subject_id is None for e in acks)
    assert not any("Quokka-Sealed" in row for row in rows)
