"""Two agencies exchange a referral through a running gateway using only the SDK; the gateway keeps no plaintext."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from connectors.adapters.base import pull_and_deliver
from connectors.adapters.folder import FolderAdapter
from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError
from connectors.staff import person_token_with_code
from gateway.models import metadata
from tests.consent.conftest import consent_body, subject_body
from tests.exchange.conftest import LiveGateway
from tests.support.pins import pins_for
from tests.support.staff import PASSWORD, new_staff, sdk_staff, totp_secret

# Values that must never appear anywhere at the gateway: distinctive so a substring search is meaningful.
SECRETS = {
    "subject.preferred_name": "Zainab-Quokka-7731",
    "subject.language": "ha-QUOKKA",
    "risk.level": "high",
    "risk.known_risks": "Controller-Quokka drives a grey van past Elm-Quokka Street",
}
MARKERS = ["Zainab-Quokka-7731", "ha-QUOKKA", "Controller-Quokka", "Elm-Quokka"]


def _client(live: LiveGateway, agency: str) -> GatewayClient:
    return GatewayClient(live.url, agency, live.registry.keys[agency], pins=pins_for(live.registry.keys))


@pytest.mark.rule("CR18", "CR19")
def test_referral_end_to_end_with_the_sdk_and_no_plaintext_at_the_gateway(
    live_gateway: LiveGateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with _client(live_gateway, "ngo") as ngo, _client(live_gateway, "shelter") as shelter:
        # A subject, a consent and a plan name the signed-in staff member: the system acts for them.
        staff = sdk_staff(live_gateway.ctx, ngo)
        subject = staff.request("POST", "/v1/subjects", json=subject_body())
        staff.request("POST", "/v1/consents", json=consent_body(subject["id"], recipients=[{"agency_id": "shelter"}]))
        with pytest.raises(GatewayAPIError) as alone:
            ngo.plan(subject["id"], "shelter", "shelter", list(SECRETS))  # the agency's system alone
        assert alone.value.reason == "person_token_required"

        # The sender: plan, show the person the preview, record their approval, seal and submit.
        plan = staff.plan(subject["id"], "shelter", "shelter", [*SECRETS, "location.shelter_address"])
        assert plan["allow"] and "location.shelter_address" not in plan["permitted_fields"]
        preview = ngo.preview(plan, SECRETS, language="en")
        assert preview.fields == SECRETS
        # Recording the person's approval is their caseworker's act: the agency's system acts for the
        # signed-in caseworker with the person token they got at /staff.
        caseworker = new_staff(live_gateway.ctx, "ngo", "caseworker")
        token = person_token_with_code(live_gateway.url, caseworker.username, PASSWORD,
                                       totp_secret(live_gateway.ctx, caseworker.account_id))
        with pytest.raises(GatewayAPIError) as refused:
            ngo.approve_preview(plan, preview)  # the agency's system alone
        assert refused.value.reason == "person_token_required"
        ngo.acting_for(token).approve_preview(plan, preview)
        sent = ngo.submit(plan, SECRETS, preview=preview)
        assert sent["status"] == "queued"

        # The recipient: pull, verify against the registry, decrypt, hand to its system, acknowledge.
        inbox_dir = tmp_path / "shelter-inbox"
        assert pull_and_deliver(shelter, FolderAdapter(inbox_dir)) == 1
        delivered = sorted(inbox_dir.glob("*.json"))
        assert [p.stem for p in delivered] == [sent["envelope_id"]]
        content = delivered[0].read_text()
        assert "Zainab-Quokka-7731" in content and '"risk"' in content
        assert ngo.outbox(sent["envelope_id"])["status"] == "acknowledged"

        # A second submit of the same plan is refused; the recipient gets nothing twice.
        with pytest.raises(GatewayAPIError) as refused:
            ngo.submit(plan, SECRETS, preview=preview, idempotency_key="another-key")
        assert refused.value.reason == "plan_already_used"
        assert pull_and_deliver(shelter, FolderAdapter(inbox_dir)) == 0

    # Nothing readable at the gateway: every column of every table, and every log line.
    engine = live_gateway.ctx.engine
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            assert table.name in inspect(conn).get_table_names()
            for row in conn.execute(select(table)):
                blob = " ".join(str(v) for v in row)
                for marker in MARKERS:
                    assert marker not in blob, f"{marker!r} found in table {table.name}"
    if engine.dialect.name == "sqlite":
        # The raw bytes too, including the write-ahead log and free pages.
        database = Path(engine.url.database or "")
        for path in (database, database.with_name(database.name + "-wal")):
            raw = path.read_bytes() if path.exists() else b""
            for marker in MARKERS:
                assert marker.encode() not in raw, f"{marker!r} in {path.name}"
    for record in caplog.records:
        line = record.getMessage() + " " + str(record.__dict__)
        for marker in MARKERS:
            assert marker not in line, f"{marker!r} reached a log line"


@pytest.mark.rule("SEC6")
def test_the_readme_tour_two_staff_members_approve_an_exception_with_the_sdk(live_gateway: LiveGateway) -> None:
    from tests.exceptions.conftest import publish

    ctx = live_gateway.ctx
    publish(ctx, "ngo", [{"basis": "L4", "scenarios": ["suicide_risk_primary_doctor"]}])

    def token_of(*roles: str) -> str:
        member = new_staff(ctx, "ngo", *roles)
        return person_token_with_code(live_gateway.url, member.username, PASSWORD,
                                      totp_secret(ctx, member.account_id))

    with _client(live_gateway, "ngo") as ngo:
        caseworker = ngo.acting_for(token_of("caseworker"))
        subject = caseworker.request("POST", "/v1/subjects", json=subject_body())
        grant = caseworker.request_exception(
            subject_id=subject["id"], basis="L4", scenario="suicide_risk_primary_doctor",
            justification_code="risk_assessment_high", justification_ref="case-file:risk-2026-11-24",
            recipient_agency_id="clinic", purpose="healthcare", classes=["D8"], fields=["health.suicide_risk"])
        with pytest.raises(GatewayAPIError) as refused:
            caseworker.approve_exception(grant.id)
        assert refused.value.reason == "role_not_entitled"
        supervisor = ngo.acting_for(token_of("supervisor"))
        approved = supervisor.approve_exception(grant.id)
        assert approved.status == "approved" and approved.approved_by != approved.requested_by
        with pytest.raises(GatewayAPIError) as alone:
            ngo.approve_exception(grant.id)
        assert alone.value.reason == "person_token_required"
