"""The SDK covers lawful exceptions, the agency's notices and audit-checkpoint pinning, with typed results."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError, VerificationError
from connectors.records import AgencyNotice, ExceptionGrant
from connectors.staff import person_token_with_code
from crypto.checkpoint import sign_checkpoint
from tests.consent.conftest import subject_body
from tests.exceptions.conftest import POLICY, publish
from tests.exchange.conftest import LiveGateway
from tests.support.pins import pins_for
from tests.support.staff import PASSWORD, new_staff, sdk_staff, totp_secret


def _client(live: LiveGateway, agency_id: str) -> GatewayClient:
    return GatewayClient(live.url, agency_id, live.registry.keys[agency_id], pins=pins_for(live.registry.keys))


def test_exception_grants_and_notices_through_the_sdk(live_gateway: LiveGateway) -> None:
    ctx = live_gateway.ctx
    publish(ctx, "ngo", POLICY)

    def token_of(*roles: str) -> str:
        member = new_staff(ctx, "ngo", *roles)
        return person_token_with_code(live_gateway.url, member.username, PASSWORD,
                                      totp_secret(ctx, member.account_id))

    with _client(live_gateway, "ngo") as ngo:
        staff = sdk_staff(ctx, ngo)
        subject = staff.request("POST", "/v1/subjects", json=subject_body())
        supervisor_token = token_of("supervisor")
        requester = ngo.acting_for(supervisor_token)
        asked = requester.request_exception(
            subject["id"], basis="L4", scenario="suicide_risk_primary_doctor", recipient_agency_id="clinic",
            purpose="healthcare", classes=["D8"], fields=["health.suicide_risk"],
            justification_code="risk_assessment_high", justification_ref="case-file:risk-1")
        assert isinstance(asked, ExceptionGrant)
        assert (asked.basis, asked.classes, asked.status) == ("L4", ("D8",), "requested")
        with pytest.raises(GatewayAPIError) as same_person:
            requester.approve_exception(asked.id)
        assert same_person.value.status in (403, 409, 422)
        approved = ngo.acting_for(token_of("supervisor")).approve_exception(asked.id)
        assert approved.status == "approved" and approved.approved_by not in ("", asked.requested_by)
        assert ngo.exception(asked.id).id == asked.id
        assert [g.id for g in ngo.exceptions(subject_id=subject["id"])] == [asked.id]
        plan = staff.plan(subject["id"], "clinic", "healthcare", ["health.suicide_risk"],
                        exception_grant_id=asked.id)
        assert plan["allow"] is True, plan
        with pytest.raises(GatewayAPIError) as unpublished:
            ngo.acting_for(token_of("caseworker")).request_exception(
                subject["id"], basis="L6", scenario="not_published", recipient_agency_id="clinic",
                purpose="healthcare", classes=["D8"], justification_code="x1", justification_ref="ref-1")
        assert unpublished.value.reason.startswith("exception_")
        notices = ngo.notices()
        assert all(isinstance(n, AgencyNotice) for n in notices)


def test_the_client_pins_audit_checkpoints_and_detects_a_rewritten_log(live_gateway: LiveGateway) -> None:
    with _client(live_gateway, "operator") as operator, _client(live_gateway, "ngo") as ngo:
        operator.request("POST", "/v1/audit/checkpoints")
        first = ngo.check_audit_log()
        assert first.accept and ngo.pinned_checkpoint is not None
        pinned = ngo.pinned_checkpoint
        sdk_staff(live_gateway.ctx, ngo).request("POST", "/v1/subjects", json=subject_body())
        operator.request("POST", "/v1/audit/checkpoints")
        grown = ngo.check_audit_log()
        assert grown.reason == "consistent"
        assert ngo.pinned_checkpoint.tree_size > pinned.tree_size
        entries = ngo.audit_entries()["entries"]
        assert entries and ngo.verify_audit_entry(entries[0])
        # A head the gateway signed for the same size but another root: two histories, proven by signatures.
        head = ngo.pinned_checkpoint
        ngo.pinned_checkpoint = sign_checkpoint(live_gateway.ctx.signing_seed, origin=head.origin,
                                                tree_size=head.tree_size, root=bytes(32), at=datetime.now(UTC))
        with pytest.raises(VerificationError, match="rewritten"):
            ngo.check_audit_log()
