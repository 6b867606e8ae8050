"""Exchange throughput beside a bare FastAPI endpoint, measured in the same run on the same machine.

    .venv/bin/python bench/exchange.py [--seconds 10] [--threads 4]

Two servers run as child processes, one uvicorn worker each: the gateway (SQLite in WAL mode
with ``synchronous=FULL``, embedded Rego, background worker off), and a bare FastAPI app whose
one endpoint only parses the same JSON body as a submit (pydantic, extra fields forbidden) and
answers 201. Load comes from ``--threads`` threads in this process; each thread has its own
subject and its own receiving agency, so every exchange round does the same work.

What is measured: HTTP requests answered per second of wall time, nothing else.

- exchange: six requests per referral. Phase 1 (``--seconds``/2): plan, preview approval,
  recipient key lookup. Then, outside the measured time, each referral is sealed to the key
  it looked up (the client's X25519 and Ed25519 work, reported below as ``sdk_seal_ms``):
  the bare loop does no client-side cryptography, so neither does the measured exchange.
  Phase 2: submit, inbox, acknowledgement of every referral planned in phase 1. The
  figure is all requests of both phases over the wall time of both phases.
- bare: one POST per request of the body of a real submit, as bytes; measured for
  ``--seconds``/4 before and ``--seconds``/4 after the exchange, so that drifting load on the
  machine weighs on both alike.

In both loops the client's remaining work is building, sending and reading HTTP requests
(httpx, in this process, on the same cores as the servers). The ratio is exchange over bare
requests/s. Also printed: each server's CPU time per request (Linux ``/proc``; steadier than
requests/s on a busy machine), the p50 latency of each exchange request as the client sees it,
and the SDK's sealing and opening cost per referral (one thread).

The floor: after the run, on the same database, this process measures (in CPU time) what the
gateway cannot skip in a round: the two policy decisions (plan and submit each decide, CR33),
each with the reads its input needs (the subject, both agencies, the consents in force), the
durable transactions with their audit append (one per audited write; counted from the log
during the run), and authenticating each request (token claims and the caller's agency read).
Added to a bare request's server CPU for each of the six requests, that is the least a round
can cost; ``ratio_ceiling_by_cpu`` is the ratio a gateway doing nothing else would reach if
both servers were CPU-bound, and ``ratio_ceiling_with_free_input_reads`` the same if reading a
decision's input cost nothing. (A bare request's CPU, for a submit-sized body, stands in for each
of the six requests, GETs included: an estimate of the floor, not a strict bound.) Ends with one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.client import GatewayClient  # noqa: E402
from connectors.key_pins import KeyPins  # noqa: E402
from connectors.referral import Preview, make_preview, open_referral, seal_referral  # noqa: E402
from crypto.keys import AgencyKeyPair, generate_agency_keys, generate_signing_seed, save_signing_seed  # noqa: E402
from gateway import db, migrate  # noqa: E402
from gateway.audit.log import Actor  # noqa: E402
from gateway.registry import service  # noqa: E402
from gateway.registry.models import AgencyKind  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.setup import enrol_demo_keys  # noqa: E402

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
KINDS = ("plan", "preview_approval", "recipient_key", "submit", "inbox", "ack")


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


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (Linux), or None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def setup(data: Path, threads: int) -> tuple[Settings, dict[str, AgencyKeyPair]]:
    """A registry with one sending agency (``ngo``) and one receiving shelter per thread."""
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
    agencies = [("ngo", AgencyKind.NGO)] + [(f"shelter-{n}", AgencyKind.SHELTER) for n in range(threads)]
    with db.make_sessionmaker(engine)() as session, session.begin():
        for agency_id, kind in agencies:
            service.register_agency(session, service.AgencySpec(id=agency_id, name=agency_id, kind=kind,
                                                                jurisdiction="NL", vetted=True,
                                                                confidentiality_policy_version="bench-1"),
                                   actor=actor, now=now)
            pair = generate_agency_keys()
            keys[agency_id] = pair
            enrol_demo_keys(session, agency_id, pair, actor=actor, now=now)
    engine.dispose()
    return settings, keys


def consent_body(subject_id: str, recipient: str) -> dict[str, object]:
    return {"subject_id": subject_id, "purpose": "shelter", "recipients": [{"agency_id": recipient}],
            "scope": "relevant_portion", "data_classes": ["D1", "D5", "D12"],
            "explained_items": ["reason", "storage", "access_to_file", "recipients", "scope", "duties_to_share"],
            "notice_version": "v1", "language": "en", "channel": "in_person", "capacity": "has_capacity",
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()}


def audit_entries(data: Path) -> int:
    """How many entries the audit log holds (read-only; the gateway may be writing)."""
    with closing(sqlite3.connect(f"file:{data / 'gateway.db'}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_entries").fetchone()[0])


def cpu_ms(work: Callable[[], object], repeat: int) -> float:
    """Median CPU milliseconds (this process, every thread) of one call of ``work``."""
    work()
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        samples.append(time.process_time() - started)
    return statistics.median(samples) * 1000


def person_tokens(settings: Settings, count: int) -> list[str]:
    """Person tokens of a signed-in caseworker of the sending agency (preview approvals are theirs)."""
    from crypto.passwords import SecretHasher
    from gateway.app import build_context
    from gateway.audit.log import Actor
    from gateway.staff import service as staff_service

    ctx = build_context(settings)
    try:
        hasher = SecretHasher(time_cost=1, memory_cost=8)
        with ctx.sessions() as session, session.begin():
            enrolment = staff_service.create_account(session, agency_id="ngo", roles=["caseworker"], hasher=hasher,
                                                     actor=Actor(role="bench"), now=ctx.clock.now())
        return [ctx.tokens.issue_person_token(enrolment.account_id, "ngo", ctx.clock.now())[0] for _ in range(count)]
    finally:
        ctx.engine.dispose()


def floor_costs(settings: Settings, subject_id: str, recipient: str, token: str) -> dict[str, float]:
    """CPU ms of the work every round must do, measured on the bench's own database (see the docstring)."""
    from gateway.app import build_context
    from gateway.audit.log import AuditEvent, record
    from gateway.audit.tags import AuditTag
    from gateway.deps import _CALLER_AGENCY, Caller
    from gateway.exchange.service import _decide
    from gateway.policy import decide

    ctx = build_context(settings)
    captured: list[Any] = []
    policy = ctx.policy
    assert policy is not None

    class Capture:
        """The context's policy engine, keeping the input document of the decision it makes."""

        name, version = policy.name, policy.version

        def evaluate(self, doc: Any) -> Any:
            captured.append(doc)
            return policy.evaluate(doc)

    ctx.policy = Capture()  # type: ignore[assignment]
    caller = Caller(agency_id="ngo", kind="ngo", jurisdiction="NL", scopes=frozenset())

    def decide_with_input() -> None:
        with ctx.sessions() as session, session.begin():
            decision, _ = _decide(session, ctx, caller, subject_id=subject_id, recipient_id=recipient,
                                  purpose="shelter", fields=list(FIELDS), user_role="caseworker",
                                  user_id="bench-caseworker")
        if not decision.allow:
            raise RuntimeError(f"the floor's decision is a deny: {decision.reasons}")

    decide_with_input()
    doc = captured[0]
    ctx.policy = policy  # captured: time the context's own engine from here on

    def append() -> None:
        with ctx.sessions() as session, session.begin():
            record(session, AuditEvent(AuditTag.EXCHANGE_PLAN, reason="bench_floor", subject_id=subject_id),
                   actor=Actor(agency_id="ngo", role="ngo"), at=datetime.now(UTC))

    def authenticate() -> None:
        ctx.tokens.verify(token, ctx.clock.now())
        with db.read_connection(ctx.engine) as conn:
            conn.execute(_CALLER_AGENCY, {"agency_id": "ngo"}).first()

    figures = {
        "decision": cpu_ms(lambda: decide(policy, doc), 2000),
        "decision_with_input": cpu_ms(decide_with_input, 1000),
        "audited_write": cpu_ms(append, 300),
        "authenticate": cpu_ms(authenticate, 2000),
    }
    policy.close()
    ctx.engine.dispose()
    return figures


def run_threads(threads: int, work: Callable[[int], int]) -> tuple[int, float]:
    """Run ``work(n)`` in ``threads`` threads; (requests it reports, wall seconds)."""
    counts = [0] * threads

    def run(n: int) -> None:
        counts[n] = work(n)

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    threads = args.threads
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "gw"
        settings, keys = setup(data, threads)
        port = int(settings.issuer.rsplit(":", 1)[1])
        env = {**os.environ, "GATEWAY_DATA_DIR": str(data), "GATEWAY_ISSUER": settings.issuer,
               "GATEWAY_BACKGROUND_WORKER": "false", "GATEWAY_LOG_LEVEL": "WARNING"}
        gw = subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--port",
                               str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bare_port = free_port()
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port),
                                 "--log-level", "warning", "--no-access-log"], cwd=tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(f"{settings.issuer}/healthz")
            wait_up(f"http://127.0.0.1:{bare_port}/docs")
            recipients = [f"shelter-{n}" for n in range(threads)]
            pins = KeyPins()  # each agency's public keys, as handed over out of band
            for agency_id, pair in keys.items():
                pins.pin_public_keys(agency_id, pair.public())
            senders = [GatewayClient(settings.issuer, "ngo", keys["ngo"], pins=pins) for _ in range(threads)]
            receivers = [GatewayClient(settings.issuer, r, keys[r], pins=pins) for r in recipients]
            # Subjects, consents, plans and preview approvals name a staff member: each sender's system
            # acts for the signed-in caseworker (RFC 8693); sealing, submitting and pulling are machine work.
            advocates = [sender.acting_for(token) for sender, token in zip(senders, person_tokens(settings, threads),
                                                                            strict=True)]
            subjects = []
            for advocate, recipient in zip(advocates, recipients, strict=True):
                subject = advocate.request("POST", "/v1/subjects", json={
                    "attributes": {"age_band": "25-34"}})
                advocate.request("POST", "/v1/consents", json=consent_body(subject["id"], recipient))
                subjects.append(subject["id"])
            sender_key_id = senders[0].my_key_id("ed25519")
            latency: dict[str, list[float]] = {kind: [] for kind in KINDS}
            lock = threading.Lock()
            planned: list[list[tuple[dict[str, Any], Preview, dict[str, Any]]]] = [[] for _ in range(threads)]
            sealed: list[list[dict[str, Any]]] = [[] for _ in range(threads)]

            def timed(local: dict[str, list[float]], kind: str, call: Callable[[], Any]) -> Any:
                started = time.perf_counter()
                answer = call()
                local[kind].append(time.perf_counter() - started)
                return answer

            def plan_phase(n: int, stop: float) -> int:
                sender, recipient, local = senders[n], recipients[n], {kind: [] for kind in KINDS}
                requests = 0
                while time.monotonic() < stop:
                    plan = timed(local, "plan",
                                 lambda: advocates[n].plan(subjects[n], recipient, "shelter", list(FIELDS)))
                    preview = sender.preview(plan, FIELDS, "en")
                    timed(local, "preview_approval",
                          lambda: advocates[n].approve_preview(plan, preview))  # noqa: B023
                    key = timed(local, "recipient_key", lambda: sender.recipient_key(recipient))
                    planned[n].append((plan, preview, key))
                    requests += 3
                with lock:
                    for kind, values in local.items():
                        latency[kind].extend(values)
                return requests

            def seal_all() -> None:
                for n in range(threads):
                    sealed[n] = [seal_referral(plan=plan, fields={k: v for k, v in FIELDS.items()
                                                                  if k in plan["permitted_fields"]},
                                               sender_agency_id="ngo", sender_keys=keys["ngo"],
                                               sender_key_id=sender_key_id, recipient_key=key, preview=preview)
                                 for plan, preview, key in planned[n]]
                    planned[n] = []

            def deliver_phase(n: int) -> int:
                sender, receiver, local = senders[n], receivers[n], {kind: [] for kind in KINDS}
                requests = 0
                for body in sealed[n]:
                    timed(local, "submit", lambda: sender.submit_sealed(body))  # noqa: B023
                    envelopes = timed(local, "inbox", lambda: receiver.inbox(limit=5))
                    if len(envelopes) != 1:
                        raise RuntimeError(f"expected one envelope in the inbox, found {len(envelopes)}")
                    timed(local, "ack", lambda: receiver.ack(envelopes[0]["envelope_id"]))  # noqa: B023
                    requests += 3
                with lock:
                    for kind, values in local.items():
                        latency[kind].extend(values)
                return requests

            # Warm up both servers (tokens, the policy engine, connection pools), then discard.
            run_threads(threads, lambda n: plan_phase(n, time.monotonic() + 0.5))
            seal_all()
            run_threads(threads, deliver_phase)
            for values in latency.values():
                values.clear()
            sample_body = sealed[0][0]
            body_bytes = json.dumps(sample_body).encode()
            bare_clients = [httpx.Client(base_url=f"http://127.0.0.1:{bare_port}") for _ in range(threads)]

            def bare_phase(n: int, stop: float) -> int:
                requests = 0
                while time.monotonic() < stop:
                    bare_clients[n].post("/v1/envelopes", content=body_bytes,
                                         headers={"content-type": "application/json"}).raise_for_status()
                    requests += 1
                return requests

            bare_phase(0, time.monotonic() + 0.5)

            def measure_bare(seconds: float) -> tuple[int, float, float | None]:
                cpu0 = cpu_seconds(bare.pid)
                stop = time.monotonic() + seconds
                requests, wall = run_threads(threads, lambda n: bare_phase(n, stop))
                cpu1 = cpu_seconds(bare.pid)
                return requests, wall, (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None

            bare_a = measure_bare(args.seconds / 4)
            entries0 = audit_entries(data)
            cpu0 = cpu_seconds(gw.pid)
            stop = time.monotonic() + args.seconds / 2
            requests_1, wall_1 = run_threads(threads, lambda n: plan_phase(n, stop))
            cpu1 = cpu_seconds(gw.pid)
            seal_all()  # not measured: client-side cryptography
            cpu2 = cpu_seconds(gw.pid)
            requests_2, wall_2 = run_threads(threads, deliver_phase)
            cpu3 = cpu_seconds(gw.pid)
            entries1 = audit_entries(data)
            bare_b = measure_bare(args.seconds / 4)
            token = senders[0].token()
        finally:
            gw.terminate()
            bare.terminate()
            gw.wait()
            bare.wait()
        floor = floor_costs(settings, subjects[0], recipients[0], token)
        # SDK cost per referral (client side, single thread).
        recipient = keys["shelter-0"]
        sender = keys["ngo"]
        plan = {"plan_id": "p", "envelope_id": "e", "subject_id": "s", "purpose": "shelter",
                "recipient_agency_id": "shelter-0", "permitted_fields": list(FIELDS)}
        rkey = {"key_id": "k", "public_key": recipient.public().encryption_b64}
        seal_times, open_times = [], []
        for _ in range(300):
            t0 = time.perf_counter()
            body = seal_referral(plan=plan, fields=FIELDS, sender_agency_id="ngo", sender_keys=sender,
                                 sender_key_id="s", recipient_key=rkey, preview=make_preview(FIELDS, "en"))
            t1 = time.perf_counter()
            open_referral(body, recipient_agency_id="shelter-0", recipient_keys=recipient,
                          sender_signing_public_b64=sender.public().signing_b64)
            t2 = time.perf_counter()
            seal_times.append(t1 - t0)
            open_times.append(t2 - t1)

    exchange_requests = requests_1 + requests_2
    exchange_wall = wall_1 + wall_2
    exchange_rps = exchange_requests / exchange_wall
    bare_requests = bare_a[0] + bare_b[0]
    bare_rps = bare_requests / (bare_a[1] + bare_b[1])
    gw_cpu = None
    if cpu0 is not None and cpu1 is not None and cpu2 is not None and cpu3 is not None:
        gw_cpu = (cpu1 - cpu0) + (cpu3 - cpu2)
    bare_cpu = None if bare_a[2] is None or bare_b[2] is None else bare_a[2] + bare_b[2]
    rounds = exchange_requests / len(KINDS)
    if rounds == 0:
        raise SystemExit("no exchange round completed: run longer (--seconds)")
    appends_per_round = (entries1 - entries0) / rounds
    # A round of the bare endpoint's server CPU, and the floor added to it (see the docstring).
    bare_round_ms = len(KINDS) * bare_cpu / bare_requests * 1000 if bare_cpu else None
    floor_round_ms = reads_free_round_ms = None
    if bare_round_ms:
        fixed = bare_round_ms + len(KINDS) * floor["authenticate"] + appends_per_round * floor["audited_write"]
        floor_round_ms = fixed + 2 * floor["decision_with_input"]
        reads_free_round_ms = fixed + 2 * floor["decision"]  # as if the decision's input cost nothing to read
    figures: dict[str, Any] = {
        "seconds": args.seconds, "threads": threads,
        "exchange_requests_per_s": round(exchange_rps, 1),
        "exchange_rounds_per_s": round(exchange_requests / len(KINDS) / exchange_wall, 1),
        "bare_requests_per_s": round(bare_rps, 1),
        "ratio_exchange_to_bare": round(exchange_rps / bare_rps, 3),
        "exchange_server_cpu_ms_per_request": round(gw_cpu / exchange_requests * 1000, 2) if gw_cpu else None,
        "bare_server_cpu_ms_per_request": round(bare_cpu / bare_requests * 1000, 3) if bare_cpu else None,
        **{f"p50_ms_{kind}": round(statistics.median(latency[kind]) * 1000, 1) for kind in KINDS},
        "sdk_seal_ms": round(statistics.median(seal_times) * 1000, 3),
        "sdk_open_ms": round(statistics.median(open_times) * 1000, 3),
        "floor_decision_cpu_ms": round(floor["decision"], 3),
        "floor_decision_with_input_cpu_ms": round(floor["decision_with_input"], 3),
        "floor_audited_write_cpu_ms": round(floor["audited_write"], 3),
        "floor_authenticate_cpu_ms": round(floor["authenticate"], 3),
        "audit_appends_per_round": round(appends_per_round, 2),
        "floor_cpu_ms_per_request": round(floor_round_ms / len(KINDS), 3) if floor_round_ms else None,
        "ratio_ceiling_by_cpu": round(bare_round_ms / floor_round_ms, 3) if bare_round_ms and floor_round_ms else None,
        "ratio_ceiling_with_free_input_reads": round(bare_round_ms / reads_free_round_ms, 3)
        if bare_round_ms and reads_free_round_ms else None,
    }
    print(f"{'measure':<36}{'value':>12}")
    for name, value in figures.items():
        print(f"{name:<36}{value!s:>12}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
