"""Information requests end to end through the SDK, on both policy engines and both databases.

The shelter asks the NGO for named fields about a person the NGO referred earlier (the NGO's
subject id is the reference): the NGO sees it in its inbox and answers with a referral the policy
decides as usual; a second request, for a purpose the person never consented to, is refused by
the policy; a third is declined with a reason. Every step is audited; no request carries a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.adapters.base import pull_and_deliver
from connectors.adapters.folder import FolderAdapter
from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError
from connectors.staff import person_token_with_code
from gateway.app import build_context, create_app
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.settings import Settings
from tests.conftest import AGENCIES, Registry, register
from tests.consent.conftest import consent_body, subject_body
from tests.support.live_server import reserve_port, serve
from tests.support.opa_server import OpaServer
from tests.support.pins import pins_for
from tests.support.staff import PASSWORD, new_staff, sdk_staff, totp_secret

FIELDS = {"subject.preferred_name": "Amina-Ibis-4411", "subject.language": "ha", "risk.level": "high"}


@dataclass
class Live:
    url: str
    ctx: GatewayContext
    registry: Registry


@pytest.fixture(params=["embedded", "opa"])
def live(request: pytest.FixtureRequest, db_url: str, tmp_path: Path, signing_seed: bytes,
         policy_bundle: Any) -> Iterator[Live]:
    """The real app over HTTP, deciding with the embedded engine or with a real OPA server."""
    url = f"http://127.0.0.1:{reserve_port()}"
    server = OpaServer().start() if request.param == "opa" else None
    settings = Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=url, argon2_time_cost=1,
                        argon2_memory_kib=8, background_worker=False, log_level="WARNING",
                        **({"policy_engine": "opa", "opa_url": server.url, "opa_timeout_s": 5.0} if server else {}))
    if server is None:
        from gateway.policy.factory import build_engine

        ctx = build_context(settings, signing_seed=signing_seed, policy=build_engine("embedded", bundle=policy_bundle))
    else:
        ctx = build_context(settings, signing_seed=signing_seed)
    reg = Registry(keys={}, key_ids={})
    for agency_id, kind in AGENCIES:
        reg.keys[agency_id], reg.key_ids[agency_id] = register(ctx, agency_id, kind)
    try:
        with serve(create_app(context=ctx), port=int(url.rsplit(":", 1)[1])):
            yield Live(url=url, ctx=ctx, registry=reg)
    finally:
        ctx.engine.dispose()
        if server is not None:
            server.stop()


def _client(live: Live, agency: str) -> GatewayClient:
    return GatewayClient(live.url, agency, live.registry.keys[agency], pins=pins_for(live.registry.keys))


@pytest.mark.rule("CR1", "CR18")
def test_a_request_is_answered_refused_or_declined_through_the_sdk(live: Live, tmp_path: Path) -> None:
    with _client(live, "ngo") as ngo, _client(live, "shelter") as shelter, _client(live, "police") as police:
        staff = sdk_staff(live.ctx, ngo)  # the subject, the consent and the answer name a signed-in caseworker
        subject = staff.request("POST", "/v1/subjects", json=subject_body())
        staff.request("POST", "/v1/consents", json=consent_body(subject["id"], recipients=[{"agency_id": "shelter"}]))

        # Asking is a person's too: the shelter's system acts for its signed-in caseworker; alone it is refused.
        with pytest.raises(GatewayAPIError) as unasked:
            shelter.request_information("ngo", subject["id"], "shelter", list(FIELDS))
        assert unasked.value.status == 403 and unasked.value.reason == "person_token_required"
        asker = sdk_staff(live.ctx, shelter)
        asked = asker.request_information("ngo", subject["id"], "shelter", list(FIELDS), urgency="urgent")
        refused_ask = asker.request_information("ngo", subject["id"], "healthcare", ["subject.preferred_name"])
        declined_ask = asker.request_information("ngo", "ref-unknown-42", "shelter", ["risk.level"])
        assert asked["status"] == "open" and asked["due_at"] is not None  # urgent: due within 24 hours
        assert "plan_id" not in asked

        # The holder's inbox; nobody else sees the requests.
        inbox = {r["id"]: r for r in ngo.information_requests("inbox")}
        assert set(inbox) == {asked["id"], refused_ask["id"], declined_ask["id"]}
        assert police.information_requests("inbox") == []
        with pytest.raises(GatewayAPIError) as hidden:
            police.request("GET", f"/v1/information-requests/{asked['id']}")
        assert hidden.value.status == 404

        # Answered: the policy decides the referral as usual; the person previews it; it is sealed.
        with pytest.raises(GatewayAPIError) as alone:
            ngo.answer_information_request(asked["id"])  # the agency's system alone decides nothing
        assert alone.value.reason == "person_token_required"
        plan = staff.answer_information_request(asked["id"])
        assert plan["allow"] and set(plan["permitted_fields"]) == set(FIELDS)
        preview = ngo.preview(plan, FIELDS, language="en")
        advocate = new_staff(live.ctx, "ngo", "caseworker")
        secret = totp_secret(live.ctx, advocate.account_id)
        token = person_token_with_code(live.url, advocate.username, PASSWORD, secret)
        ngo.acting_for(token).approve_preview(plan, preview)
        sent = ngo.submit(plan, FIELDS, preview=preview)
        inbox_dir = tmp_path / "shelter-inbox"
        assert pull_and_deliver(shelter, FolderAdapter(inbox_dir)) == 1
        assert "Amina-Ibis-4411" in (inbox_dir / f"{sent['envelope_id']}.json").read_text()

        # Refused by the policy: no consent covers healthcare for the shelter.
        refusal = staff.answer_information_request(refused_ask["id"])
        assert refusal["allow"] is False and refusal["plan_id"] is None and "no_consent" in refusal["reasons"]

        # Declined by a signed-in person of the holder, with a closed reason; a free-text reason is
        # refused, and so is the agency's system alone (a decline is a person's decision).
        with pytest.raises(GatewayAPIError) as machine:
            ngo.decline_information_request(declined_ask["id"], "not_held")
        assert machine.value.status == 403 and machine.value.reason == "person_token_required"
        with pytest.raises(GatewayAPIError) as free_text:
            staff.decline_information_request(declined_ask["id"], "Amina is not here")
        assert free_text.value.status == 422
        staff.decline_information_request(declined_ask["id"], "not_held")
        with pytest.raises(GatewayAPIError) as twice:
            staff.decline_information_request(declined_ask["id"], "not_held")
        assert twice.value.reason == "request_declined"

        outbox = {r["id"]: r for r in shelter.information_requests("outbox")}
        assert outbox[asked["id"]]["status"] == "answered"
        assert outbox[asked["id"]]["envelope_id"] == sent["envelope_id"]
        assert outbox[refused_ask["id"]]["status"] == "refused"
        assert "no_consent" in outbox[refused_ask["id"]]["refusal_reasons"]
        assert outbox[declined_ask["id"]]["status"] == "declined"
        assert outbox[declined_ask["id"]]["decline_reason"] == "not_held"
        assert all("plan_id" not in r for r in outbox.values())

        # The requester cannot answer on the holder's behalf.
        with pytest.raises(GatewayAPIError) as not_holder:
            sdk_staff(live.ctx, shelter).answer_information_request(asked["id"])
        assert not_holder.value.status == 404

    with live.ctx.sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions.count("request:information:create") == 3
    assert actions.count("request:information:plan") == 2
    assert actions.count("request:information:decline") == 1


def test_a_request_carries_no_personal_data(live: Live) -> None:
    with _client(live, "shelter") as shelter:
        asker = sdk_staff(live.ctx, shelter)
        for bad in ({"subject_ref": "Amina Yusuf"}, {"fields": ["subject.shoe_size"]}, {"purpose": "gossip"},
                    {"holder_agency_id": "shelter"}, {"basis": "because"}):
            body = {"holder_agency_id": "ngo", "subject_ref": "ref-000001", "purpose": "shelter",
                    "fields": ["risk.level"], "basis": "consent", **bad}
            with pytest.raises(GatewayAPIError) as refused:
                asker.request("POST", "/v1/information-requests", json=body)
            assert refused.value.status == 422, bad
