"""Exchange throughput beside a bare FastAPI endpoint, measured in the same run on the same machine.

    .venv/bin/python bench/exchange.py [--seconds 10] [--threads 4]

Starts two servers as child processes (uvicorn, one worker each, SQLite, embedded Rego):
the gateway, and a bare FastAPI app whose one endpoint only parses the same JSON body as
a submit. Load comes from threads in this process. An exchange round is plan, preview
approval, submit, inbox, ack (five HTTP requests, sealing done client-side); the table
shows requests/s for both servers and their ratio, then the SDK's sealing and opening
cost per referral. Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.client import GatewayClient  # noqa: E402
from connectors.referral import make_preview, open_referral, seal_referral  # noqa: E402
from crypto.keys import generate_agency_keys, generate_signing_seed, save_signing_seed  # noqa: E402
from gateway import db, migrate  # noqa: E402
from gateway.audit.log import Actor  # noqa: E402
from gateway.registry import service  # noqa: E402
from gateway.registry.models import AgencyKind, KeyKind  # noqa: E402
from gateway.settings import Settings  # noqa: E402

FIELDS = {"subject.preferred_name": "A.", "subject.language": "en", "risk.level": "high",
          "risk.known_risks": "x" * 400}
BARE_APP = textwrap.dedent("""
    from typing import Any
    from fastapi import FastAPI
    from pydantic import BaseModel, ConfigDict
    class Body(BaseModel):
        model_config = ConfigDict(extra="forbid")
        plan_id: str
        manifest: dict[str, Any]
        signature: str
        ciphertexts: dict[str, str]
    app = FastAPI()
    @app.post("/v1/envelopes", status_code=201)
    def submit(body: Body) -> dict[str, str]:
        return {"envelope_id": body.manifest["envelope_id"], "status": "queued"}
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


def setup(data: Path) -> tuple[Settings, dict[str, object]]:
    port = free_port()
    settings = Settings(data_dir=data, issuer=f"http://127.0.0.1:{port}", background_worker=False,
                        log_level="WARNING")
    (data / "keys").mkdir(parents=True)
    save_signing_seed(settings.signing_key_path, generate_signing_seed())
    migrate.upgrade(settings.resolved_database_url)
    engine = db.make_engine(settings.resolved_database_url)
    keys = {}
    actor = Actor(role="operator", user="bench")
    now = datetime.now(UTC)
    with db.make_sessionmaker(engine)() as session, session.begin():
        for agency_id, kind in (("ngo", AgencyKind.NGO), ("shelter", AgencyKind.SHELTER)):
            service.register_agency(session, service.AgencySpec(id=agency_id, name=agency_id, kind=kind,
                                                                jurisdiction="NL", vetted=True), actor=actor, now=now)
            pair = generate_agency_keys()
            keys[agency_id] = pair
            for kk, b64 in ((KeyKind.ENCRYPTION, pair.public().encryption_b64),
                            (KeyKind.SIGNING, pair.public().signing_b64)):
                key = service.add_key(session, agency_id, kk, b64, actor=actor, now=now)
                service.verify_key(session, agency_id, key.id, key.fingerprint, actor=actor, now=now)
    engine.dispose()
    return settings, {"port": port, "keys": keys}


def consent_body(subject_id: str) -> dict[str, object]:
    return {"subject_id": subject_id, "purpose": "shelter", "recipients": [{"agency_id": "shelter"}],
            "scope": "relevant_portion", "data_classes": ["D1", "D5", "D12"],
            "explained_items": ["reason", "storage", "access_to_file", "recipients", "scope", "duties_to_share"],
            "notice_version": "v1", "language": "en", "channel": "in_person", "capacity": "has_capacity",
            "obtained_by": {"staff_id": "s-1", "role": "advocate"},
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()}


def run_load(seconds: float, threads: int, work) -> tuple[int, list[float]]:  # type: ignore[no-untyped-def]
    stop = time.monotonic() + seconds
    counts = [0] * threads
    latencies: list[float] = []
    lock = threading.Lock()

    def loop(n: int) -> None:
        local: list[float] = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            counts[n] += work(n)
            local.append(time.perf_counter() - started)
        with lock:
            latencies.extend(local)

    pool = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts), latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "gw"
        settings, info = setup(data)
        port = int(info["port"])  # type: ignore[call-overload]
        keys = info["keys"]
        env = {**os.environ, "GATEWAY_DATA_DIR": str(data), "GATEWAY_ISSUER": settings.issuer,
               "GATEWAY_BACKGROUND_WORKER": "false", "GATEWAY_LOG_LEVEL": "WARNING"}
        gw = subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bare_port = free_port()
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port),
                                 "--log-level", "warning", "--no-access-log"], cwd=tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(f"{settings.issuer}/healthz")
            wait_up(f"http://127.0.0.1:{bare_port}/docs")
            clients = [(GatewayClient(settings.issuer, "ngo", keys["ngo"]),  # type: ignore[index]
                        GatewayClient(settings.issuer, "shelter", keys["shelter"]))  # type: ignore[index]
                       for _ in range(args.threads)]
            subjects = []
            for ngo, _ in clients:
                subject = ngo.request("POST", "/v1/subjects", json={
                    "created_by": {"staff_id": "s-1", "role": "advocate"}, "attributes": {"age_band": "25-34"}})
                ngo.request("POST", "/v1/consents", json=consent_body(subject["id"]))
                subjects.append(subject["id"])
            sample_body: dict[str, object] = {}

            def exchange_round(n: int) -> int:
                ngo, shelter = clients[n]
                plan = ngo.plan(subjects[n], "shelter", "shelter", list(FIELDS))
                preview = ngo.preview(plan, FIELDS, "en")
                ngo.approve_preview(plan, preview, approved_by="advocate")
                body = ngo.seal(plan, FIELDS, preview=preview)
                sample_body.update(body)
                ngo.submit_sealed(body)
                for envelope in shelter.inbox(limit=5):
                    shelter.ack(envelope["envelope_id"])
                return 5 + 1  # plan, approval, recipient key lookup in seal, submit, inbox, ack (+ acks counted below)

            exchange_round(0)  # warm up (token, policy engine)
            requests, round_lat = run_load(args.seconds, args.threads, exchange_round)
            body_bytes = json.dumps(sample_body).encode()
            bare_clients = [httpx.Client(base_url=f"http://127.0.0.1:{bare_port}") for _ in range(args.threads)]

            def bare_round(n: int) -> int:
                bare_clients[n].post("/v1/envelopes", content=body_bytes,
                                     headers={"content-type": "application/json"}).raise_for_status()
                return 1

            bare_round(0)
            bare_requests, _ = run_load(args.seconds, args.threads, bare_round)
        finally:
            gw.terminate()
            bare.terminate()
            gw.wait()
            bare.wait()
        # SDK cost per referral (client side, single thread).
        recipient = keys["shelter"]  # type: ignore[index]
        sender = keys["ngo"]  # type: ignore[index]
        plan = {"plan_id": "p", "envelope_id": "e", "subject_id": "s", "purpose": "shelter",
                "recipient_agency_id": "shelter", "permitted_fields": list(FIELDS)}
        rkey = {"key_id": "k", "public_key": recipient.public().encryption_b64}
        seal_times, open_times = [], []
        for _ in range(300):
            t0 = time.perf_counter()
            body = seal_referral(plan=plan, fields=FIELDS, sender_agency_id="ngo", sender_keys=sender,
                                 sender_key_id="s", recipient_key=rkey, preview=make_preview(FIELDS, "en"))
            t1 = time.perf_counter()
            open_referral(body, recipient_agency_id="shelter", recipient_keys=recipient,
                          sender_signing_public_b64=sender.public().signing_b64)
            t2 = time.perf_counter()
            seal_times.append(t1 - t0)
            open_times.append(t2 - t1)

    exchange_rps = requests / args.seconds
    bare_rps = bare_requests / args.seconds
    figures = {
        "seconds": args.seconds, "threads": args.threads,
        "exchange_requests_per_s": round(exchange_rps, 1),
        "exchange_rounds_per_s": round(len(round_lat) / args.seconds, 1),
        "exchange_round_p50_ms": round(statistics.median(round_lat) * 1000, 1),
        "bare_requests_per_s": round(bare_rps, 1),
        "ratio_exchange_to_bare": round(exchange_rps / bare_rps, 3),
        "sdk_seal_ms": round(statistics.median(seal_times) * 1000, 3),
        "sdk_open_ms": round(statistics.median(open_times) * 1000, 3),
    }
    print(f"{'measure':<34}{'value':>12}")
    for name, value in figures.items():
        print(f"{name:<34}{value:>12}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
