"""What witnessing and key proofs cost an agency, beside today's exchange, measured in the same run.

    .venv/bin/python bench/trust.py [--referrals 30] [--proofs 50]

One gateway (SQLite, embedded Rego, background worker off) is served by uvicorn in this
process, with the demo registry. Each referral is: plan, preview approval, recipient key,
seal and submit, by the advocacy service to the shelter, with the SDK.

- ``today``: the SDK as before: it trusts the registry's key and checks no tree head.
- ``witnessed``: the SDK with a :class:`~connectors.tree_head.WitnessedLog` (it checks the
  witnessed checkpoint, quorum 1, and consistency from the head it kept, before *every*
  call, and gossips its head) and :class:`~connectors.key_pins.KeyPins` (the shelter's keys
  pinned); and after every referral the gateway cuts a checkpoint and the witness checks a
  consistency proof and cosigns it. A checkpoint per referral is the worst case: the gateway
  cuts one every few seconds, however many referrals that covers.

Both loops alternate in rounds so drifting load weighs on both alike. Also measured: the
checkpoint-and-witness step alone per referral, and the SDK's cost of accepting a key that
is not pinned but proven (the agency's binding signature, the witnessed checkpoint's two
signatures, an RFC 9162 inclusion proof) against looking up a pinned key. Work is counted
(requests, signatures checked) as well as timed. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn
from sqlalchemy import select

from connectors.client import GatewayClient
from connectors.key_pins import KeyPins
from connectors.tree_head import WitnessedLog
from connectors.witness import Witness
from crypto import note as notes
from crypto.keys import generate_agency_keys, generate_signing_seed, load_key_file
from gateway.accounts import StaffAccount
from gateway.app import create_app
from gateway.audit.checkpoints import make_checkpoint_if_due
from gateway.settings import Settings
from gateway.setup import init_data_dir, seed_demo

SENDER, RECIPIENT = "advocate-demo", "shelter-demo"
EXPLAINED = ["reason", "storage", "access_to_file", "recipients", "scope", "duties_to_share"]
FIELDS = {"subject.preferred_name": "A.", "subject.language": "en", "risk.level": "high"}


class Counting(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return super().handle_request(request)


def referral(client: GatewayClient, subject_id: str, person_token: Callable[[], str]) -> None:
    staff = client.acting_for(person_token())  # planning and the approval are the caseworker's acts
    plan = staff.plan(subject_id, RECIPIENT, "shelter", list(FIELDS))
    preview = staff.preview(plan, FIELDS, language="en")
    staff.approve_preview(plan, preview)
    staff.submit(plan, FIELDS, preview=preview)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--referrals", type=int, default=30, help="Referrals per variant.")
    parser.add_argument("--proofs", type=int, default=50, help="Key-proof verifications to time.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-trust-"))
    port_probe = socket.socket()
    port_probe.bind(("127.0.0.1", 0))
    port = port_probe.getsockname()[1]
    port_probe.close()
    witness_seed = generate_signing_seed()
    witness_key = notes.signer_verifier("bench.example/witness", witness_seed, notes.COSIGNATURE)
    settings = Settings(data_dir=tmp, issuer=f"http://127.0.0.1:{port}", background_worker=False,
                        log_level="WARNING", audit_checkpoint_interval_s=86_400, argon2_time_cost=1,
                        argon2_memory_kib=8, witnesses=witness_key.vkey())
    init_data_dir(settings)
    seed_demo(settings)
    app = create_app(settings)
    ctx = app.state.ctx
    signer = ctx.note_signer()
    log_key = signer.verifier()
    witness = Witness(name=witness_key.name, seed=witness_seed, log_key=log_key, state_path=tmp / "witness.json")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    url = settings.issuer
    keys = tmp / "agency-keys"
    sender_keys, recipient_keys = load_key_file(keys / f"{SENDER}.json"), load_key_file(keys / f"{RECIPIENT}.json")
    http = httpx.Client(base_url=url)
    caseworker_name = json.loads((tmp / "demo-staff.json").read_text())["caseworker"]["username"]
    with ctx.sessions() as session:
        caseworker = str(session.scalar(select(StaffAccount.id).where(StaffAccount.username == caseworker_name)))

    def person_token() -> str:
        """What the demo caseworker's signed-in browser would hand the agency's system (single use)."""
        return str(ctx.tokens.issue_person_token(caseworker, SENDER, ctx.clock.now())[0])

    def witness_step() -> float:
        started = time.perf_counter()
        make_checkpoint_if_due(ctx.sessions, ctx.signing_seed, origin=settings.issuer, at=ctx.clock.now(),
                               signer=signer)
        witness.run_once(http)
        return time.perf_counter() - started

    witness_step()
    plain_transport, trust_transport = Counting(), Counting()
    plain_pins = KeyPins()  # the baseline pins too (a dictionary lookup) but checks no witnessed log
    plain_pins.pin_public_keys(RECIPIENT, recipient_keys.public())
    plain = GatewayClient(url, SENDER, sender_keys, transport=plain_transport, pins=plain_pins)
    wlog = WitnessedLog(log_key=log_key, witnesses=[witness_key], quorum=1, state_path=tmp / "head.json")
    pins = KeyPins(tmp / "pins.json")
    trusted = GatewayClient(url, SENDER, sender_keys, transport=trust_transport, log=wlog, pins=pins)
    trusted.pin_agency(RECIPIENT, x25519=recipient_keys.public().fingerprints()["encryption"],
                       ed25519=recipient_keys.public().fingerprints()["signing"])
    recorder = plain.acting_for(person_token())  # a subject and a consent name the signed-in caseworker
    subject = recorder.request("POST", "/v1/subjects", json={"attributes": {"age_band": "25-34"}})
    recorder.request("POST", "/v1/consents", json={
        "subject_id": subject["id"], "purpose": "shelter", "recipients": [{"agency_id": RECIPIENT}],
        "scope": "relevant_portion", "data_classes": ["D1", "D5", "D12"], "explained_items": EXPLAINED,
        "notice_version": "shelter-notice-1", "language": "en", "channel": "in_person", "capacity": "has_capacity",
        "expires_at": (datetime.now(UTC) + timedelta(days=90)).isoformat()})
    referral(plain, subject["id"], person_token)  # warm both paths
    referral(trusted, subject["id"], person_token)
    witness_step()
    today: list[float] = []
    witnessed: list[float] = []
    steps: list[float] = []
    plain_transport.requests = trust_transport.requests = 0
    for _ in range(args.referrals):
        started = time.perf_counter()
        referral(plain, subject["id"], person_token)
        today.append(time.perf_counter() - started)
        started = time.perf_counter()
        referral(trusted, subject["id"], person_token)
        step = witness_step()
        witnessed.append(time.perf_counter() - started)
        steps.append(step)
    requests_today = plain_transport.requests / args.referrals
    requests_witnessed = trust_transport.requests / args.referrals

    # A key that is not pinned but proven: the shelter rotates its encryption key with a binding.
    with GatewayClient(url, RECIPIENT, recipient_keys) as shelter:
        bound = shelter.bind_key("x25519", generate_agency_keys().public().encryption_b64,
                                 at=datetime.now(UTC).isoformat())
    witness_step()
    proof = dict(http.get(f"/v1/agencies/{RECIPIENT}/keys/{bound['id']}/proof").json())
    key = {"kind": "x25519", "public_key": bound["public_key"], "fingerprint": bound["fingerprint"]}
    base_pins = dict(pins.pins)
    proven: list[float] = []
    lookups: list[float] = []
    signatures = 0
    for _ in range(args.proofs):
        fresh = KeyPins()
        fresh.pins = json.loads(json.dumps(base_pins))
        head_log = WitnessedLog(log_key=log_key, witnesses=[witness_key], quorum=1)
        started = time.perf_counter()
        fresh.check(RECIPIENT, key, lambda: proof, lambda note, log=head_log: log.accept(note, lambda a, b: []))
        proven.append(time.perf_counter() - started)
        signatures = head_log.verifications + 1  # the checkpoint key, each trusted witness, the agency's binding
        started = time.perf_counter()
        fresh.check(RECIPIENT, key, lambda: proof, None)  # now pinned: a lookup
        lookups.append(time.perf_counter() - started)
    server.should_exit = True
    thread.join(timeout=10)
    http.close()
    plain.close()
    trusted.close()

    def ms(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 3)

    figures = {
        "referrals": args.referrals,
        "today_ms_per_referral": ms(today),
        "witnessed_ms_per_referral": ms(witnessed),
        "checkpoint_and_witness_ms_per_referral": ms(steps),
        "overhead_ratio": round(statistics.median(witnessed) / statistics.median(today), 3),
        "requests_per_referral_today": round(requests_today, 2),
        "requests_per_referral_witnessed": round(requests_witnessed, 2),
        "key_proof_verify_ms": ms(proven),
        "pinned_key_lookup_ms": ms(lookups),
        "key_proof_signatures_checked": signatures,
        "key_proof_inclusion_hashes": len(proof["events"][0]["proof"]),
    }
    print(f"{'':44}{'median ms':>12}")
    print(f"{'referral, today (trusts the registry)':44}{figures['today_ms_per_referral']:>12}")
    print(f"{'referral, witnessed log + pinned keys':44}{figures['witnessed_ms_per_referral']:>12}")
    print(f"{'  of which checkpoint + witness cosign':44}{figures['checkpoint_and_witness_ms_per_referral']:>12}")
    print(f"{'key proven by binding + inclusion (SDK)':44}{figures['key_proof_verify_ms']:>12}")
    print(f"{'pinned key lookup (SDK)':44}{figures['pinned_key_lookup_ms']:>12}")
    print(f"requests per referral: today {figures['requests_per_referral_today']}, "
          f"witnessed {figures['requests_per_referral_witnessed']}; ratio witnessed/today {figures['overhead_ratio']}")
    print(json.dumps(figures))
    sys.stdout.flush()
    # The embedded policy engine may not be dropped from the server's thread at interpreter exit.
    os._exit(0)


if __name__ == "__main__":
    main()
