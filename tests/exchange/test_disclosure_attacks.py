"""Issue 17, attacks 4 and 5: what the exchange keeps cannot be searched or carry free text.

- The preview commitment is keyed with a random 256-bit key sealed to the recipient: a dictionary
  search over names, languages and risk levels finds nothing in the approval, the manifest or
  the audit log, and the recipient still checks the payload against what the person approved.
- A manifest with any key beside the protocol's is refused (422 ``manifest_invalid``), stores
  nothing, and the answer does not echo the key or its value.
- A refused submit's audit entry names only ids that exist and are the caller's.
- The recipient does not see plans about it that were refused.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connectors.errors import VerificationError
from connectors.referral import open_referral
from crypto.canonical import canonical_json
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from gateway.exchange.models import Envelope, PreviewApproval
from tests.conftest import Registry
from tests.exchange.conftest import FIELDS, RECIPIENT, SENDER, Auth, Case, open_case, plan, sealed, submit
from tests.support.pseudonyms import pseudonym_of, subject_of

NAMES = ["Amina", "Blessing", "Joy", "Mariam", "Olga", "Sofia"]
LANGUAGES = ["en", "fr", "ha", "ru", "ro", "ar", "es"]
RISK_LEVELS = ["low", "medium", "high"]


def _stored_text(ctx: GatewayContext) -> str:
    """Every approval, manifest and audit entry, as text."""
    with ctx.sessions() as session:
        parts = [a.preview_hash for a in session.scalars(select(PreviewApproval))]
        parts += [json.dumps(e.manifest) for e in session.scalars(select(Envelope))]
        parts += [json.dumps([e.subject_id, e.purpose, e.recipient_agency_id, e.reason, e.details, e.basis])
                  for e in session.scalars(select(AuditEntry))]
    return "\n".join(parts)


@pytest.mark.rule("CR18", "CR19")
def test_a_dictionary_search_finds_nothing_in_the_preview_commitment(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext
) -> None:
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan, language="ha")
    assert submit(client, auth, body).status_code == 201
    stored = _stored_text(ctx)
    commitment = body["manifest"]["preview"]["commitment"]
    assert commitment.startswith("hmac-sha256:") and commitment in stored  # approval and manifest hold it
    # The attack of the issue: recompute the unkeyed hash of every guess and look for it anywhere.
    base = {k: v for k, v in FIELDS.items() if k in the_plan["permitted_fields"]}
    tried = 0
    for name, language, level in itertools.product(NAMES, LANGUAGES, RISK_LEVELS):
        guess = {**base, "subject.preferred_name": name, "risk.level": level}
        digest = hashlib.sha256(canonical_json({"language": language, "fields": guess})).hexdigest()
        assert digest not in stored
        tried += 1
    assert tried == len(NAMES) * len(LANGUAGES) * len(RISK_LEVELS)
    # ... and the right guess is among them: the old, unkeyed hash would have been found.
    right = hashlib.sha256(canonical_json({"language": "ha", "fields": base})).hexdigest()
    assert right not in stored
    # The audit log holds neither the commitment nor the language.
    with ctx.sessions() as session:
        audit = json.dumps([e.details for e in session.scalars(select(AuditEntry))])
    assert commitment.split(":", 1)[1] not in audit and '"ha"' not in audit and "preview_hash" not in audit
    assert "preview" not in body["manifest"]["preview"]["sealed"]


def test_the_recipient_still_checks_the_payload_against_the_approved_preview(
    client: TestClient, auth: Auth, registry: Registry, case: Case
) -> None:
    the_plan = plan(client, auth, case)
    body = sealed(client, auth, registry, the_plan, language="ha")
    keys = registry.keys
    opened = open_referral(body, recipient_agency_id=RECIPIENT, recipient_keys=keys[RECIPIENT],
                           sender_signing_public_b64=keys[SENDER].public().signing_b64)
    assert opened.language == "ha" and opened.fields["risk.level"] == "high"
    # A preview of other values, re-signed by the sender, does not pass the recipient's check.
    other = sealed(client, auth, registry, plan(client, auth, case), {**FIELDS, "risk.level": "low"}, approve=False)
    swapped = copy.deepcopy(body)
    swapped["manifest"]["preview"] = other["manifest"]["preview"]
    from crypto.signing import sign_document

    swapped["signature"] = sign_document(keys[SENDER].signing_seed, swapped["manifest"])
    with pytest.raises(VerificationError):
        open_referral(swapped, recipient_agency_id=RECIPIENT, recipient_keys=keys[RECIPIENT],
                      sender_signing_public_b64=keys[SENDER].public().signing_b64)


@pytest.mark.parametrize("where", ["top", "field", "preview"])
def test_extra_keys_in_the_manifest_are_refused_and_never_stored(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext, where: str
) -> None:
    body = sealed(client, auth, registry, plan(client, auth, case))
    rider = {"full_name": "Jane Roe", "home_address": "12 Elm Street", "phone_number": "+44 7700 900123"}
    target = {"top": body["manifest"], "field": body["manifest"]["fields"][0],
              "preview": body["manifest"]["preview"]}[where]
    target.update(rider)
    response = submit(client, auth, body)
    assert response.status_code == 422 and response.json()["reason"] == "manifest_invalid"
    for value in (*rider, *rider.values()):
        assert value not in response.text
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Envelope)) == 0
    stored = _stored_text(ctx)
    assert all(value not in stored for value in rider.values())


def test_a_refused_submit_records_only_the_callers_own_ids(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext
) -> None:
    body = sealed(client, auth, registry, plan(client, auth, case))
    lies: dict[str, Any] = copy.deepcopy(body)
    lies["plan_id"] = "Jane-Roe-12-Elm-Street"
    lies["manifest"]["subject_id"] = "Jane-Roe"
    assert submit(client, auth, lies, key="k-lie").status_code in (404, 422)
    wrong = copy.deepcopy(body)
    wrong["manifest"]["purpose"] = "lives_at_elm_street"  # refused (manifest mismatch) on the caller's plan
    assert submit(client, auth, wrong, key="k-wrong").status_code == 422
    # Another agency's plan id is not the caller's either.
    theirs = sealed(client, auth, registry, plan(client, auth, case))
    assert submit(client, auth, theirs, key="k-theirs", sender="iom").status_code in (403, 404, 422)
    with ctx.sessions() as session:
        refusals = list(session.scalars(select(AuditEntry).where(AuditEntry.action == AuditTag.EXCHANGE_SUBMIT,
                                                                 AuditEntry.decision == "deny")
                                        .order_by(AuditEntry.seq)))
    text = json.dumps([[e.subject_id, e.purpose, e.recipient_agency_id, e.details] for e in refusals])
    assert "Jane" not in text and "Elm" not in text and "lives_at" not in text
    assert refusals[0].details["plan_id"] == "(unrecognised)" and refusals[0].subject_id is None
    assert (subject_of(ctx, refusals[1].subject_id), refusals[1].purpose) == (case.subject_id, "shelter")
    assert refusals[1].details["plan_id"] == body["plan_id"]


def test_a_refused_plan_records_no_text_the_client_chose(client: TestClient, auth: Auth, case: Case,
                                                          ctx: GatewayContext) -> None:
    response = client.post("/v1/plans", headers=auth(SENDER), json={
        "subject_id": case.subject_id, "recipient_agency_id": "jane-roe-elm-street", "purpose": "lives_at_elm",
        "fields": ["subject.preferred_name"]})
    assert response.status_code in (200, 404, 422)
    with ctx.sessions() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == AuditTag.EXCHANGE_PLAN)))
    text = json.dumps([[e.purpose, e.recipient_agency_id, e.details] for e in entries])
    assert "jane" not in text and "lives_at" not in text


@pytest.mark.rule("CR32")
def test_the_recipient_does_not_see_plans_about_it_that_were_refused(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    refused_case = open_case(client, auth, recipient="clinic", purpose="healthcare")
    refused = client.post("/v1/plans", headers=auth(SENDER), json={
        "subject_id": refused_case.subject_id, "recipient_agency_id": "police", "purpose": "criminal_justice",
        "fields": ["subject.preferred_name"]})
    assert refused.status_code == 200 and refused.json()["allow"] is False
    police = client.get("/v1/audit/entries", params={"limit": 200}, headers=auth("police", "audit:read")).json()
    refused_subject = pseudonym_of(ctx, refused_case.subject_id)
    assert refused_subject and all(e["subject_id"] != refused_subject for e in police["entries"])
    with ctx.sessions() as session:
        seq = session.scalars(select(AuditEntry.seq).where(AuditEntry.action == AuditTag.EXCHANGE_PLAN,
                                                           AuditEntry.recipient_agency_id == "police")).one()
    proof = client.get(f"/v1/audit/entries/{seq}/inclusion-proof", params={"tree_size": seq + 1},
                       headers=auth("police", "audit:read"))
    assert proof.status_code == 404
    mine = client.get("/v1/audit/entries", params={"limit": 200}, headers=auth(SENDER, "audit:read")).json()
    assert any(e["subject_id"] == refused_subject and e["decision"] == "deny" for e in mine["entries"])
