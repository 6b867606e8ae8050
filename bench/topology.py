"""Referrals per second through Caddy with two gateway replicas and with one, in the same run.

    .venv/bin/python bench/topology.py [--referrals 40] [--senders 4]

Starts the production shape of docker-compose.yml on loopback (tests/support/topology.py: Caddy
with its internal CA, two ``gateway serve`` replicas, a throwaway PostgreSQL, the OPA-compatible
server), registers agencies, and has ``--senders`` agencies send ``--referrals`` referrals in all
through Caddy over HTTPS (plan, preview approval, seal, submit: four requests and a token now and
then), first with both replicas, then with one (the other stopped; Caddy's health check takes it
out). The one-replica figure is the baseline measured in the same run.

Also printed, per referral: the CPU time each part used (Caddy, each replica, PostgreSQL, the OPA
server, and this client), read from Linux ``/proc``: the part that uses the most CPU per referral is
where the ceiling is when the machine's cores are the limit. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.client import GatewayClient  # noqa: E402
from crypto.keys import generate_signing_seed  # noqa: E402
from gateway.app import build_context  # noqa: E402
from gateway.policy.bundle import PolicyBundle  # noqa: E402
from gateway.policy.factory import build_engine  # noqa: E402
from gateway.registry.models import AgencyKind  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from tests.conftest import register  # noqa: E402
from tests.consent.conftest import consent_body, subject_body  # noqa: E402
from tests.support.pins import pins_for  # noqa: E402
from tests.support.postgres import _CLUSTERS, throwaway_cluster  # noqa: E402
from tests.support.staff import new_staff  # noqa: E402
from tests.support.topology import Topology, production_shape  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children (0 when /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / TICKS


def _postgres_cpu_s(database_url: str) -> float:
    """The postmaster's CPU with its reaped children, plus every live backend's."""
    datadir = _CLUSTERS[database_url][1]
    try:
        postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    except OSError:
        return 0.0
    total = _cpu_s(postmaster)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == postmaster:
                total += _cpu_s(int(entry.name))
    return total


def _parts(topology: Topology) -> dict[str, float]:
    parts = {"caddy": _cpu_s(topology.caddy.pid), "postgres": _postgres_cpu_s(topology.database_url),
             "client": time.process_time()}
    for replica in topology.replicas:
        parts[replica.name] = _cpu_s(replica.proc.pid) if replica.proc and replica.proc.poll() is None else 0.0
    if topology.opa.proc is not None:
        parts["opa"] = _cpu_s(topology.opa.proc.pid)
    return parts


Sender = tuple[GatewayClient, str, Callable[[], GatewayClient]]
"""An agency's client, its subject, and its client acting for its caseworker (a fresh person token each)."""


def _sender(client: GatewayClient, subject_id: str, caseworker: Callable[[], GatewayClient], count: int,
            errors: list[str]) -> None:
    for i in range(count):
        fields = {"subject.preferred_name": f"p-{i}", "risk.level": "high", "risk.known_risks": "none known"}
        try:
            staff = caseworker()  # the plan and the approval are the caseworker's acts
            plan = staff.plan(subject_id, "shelter", "shelter", list(fields))
            preview = staff.preview(plan, fields, "en")
            staff.approve_preview(plan, preview)
            client.submit(plan, fields, preview=preview)
        except Exception as exc:  # counted, not fatal: the figure is referrals that went through
            errors.append(type(exc).__name__)


def _phase(topology: Topology, clients: list[Sender], referrals: int) -> dict[str, Any]:
    per_sender = max(1, referrals // len(clients))
    errors: list[str] = []
    before = _parts(topology)  # (the figure counts referrals that went through; errors are listed)
    started = time.perf_counter()
    threads = [threading.Thread(target=_sender, args=(c, s, a, per_sender, errors)) for c, s, a in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    after = _parts(topology)
    done = per_sender * len(clients) - len(errors)
    cpu = {k: round(1000 * (after.get(k, 0.0) - before.get(k, 0.0)) / max(done, 1), 2) for k in after}
    return {"referrals": done, "errors": len(errors), "error_kinds": sorted(set(errors)), "seconds": round(wall, 2),
            "referrals_per_s": round(done / wall, 2), "cpu_ms_per_referral": cpu}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--referrals", type=int, default=40)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    seed = generate_signing_seed()
    bundle = PolicyBundle.load(ROOT / "policies")
    with tempfile.TemporaryDirectory(prefix="bench-topology-") as tmp, throwaway_cluster() as url, \
            production_shape(url, Path(tmp), seed) as topology:
        settings = Settings(env="test", database_url=url, data_dir=Path(tmp) / "local", issuer=topology.url,
                            background_worker=False, argon2_time_cost=1, argon2_memory_kib=8)
        ctx = build_context(settings, signing_seed=seed, policy=build_engine("embedded", bundle=bundle))
        shelter_keys, _ = register(ctx, "shelter", AgencyKind.SHELTER)
        clients: list[Sender] = []
        for n in range(args.senders):
            keys, _ = register(ctx, f"ngo-{n}", AgencyKind.NGO)
            client = GatewayClient(topology.url, f"ngo-{n}", keys, transport=topology.transport(), timeout_s=60,
                                   pins=pins_for({"shelter": shelter_keys}))
            member = new_staff(ctx, f"ngo-{n}", "caseworker", password=None)

            def caseworker(client: GatewayClient = client, agency: str = f"ngo-{n}",
                           account: str = member.account_id) -> GatewayClient:
                token, _ttl = ctx.tokens.issue_person_token(account, agency, datetime.now(UTC))
                return client.acting_for(token)

            recorder = caseworker()  # a subject and a consent name the signed-in caseworker
            subject = recorder.request("POST", "/v1/subjects", json=subject_body())
            recorder.request("POST", "/v1/consents", json=consent_body(
                subject["id"], recipients=[{"agency_id": "shelter"}]))

            clients.append((client, subject["id"], caseworker))
        _phase(topology, clients, len(clients))  # warm-up: tokens, connections, caches
        two = _phase(topology, clients, args.referrals)
        topology.replicas[1].stop()
        time.sleep(3)  # three of Caddy's health checks (1 s apart in the test shape): it takes the replica out
        # Until Caddy's health check takes the stopped replica out, a request on a connection to it
        # fails (a POST is not retried on another upstream): a warm-up, not measured.
        _phase(topology, clients, 2 * len(clients))
        one = _phase(topology, clients, args.referrals)
        for client, _, _ in clients:
            client.close()
        ctx.engine.dispose()
    figures = {"two_replicas": two, "one_replica": one,
               "ratio_two_to_one": round(two["referrals_per_s"] / one["referrals_per_s"], 2)
               if one["referrals_per_s"] else None}
    print(f"{'replicas':>8} {'referrals':>9} {'errors':>6} {'ref/s':>7}  CPU ms per referral")
    for name, phase in (("2", two), ("1", one)):
        cpu = ", ".join(f"{k} {v}" for k, v in sorted(phase["cpu_ms_per_referral"].items(), key=lambda kv: -kv[1]))
        print(f"{name:>8} {phase['referrals']:>9} {phase['errors']:>6} {phase['referrals_per_s']:>7}  {cpu}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
