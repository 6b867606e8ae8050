"""Plan and submit: every refusal has its own reason and stores nothing; acceptance is atomic."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.clock import FixedClock
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.exchange.models import Envelope, EnvelopePart, IdempotencyRecord
from tests.conftest import Registry
from tests.exchange.conftest import FIELDS, RECIPIENT, SENDER, Auth, Case, open_case, plan, sealed, submit


def _counts(ctx: GatewayContext) -> tuple[int, int]:
    with ctx.sessions() as session:
        return (int(session.scalar(select(func.count()).select_from(Envelope)) or 0),
                int(session.scalar(select(func.count()).select_from(EnvelopePart)) or 0))


def _last_submit_audit(ctx: GatewayContext) -> AuditEntry:
    with ctx.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange:envelope:submit")
                                .order_by(AuditEntry.seq.desc())).first()
    assert entry is not None
    return entry


def _refused(ctx: GatewayContext, response, reason: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in (409, 422), response.text
    assert response.json()["reason"] == reason
    assert _counts(ctx) == (0, 0), "a refused submit stored something"
    entry = _last_submit_audit(ctx)
    assert (entry.decision, entry.reason) == ("deny", reason)


@pytest.mark.rule("CR18", "CR1")
def test_plan_returns_permitted_fields_obligations_and_an_expiring_plan(
    client: TestClient, auth: Auth, case: Case
) -> None:
    the_plan = plan(client, auth, case, [*FIELDS, "location.shelter_address", "health.allergies"])
    assert the_plan["allow"] is True
    assert set(the_plan["permitted_fields"]) == set(FIELDS)
    denied = {d["field"]: d["reason"] for d in the_plan["denied_fields"]}
    assert denied["location.shelter_address"] == "shelter_location_accommodation_only"
    assert the_plan["obligations"]["include_risk_summary"] is True
    assert the_plan["obligations"]["person_preview_required"] is True
    assert the_plan["basis"]["consent_ids"] == [case.consent_id]
    assert the_plan["plan_id"] and the_plan["envelope_id"] and the_plan["expires_at"]


def test_accepted_submit_stores_ciphertext_and_audit_in_one_go(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext
) -> None:
    the_plan = plan(client, auth, case)
    response = submit(client, auth, sealed(client, auth, registry, the_plan))
    assert response.status_code == 201, response.text
    assert response.json()["envelope_id"] == the_plan["envelope_id"]
    assert _counts(ctx) == (1, len(FIELDS))
    entry = _last_submit_audit(ctx)
    assert entry.decision == "allow"
    assert entry.classes_released == ["D1", "D12", "D5"]
    assert entry.basis["consent_ids"] == [case.consent_id]


def test_field_outside_the_plan_is_refused(client: TestClient, auth: Auth, registry: Registry, case: Case,
                                           ctx: GatewayContext) -> None:
    the_plan = plan(client, auth, case, ["subject.preferred_name", "risk.level"])
    body = sealed(client, auth, registry, {**the_plan, "permitted_fields": [*the_plan["permitted_fields"],
                                                                            "subject.language"]},
                  {"subject.preferred_name": "Amina", "risk.level": "high", "subject.language": "ha"})
    _refused(ctx, submit(client, auth, body), "field_outside_plan")


def test_stale_plan_is_refused(client: TestClient, auth: Auth, registry: Registry, case: Case,
                               ctx: GatewayContext, clock: FixedClock) -> None:
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan)
    clock.advance(timedelta(seconds=ctx.settings.plan_ttl_s + 1))
    _refused(ctx, submit(client, auth, body), "plan_expired")


@pytest.mark.rule("CR14", "CR33", "S04")
def test_consent_withdrawn_after_plan_is_refused_at_submit(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext, clock: FixedClock
) -> None:
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan)
    withdrawn = client.post(f"/v1/consents/{case.consent_id}/withdraw", headers=auth(SENDER), json={
        "channel": "portal"})
    assert withdrawn.status_code == 200, withdrawn.text
    clock.advance(timedelta(milliseconds=1))
    _refused(ctx, submit(client, auth, body), "consent_withdrawn")


def test_revoked_recipient_key_is_refused(client: TestClient, auth: Auth, registry: Registry, case: Case,
                                          ctx: GatewayContext) -> None:
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan)
    key_id = registry.key_ids[RECIPIENT]["x25519"]
    revoked = client.post(f"/v1/agencies/{RECIPIENT}/keys/{key_id}/revoke", headers=auth(RECIPIENT),
                          json={"reason": "laptop stolen"})
    assert revoked.status_code == 200
    _refused(ctx, submit(client, auth, body), "recipient_key_revoked")


def test_bad_signature_and_altered_ciphertext_are_refused(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext
) -> None:
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan)
    forged = copy.deepcopy(body)
    forged["manifest"]["created_at"] = "2020-01-01T00:00:00Z"  # any change to the signed manifest
    _refused(ctx, submit(client, auth, forged, key="k-a"), "signature_invalid")
    altered = copy.deepcopy(body)
    name = next(iter(altered["ciphertexts"]))
    text = altered["ciphertexts"][name]
    altered["ciphertexts"][name] = ("A" if text[10] != "A" else "B").join([text[:10], text[11:]])
    _refused(ctx, submit(client, auth, altered, key="k-b"), "ciphertext_hash_mismatch")


@pytest.mark.rule("CR18", "CR19")
def test_preview_must_be_approved_and_match(client: TestClient, auth: Auth, registry: Registry, case: Case,
                                            ctx: GatewayContext) -> None:
    the_plan = plan(client, auth, case)
    unapproved = sealed(client, auth, registry, the_plan, approve=False)
    _refused(ctx, submit(client, auth, unapproved, key="k-a"), "preview_not_approved")
    approved = sealed(client, auth, registry, the_plan)  # approves the preview of FIELDS
    different = sealed(client, auth, registry, the_plan, {**FIELDS, "risk.level": "low"}, approve=False)
    _refused(ctx, submit(client, auth, different, key="k-b"), "preview_hash_mismatch")
    assert submit(client, auth, approved, key="k-c").status_code == 201


@pytest.mark.rule("L9")
def test_referral_without_the_risk_summary_is_refused(client: TestClient, auth: Auth, registry: Registry,
                                                      case: Case, ctx: GatewayContext) -> None:
    the_plan = plan(client, auth, case, ["subject.preferred_name", "subject.language"])
    body = sealed(client, auth, registry, the_plan, {"subject.preferred_name": "Amina", "subject.language": "ha"})
    _refused(ctx, submit(client, auth, body), "risk_summary_missing")


def test_same_idempotency_key_replays_the_first_answer(client: TestClient, auth: Auth, registry: Registry,
                                                       case: Case, ctx: GatewayContext) -> None:
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan)
    first = submit(client, auth, body, key="same")
    again = submit(client, auth, body, key="same")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert _counts(ctx)[0] == 1
    changed = copy.deepcopy(body)
    changed["ciphertexts"] = dict(reversed(list(changed["ciphertexts"].items())))
    changed["manifest"]["language"] = "fr"
    reused = submit(client, auth, changed, key="same")
    assert reused.status_code == 422
    assert reused.json()["reason"] == "idempotency_key_reused"
    missing = client.post("/v1/envelopes", headers=auth(SENDER), json=body)
    assert missing.status_code == 400
    assert missing.json()["reason"] == "idempotency_key_required"
    other_key = submit(client, auth, body, key="another")
    assert other_key.status_code == 409
    assert other_key.json()["reason"] == "plan_already_used"


def test_a_replay_or_a_reused_key_adds_no_audit_decision(client: TestClient, auth: Auth, registry: Registry,
                                                         case: Case, ctx: GatewayContext) -> None:
    """Only the first submit decides (and is audited); a replay answers from the stored record, and a
    key reused for another request is refused before anything is decided."""
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan)
    assert submit(client, auth, body, key="once").status_code == 201
    first = _last_submit_audit(ctx)
    assert submit(client, auth, body, key="once").status_code == 201
    changed = copy.deepcopy(body)
    changed["manifest"]["language"] = "fr"
    assert submit(client, auth, changed, key="once").json()["reason"] == "idempotency_key_reused"
    assert _last_submit_audit(ctx).seq == first.seq
    assert (first.decision, first.reason) == ("allow", None)


def test_idempotency_keys_are_scoped_per_agency(client: TestClient, auth: Auth, registry: Registry,
                                                case: Case, ctx: GatewayContext) -> None:
    the_plan = plan(client, auth, case)
    assert submit(client, auth, sealed(client, auth, registry, the_plan), key="shared").status_code == 201
    with ctx.sessions() as session:
        assert session.get(IdempotencyRecord, (SENDER, "shared")) is not None
        assert session.get(IdempotencyRecord, ("police", "shared")) is None


@pytest.mark.rule("S12")
def test_unregistered_or_unverified_endpoint_is_refused(client: TestClient, auth: Auth, registry: Registry,
                                                        case: Case, ctx: GatewayContext) -> None:
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan)
    _refused(ctx, submit(client, auth, {**body, "endpoint_id": "ep_made_up"}, key="k-a"), "endpoint_unregistered")
    ep = client.post(f"/v1/agencies/{RECIPIENT}/endpoints", headers=auth(RECIPIENT),
                     json={"url": "https://shelter.example/hook"}).json()
    _refused(ctx, submit(client, auth, {**body, "endpoint_id": ep["id"]}, key="k-b"), "endpoint_pending")


@pytest.mark.rule("CR32", "S34")
def test_new_recipient_waits_for_its_own_consent_and_the_person_is_told(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext
) -> None:
    from consent.notices import notices_for

    denied = plan(client, auth, case, recipient="clinic")
    assert denied["allow"] is False
    assert denied["plan_id"] is None
    assert "no_consent" in denied["reasons"] or "recipient_not_named" in denied["reasons"]
    with ctx.sessions() as session:
        kinds = [n.kind for n in notices_for(session, case.subject_id)]
    assert "consent_needed" in kinds
    with ctx.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange:plan:create")
                                .order_by(AuditEntry.seq.desc())).first()
    assert entry is not None and entry.decision == "deny"


def test_plans_and_envelopes_belong_to_their_agencies(client: TestClient, auth: Auth, registry: Registry,
                                                      case: Case) -> None:
    other = client.post("/v1/plans", headers=auth("police"), json={
        "subject_id": case.subject_id, "recipient_agency_id": RECIPIENT, "purpose": "shelter",
        "fields": ["risk.level"]})
    assert other.status_code == 404  # not police's subject, and it must not learn it exists
    the_plan = plan(client, auth, case)
    response = submit(client, auth, sealed(client, auth, registry, the_plan))
    envelope_id = response.json()["envelope_id"]
    assert client.post(f"/v1/envelopes/{envelope_id}/ack", headers=auth("police")).status_code == 404
    assert client.get(f"/v1/outbox/{envelope_id}", headers=auth("police")).status_code == 404


def test_declined_nrm_does_not_block_support_referrals(client: TestClient, auth: Auth, registry: Registry) -> None:
    case = open_case(client, auth, declined_nrm=True)
    assert plan(client, auth, case)["allow"] is True
