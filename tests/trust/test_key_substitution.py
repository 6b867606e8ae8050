"""Issue 15, attack 1: the operator substitutes an agency's key with its own token.

The operator POSTs an X25519 key for the shelter and "verifies" it with the fingerprint the
API returned; the gateway now hands that key to senders. The sender's SDK, which pinned the
shelter's keys from fingerprints a person typed, refuses to seal to it and says why; the
shelter's monitor reports the key it never bound. A rotation the shelter signs itself is
accepted (and reported loudly as a key change).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.cli import app as sdk_cli
from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError, VerificationError
from connectors.key_pins import KeyChange, KeyNotTrusted, KeyPins
from connectors.referral import seal_referral
from connectors.staff import person_token_with_code
from crypto.binding import make_binding
from crypto.keys import generate_agency_keys, save_key_file
from gateway.context import GatewayContext
from tests.support.staff import PASSWORD, new_staff, sdk_staff, totp_secret
from tests.trust.conftest import WitnessedGateway
from tests.trust.test_history_rewrite import activity

EXPLAINED = ["reason", "storage", "access_to_file", "recipients", "scope", "duties_to_share"]
FIELDS = {"subject.preferred_name": "A.", "risk.level": "high"}


def shelter_plan(ngo: GatewayClient, ctx: GatewayContext) -> dict[str, object]:
    staff = sdk_staff(ctx, ngo)  # the subject, the consent and the plan name a signed-in caseworker
    subject = staff.request("POST", "/v1/subjects", json={"attributes": {"age_band": "25-34"}})
    staff.request("POST", "/v1/consents", json={
        "subject_id": subject["id"], "purpose": "shelter", "recipients": [{"agency_id": "shelter"}],
        "scope": "relevant_portion", "data_classes": ["D1", "D12"], "explained_items": EXPLAINED,
        "notice_version": "shelter-notice-1", "language": "en", "channel": "in_person",
        "capacity": "has_capacity",
        "expires_at": (datetime.now(UTC) + timedelta(days=90)).isoformat()})
    return staff.plan(subject["id"], "shelter", "shelter", list(FIELDS))  # type: ignore[no-any-return]


def witness_now(gw: WitnessedGateway) -> None:
    gw.checkpoint()
    gw.witness_round()


def test_a_key_the_operator_substitutes_is_refused_by_the_sender_and_reported_by_the_victim(
    witnessed_gateway: WitnessedGateway, tmp_path: Path,
) -> None:
    gw = witnessed_gateway
    activity(gw.ctx, 1)
    witness_now(gw)
    changes: list[KeyChange] = []
    shelter_fps = gw.registry.keys["shelter"].public().fingerprints()
    ngo_fps = gw.registry.keys["ngo"].public().fingerprints()
    with gw.client("ngo", "ngo-head.json", pins=KeyPins(tmp_path / "ngo-pins.json", on_key_change=changes.append)
                   ) as ngo, gw.client("shelter", "shelter-head.json", pins=KeyPins(tmp_path / "shelter-pins.json")
                                       ) as shelter, \
            GatewayClient(gw.url, "operator", gw.registry.keys["operator"]) as operator:
        # First contact: each side types the fingerprints the other read out over the phone.
        ngo.pin_agency("shelter", x25519=shelter_fps["encryption"].lower(), ed25519=shelter_fps["signing"])
        shelter.pin_agency("ngo", ed25519=ngo_fps["signing"])
        with pytest.raises(KeyNotTrusted, match="fingerprint_not_found"):
            ngo.pin_agency("clinic", x25519=shelter_fps["encryption"])  # a wrong fingerprint pins nothing
        plan = shelter_plan(ngo, gw.ctx)
        assert ngo.seal(plan, FIELDS)["manifest"]["recipient_agency_id"] == "shelter"  # the pinned key: fine
        assert shelter.monitor_keys() == []

        # The attack: the operator's token adds a key for the shelter and "verifies" it, through a
        # staff account of the operator's own (verifying a fingerprint is a person's act).
        insider = new_staff(gw.ctx, "operator", "administrator")
        operator_person = operator.acting_for(person_token_with_code(
            gw.url, insider.username, PASSWORD, totp_secret(gw.ctx, insider.account_id)))
        rogue_keys = generate_agency_keys()
        rogue = rogue_keys.public()
        added = operator.request("POST", "/v1/agencies/shelter/keys",
                                 json={"kind": "x25519", "public_key": rogue.encryption_b64})
        operator_person.request("POST", f"/v1/agencies/shelter/keys/{added['id']}/verify",
                                json={"fingerprint": added["fingerprint"]})
        # ... and a signing key for the sender, to re-sign a forged referral.
        forged_signer = operator.request("POST", "/v1/agencies/ngo/keys",
                                         json={"kind": "ed25519", "public_key": rogue.signing_b64})
        operator_person.request("POST", f"/v1/agencies/ngo/keys/{forged_signer['id']}/verify",
                                json={"fingerprint": forged_signer["fingerprint"]})
        # The gateway itself never serves either key as usable: the shelter and the ngo bound neither.
        assert operator.request("GET", f"/v1/agencies/shelter/keys/{added['id']}")["status"] == "unbound"
        assert ngo.request("GET", "/v1/agencies/shelter/recipient-key")["key_id"] == gw.registry.key_ids["shelter"][
            "x25519"]
        with pytest.raises(GatewayAPIError) as not_relayed:
            ngo.request("GET", "/v1/agencies/shelter/recipient-key", params={"key_id": added["id"]})
        assert not_relayed.value.reason == "recipient_key_not_bound_by_agency"
        with pytest.raises(GatewayAPIError) as no_token, GatewayClient(gw.url, "ngo", rogue_keys) as forger:
            forger.token()  # a client assertion signed with the operator's key for the ngo
        assert no_token.value.status in (400, 401)
        forged = seal_referral(plan=plan, fields=FIELDS, sender_agency_id="ngo", sender_keys=rogue_keys,
                               sender_key_id=str(forged_signer["id"]), recipient_key=ngo.recipient_key("shelter"))
        with pytest.raises(GatewayAPIError) as not_accepted:
            ngo.submit_sealed(forged, attempts=1)
        assert not_accepted.value.reason == "sender_key_not_bound_by_agency"
        witness_now(gw)

        # A gateway that lied anyway (its code swapped) is caught by the pinning SDK, naming why.
        rogue_key = {"kind": "x25519", "public_key": rogue.encryption_b64, "fingerprint": added["fingerprint"]}
        with pytest.raises(KeyNotTrusted) as refused:
            ngo.trust_key("shelter", str(added["id"]), rogue_key)
        assert refused.value.reason == "no_agency_binding"
        assert added["fingerprint"] in str(refused.value) and shelter_fps["encryption"] in str(refused.value)
        with pytest.raises(VerificationError, match="unbound"):
            shelter.signing_key("ngo", forged_signer["id"])  # the recipient refuses the forged sender key

        alarms = shelter.monitor_keys()
        assert [(a["key_id"], a["fingerprint"]) for a in alarms] == [(added["id"], added["fingerprint"])]
        key_file = tmp_path / "shelter.json"
        save_key_file(key_file, gw.registry.keys["shelter"])
        monitor = CliRunner().invoke(sdk_cli, ["monitor-keys", "shelter", "--key-file", str(key_file),
                                               "--url", gw.url])
        assert monitor.exit_code == 3, monitor.output
        assert f"ALARM {added['id']}" in monitor.output and added["fingerprint"] in monitor.output

        # A rotation the shelter signs with its pinned signing key is accepted, and reported as a key change.
        fresh = generate_agency_keys().public()
        bound = shelter.bind_key("x25519", fresh.encryption_b64, at=datetime.now(UTC).isoformat())
        assert bound["status"] == "verified"
        witness_now(gw)
        assert ngo.recipient_key("shelter")["key_id"] == bound["id"]
        assert [(c.agency_id, c.kind, c.new_fingerprint) for c in changes] == [
            ("shelter", "x25519", bound["fingerprint"])]
        assert ngo.pins is not None
        assert (ngo.pins.pinned("shelter", "x25519") or {}).get("source") == "binding"
        assert [a["key_id"] for a in shelter.monitor_keys()] == [added["id"]]  # its own rotation is no alarm
        # The operator cannot forge a binding: it holds no signing key of the shelter.
        other = generate_agency_keys().public()
        binding, signature = make_binding(agency_id="shelter", kind="x25519", public_key_b64=other.encryption_b64,
                                          signing_seed=gw.registry.keys["operator"].signing_seed, at="2026-01-01")
        with pytest.raises(GatewayAPIError) as forged:
            operator.request("POST", "/v1/agencies/shelter/keys/bindings",
                             json={"binding": binding, "signature": signature})
        assert forged.value.status == 404
        with pytest.raises(GatewayAPIError) as self_signed:  # nor through the shelter's own route with its key
            shelter.request("POST", "/v1/agencies/shelter/keys/bindings",
                            json={"binding": binding, "signature": signature})
        assert self_signed.value.reason == "binding_signature_invalid"


def test_an_unpinned_agency_is_refused_until_a_person_confirms_its_fingerprints(
    witnessed_gateway: WitnessedGateway, tmp_path: Path,
) -> None:
    gw = witnessed_gateway
    activity(gw.ctx, 1)
    witness_now(gw)
    with gw.client("ngo", "ngo-head.json", pins=KeyPins(tmp_path / "pins.json")) as ngo:
        with pytest.raises(KeyNotTrusted) as refused:
            ngo.recipient_key("shelter")
        assert refused.value.reason == "not_pinned"
    # The pin file persists: a restarted SDK trusts exactly what was pinned.
    pins = KeyPins(tmp_path / "pins.json")
    pins.pin("shelter", [{"kind": "x25519", "status": "verified", "public_key": "k",
                          "fingerprint": gw.registry.keys["shelter"].public().fingerprints()["encryption"]}],
             {"x25519": gw.registry.keys["shelter"].public().fingerprints()["encryption"]})
    assert KeyPins(tmp_path / "pins.json").pinned("shelter", "x25519") == pins.pinned("shelter", "x25519")


def test_first_enrolment_by_a_one_time_secret_and_the_operator_minting_another_is_caught(
    witnessed_gateway: WitnessedGateway,
) -> None:
    gw = witnessed_gateway
    newcomer = generate_agency_keys()
    now = datetime.now(UTC).isoformat()
    with GatewayClient(gw.url, "operator", gw.registry.keys["operator"]) as operator:
        operator.request("POST", "/v1/agencies", json={"id": "newcomer", "name": "New shelter", "kind": "shelter",
                                                       "jurisdiction": "NL", "vetted": True,
                                                       "confidentiality_policy_version": "conf-2026-1"})
        secret = operator.request("POST", "/v1/agencies/newcomer/enrolment-secrets")["secret"]
        # The agency enrols itself with the secret it received out of band: usable at once.
        keys = GatewayClient.enrol(gw.url, "newcomer", newcomer, secret, at=now)
        assert sorted((k["kind"], k["status"]) for k in keys) == [("ed25519", "verified"), ("x25519", "verified")]
        with pytest.raises(GatewayAPIError) as reused:  # the secret works once
            GatewayClient.enrol(gw.url, "newcomer", generate_agency_keys(), secret, at=now)
        assert (reused.value.status, reused.value.reason) == (403, "enrolment_refused")
        with GatewayClient(gw.url, "newcomer", newcomer) as agency:
            assert agency.monitor_keys() == []
            # The operator mints itself another secret and enrols keys of its own in the agency's name...
            rogue = generate_agency_keys()
            again = operator.request("POST", "/v1/agencies/newcomer/enrolment-secrets")["secret"]
            with pytest.raises(GatewayAPIError) as second:  # ... which the gateway refuses: only one root
                GatewayClient.enrol(gw.url, "newcomer", rogue, again, at=now)
            assert (second.value.status, second.value.reason) == (403, "already_enrolled")
            assert agency.monitor_keys() == []
    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    with gw.ctx.sessions() as session:
        refused = session.scalars(select(AuditEntry.reason).where(AuditEntry.action == "registry:enrolment:refuse"))
        assert list(refused) == ["enrolment_refused", "already_enrolled"]


def test_keys_written_straight_into_the_database_are_never_used_by_the_gateway(
    witnessed_gateway: WitnessedGateway,
) -> None:
    """The operator with the gateway's own database access: it writes a "verified" key row for the
    shelter and for the ngo, and forges the log entries that would bind them (a second enrolment
    root, and a binding claiming the shelter's signing key). The gateway relays to neither and
    accepts no client assertion from the forged ngo key."""
    from gateway.audit.log import Actor, AuditEvent, record
    from gateway.audit.tags import AuditTag
    from gateway.registry.models import AgencyKey, TrustStatus

    gw = witnessed_gateway
    rogue = generate_agency_keys()
    public = rogue.public()
    at = gw.ctx.clock.now()
    with gw.ctx.sessions() as session, session.begin():
        forged_ids = {}
        fps = public.fingerprints()
        for agency_id, kind, b64, fp in (("shelter", "x25519", public.encryption_b64, fps["encryption"]),
                                         ("ngo", "ed25519", public.signing_b64, fps["signing"])):
            row = AgencyKey(id=f"key_forged_{agency_id}", agency_id=agency_id, kind=kind, public_key=b64,
                            fingerprint=fp, status=TrustStatus.VERIFIED, created_at=at, verified_at=at,
                            verified_by="enrolment:forged")
            session.add(row)
            session.flush()
            forged_ids[agency_id] = row.id
            self_signed = make_binding(agency_id=agency_id, kind=kind, public_key_b64=b64,
                                       signing_seed=rogue.signing_seed, at=at.isoformat())
            for signed_by, extra in (("enrolment", {"enrolment_id": "enrol_forged"}),
                                     (gw.registry.key_ids[agency_id]["ed25519"], {})):
                record(session, AuditEvent(AuditTag.REGISTRY_KEY_BIND, decision="allow", details={
                    "agency_id": agency_id, "key_id": row.id, "kind": kind, "public_key": b64,
                    "fingerprint": fp, "binding": self_signed[0], "signature": self_signed[1],
                    "signed_by": signed_by, **extra}), actor=Actor(agency_id=agency_id, role="enrolment"), at=at)
    with GatewayClient(gw.url, "ngo", gw.registry.keys["ngo"]) as ngo:
        assert ngo.request("GET", "/v1/agencies/shelter/recipient-key")["key_id"] == gw.registry.key_ids["shelter"][
            "x25519"]
        with pytest.raises(GatewayAPIError) as not_relayed:
            ngo.request("GET", "/v1/agencies/shelter/recipient-key", params={"key_id": forged_ids["shelter"]})
        assert not_relayed.value.reason == "recipient_key_not_bound_by_agency"
        assert ngo.request("GET", f"/v1/agencies/shelter/keys/{forged_ids['shelter']}")["status"] == "unbound"
    with pytest.raises(GatewayAPIError) as no_token, GatewayClient(gw.url, "ngo", rogue) as forger:
        forger.token()
    assert no_token.value.status in (400, 401)
