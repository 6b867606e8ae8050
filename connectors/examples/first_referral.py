"""A first referral between two demo agencies, end to end, using only the SDK.

    .venv/bin/python -m connectors.examples.first_referral --data-dir var/demo

The advocacy service's caseworker, signed in, records the person's consent to share with the
shelter, asks the gateway what may be sent, shows the person the preview, seals and submits; the
shelter's system pulls, verifies, decrypts and files it into a folder its case system watches.
Everything that names a staff member (the subject, the consent, the plan, the preview approval) is
done by the agency's system acting for the caseworker, with the person token they got at /staff
(here fetched with the password and code of the demo's caseworker at the SDK desk, from
``demo-staff.json``: the tour's caseworker may have changed theirs in the workspace); pulling and
acknowledging are machine work, done by the shelter's system on its own.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from connectors.adapters.base import pull_and_deliver
from connectors.adapters.folder import FolderAdapter
from connectors.client import GatewayClient
from connectors.errors import ConnectorError
from connectors.key_pins import KeyPins
from connectors.staff import person_token_with_code
from crypto.errors import CryptoError
from crypto.keys import load_key_file

EXPLAINED = ["reason", "storage", "access_to_file", "recipients", "scope", "duties_to_share"]


def run(url: str, data_dir: Path, inbox: Path, sender: str = "advocate-demo", recipient: str = "shelter-demo") -> Path:
    """Run the whole exchange; return the file the shelter's system received."""
    keys = data_dir / "agency-keys"
    sender_keys, recipient_keys = load_key_file(keys / f"{sender}.json"), load_key_file(keys / f"{recipient}.json")
    pins = data_dir / "pins"
    with GatewayClient(url, sender, sender_keys, pins=KeyPins(pins / f"{sender}.json")) as advocate, \
            GatewayClient(url, recipient, recipient_keys, pins=KeyPins(pins / f"{recipient}.json")) as shelter:
        # 0. First contact (once): each side pins the other's keys from the fingerprints read out over
        #    the phone; the demo reads them from the key files instead. Nothing else is ever trusted blindly.
        advocate.pin_agency(recipient, x25519=recipient_keys.public().fingerprints()["encryption"])
        shelter.pin_agency(sender, ed25519=sender_keys.public().fingerprints()["signing"])
        # 1. The caseworker signs in; the agency's system acts for them from now on (RFC 8693).
        demo_staff = json.loads((data_dir / "demo-staff.json").read_text())
        caseworker = demo_staff.get("sdk_caseworker", demo_staff["caseworker"])  # older demo folders: one
        token = person_token_with_code(url, caseworker["username"], caseworker["password"], caseworker["totp_secret"])
        staff = advocate.acting_for(token)
        # With the person present: a pseudonymous record and a consent naming the shelter (both name
        # the signed-in caseworker as the staff member who recorded them).
        subject = staff.request("POST", "/v1/subjects", json={
            "attributes": {"age_band": "25-34", "preferred_language": "en"}})
        granted = staff.request("POST", "/v1/consents", json={
            "subject_id": subject["id"], "purpose": "shelter", "recipients": [{"agency_id": recipient}],
            "scope": "relevant_portion", "data_classes": ["D1", "D5", "D12"], "explained_items": EXPLAINED,
            "notice_version": "shelter-notice-1", "language": "en", "channel": "in_person",
            "capacity": "has_capacity",
            "expires_at": (datetime.now(UTC) + timedelta(days=90)).isoformat()})
        # The person's access code for the portal (on their consent card); they choose a PIN with
        # the advocate (POST /v1/subjects/{id}/portal-access/pin) before they can sign in.
        print("subject:", subject["id"], " access code for the portal:", granted.get("access_code"))

        # 2. Ask, preview, approve, seal and submit.
        fields = {"subject.preferred_name": "A.", "subject.language": "en", "risk.level": "high",
                  "risk.known_risks": "Do not confirm residence by phone.",
                  "location.shelter_address": "never sent: the policy withholds it"}
        plan = staff.plan(subject["id"], recipient, "shelter", list(fields))  # decided with the caseworker's role
        print("permitted:", plan["permitted_fields"])
        print("withheld: ", {d["field"]: d["reason"] for d in plan["denied_fields"]})
        preview = staff.preview(plan, fields, language="en")
        staff.approve_preview(plan, preview)
        sent = staff.submit(plan, fields, preview=preview)
        print("submitted:", sent["envelope_id"], sent["status"])

        # 3. The shelter pulls, verifies against the registry, decrypts, files, acknowledges.
        pull_and_deliver(shelter, FolderAdapter(inbox))
        print("sender sees:", advocate.outbox(sent["envelope_id"])["status"])
        return inbox / f"{sent['envelope_id']}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--data-dir", type=Path, default=Path("var/demo"))
    parser.add_argument("--inbox", type=Path, default=Path("var/demo/shelter-inbox"))
    args = parser.parse_args()
    try:
        received = run(args.url, args.data_dir, args.inbox)
    except httpx.HTTPError as exc:
        raise SystemExit(f"error: cannot reach the gateway at {args.url}: {exc} (is it running? pass --url)") from None
    except (ConnectorError, OSError, CryptoError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"the shelter's system received {received}:")
    print(json.dumps(json.loads(received.read_text()), indent=2))


if __name__ == "__main__":
    main()
