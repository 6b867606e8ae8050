"""The production shape run for real: Caddy (TLS, internal CA) -> two ``gateway serve`` replicas ->
one PostgreSQL, with the OPA server; see tests/support/topology.py. Agencies use the SDK over HTTPS
through Caddy only, verifying its CA.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import func, select

from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError
from crypto.keys import generate_signing_seed, signing_public_key
from gateway.app import build_context
from gateway.audit.models import AuditEntry
from gateway.audit.verify import verify_database
from gateway.context import GatewayContext
from gateway.exchange.models import Envelope, EnvelopePart, EnvelopeStatus
from gateway.settings import Settings
from gateway.web.models import LoginThrottle
from tests.conftest import AGENCIES, Registry, register
from tests.consent.conftest import consent_body, subject_body
from tests.support.pins import pins_for
from tests.support.postgres import throwaway_cluster
from tests.support.staff import new_staff
from tests.support.topology import AGENCY_HOST, PROXY_SOURCE, Topology, production_shape

SENDERS = ("ngo", "iom", "unhcr")
RECIPIENT = "shelter"


@dataclass
class Shape:
    topology: Topology
    ctx: GatewayContext
    registry: Registry
    clients: dict[str, GatewayClient] = field(default_factory=dict)

    def client(self, agency_id: str) -> GatewayClient:
        if agency_id not in self.clients:
            self.clients[agency_id] = GatewayClient(self.topology.url, agency_id, self.registry.keys[agency_id],
                                                    pins=pins_for(self.registry.keys),
                                                    transport=self.topology.transport(), timeout_s=30)
        return self.clients[agency_id]


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory, policy_bundle: Any) -> Iterator[Shape]:
    from gateway.policy.factory import build_engine

    seed = generate_signing_seed()
    work = tmp_path_factory.mktemp("shape")
    with throwaway_cluster() as database_url, production_shape(database_url, work, seed) as topology:
        settings = Settings(env="test", database_url=database_url, data_dir=work / "local", issuer=topology.url,
                            background_worker=False, argon2_time_cost=1, argon2_memory_kib=8)
        ctx = build_context(settings, signing_seed=seed, policy=build_engine("embedded", bundle=policy_bundle))
        reg = Registry(keys={}, key_ids={})
        for agency_id, kind in AGENCIES:
            reg.keys[agency_id], reg.key_ids[agency_id] = register(ctx, agency_id, kind)
        result = Shape(topology, ctx, reg)
        try:
            yield result
        finally:
            for client in result.clients.values():
                client.close()
            ctx.engine.dispose()


def _audit_ok(shape: Shape) -> None:
    with shape.ctx.sessions() as session:
        report = verify_database(session, signing_public_key(shape.ctx.signing_seed), origin=shape.topology.url)
    assert report.ok, report.summary()


@pytest.mark.timeout(600)  # the first test starts the whole shape
def test_the_token_endpoint_works_through_the_proxy_with_an_https_issuer(shape: Shape) -> None:
    """Caddy forwards plain HTTP; the replicas believe its X-Forwarded-Proto (and only its): no 500."""
    client = shape.client("ngo")
    assert client.token()
    assert {a["id"] for a in client.agencies()} >= {"ngo", RECIPIENT}
    with httpx.Client(transport=shape.topology.transport()) as http:
        metadata = http.get(f"{shape.topology.url}/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == shape.topology.url and metadata["issuer"].startswith("https://")
        # Each replica answers with the same issuer: tokens from one are accepted by the other.
        for replica in shape.topology.replicas:
            assert http.get(f"{replica.url}/.well-known/oauth-authorization-server").json()["issuer"] \
                == shape.topology.url
    for _ in range(4):  # round robin: both replicas accept the token
        assert client.request("GET", "/v1/agencies")


def test_a_client_past_the_proxy_cannot_claim_https_or_an_address(shape: Shape) -> None:
    """X-Forwarded-* from anyone but the trusted proxy is ignored: a forged https is plain http (refused
    with a precise 400, not a 500; refused token requests are audited in aggregate by the scheduled
    jobs, tests/gateway/test_anonymous_load.py), and a forged client address is not believed."""
    from connectors.assertion import token_request_form

    replica = shape.topology.replicas[1]
    host = shape.topology.url.removeprefix("https://")
    form = token_request_form("ngo", shape.registry.keys["ngo"].signing_seed, f"{shape.topology.url}/oauth/token",
                              now=time.time())
    with httpx.Client(transport=httpx.HTTPTransport(local_address=AGENCY_HOST)) as direct:
        response = direct.post(f"{replica.url}/oauth/token", data=form, headers={
            "Host": host, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == "https_required"


def test_the_portal_sees_the_visitors_address_not_the_proxys(shape: Shape) -> None:
    """One sign-in work budget per visitor, not one shared by everyone behind Caddy."""
    from gateway.web.work_budget import WORK_REALM, work_budget_key

    with httpx.Client(transport=shape.topology.transport(), base_url=shape.topology.url) as browser:
        page = browser.get("/p/")
        assert page.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "no CSRF token in the sign-in form"
        failed = browser.post("/p/sign-in", data={"csrf_token": token.group(1), "code": "WRONG-CODE-0000",
                                                  "pin": "000000"})
        assert failed.status_code in (401, 403, 429)
    visitor = work_budget_key(shape.ctx.settings, AGENCY_HOST).digest(WORK_REALM)
    proxy = work_budget_key(shape.ctx.settings, PROXY_SOURCE).digest(WORK_REALM)
    with shape.ctx.sessions() as session:
        assert session.get(LoginThrottle, visitor) is not None, "the visitor's address was not seen"
        assert session.get(LoginThrottle, proxy) is None, "the proxy's address was taken for the visitor's"


# ------------------------------------------------------------------------------ load and faults

ALLOWED_FAULT_STATUSES = {502, 503, 504}
"""What Caddy answers while a replica is dead or every replica is unready (OPA or PostgreSQL down), and the
gateway's own 503 while PostgreSQL restarts (then with reason ``database_unavailable``, and nothing else)."""
GATEWAY_503_REASONS = {"database_unavailable"}


@dataclass
class Observed:
    """What the agencies saw: a 500 is a failure whatever the fault (a database outage is a 503)."""

    accepted: dict[str, str] = field(default_factory=dict)  # envelope id -> marker
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (plan id, reason) of refused submits
    errors_500: list[str] = field(default_factory=list)
    unavailable: dict[str, int] = field(default_factory=dict)
    """Reason of each 503 seen (``http_error``: Caddy's own, without a problem document) and how many."""
    chaos_error: str | None = None
    submitting: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _call(observed: Observed, what: str, fn: Callable[[], Any], *, deadline_s: float = 300) -> Any:
    """Call through the proxy until it answers; a refusal (4xx) is returned to the caller."""
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            return fn()
        except httpx.TransportError:
            pass
        except GatewayAPIError as exc:
            if exc.status == 500:
                with observed.lock:
                    observed.errors_500.append(what)
            elif exc.status == 503:
                with observed.lock:
                    observed.unavailable[exc.reason] = observed.unavailable.get(exc.reason, 0) + 1
            elif exc.status not in ALLOWED_FAULT_STATUSES:
                raise
        assert time.monotonic() < give_up, f"{what}: the gateway never came back"
        time.sleep(0.2)


def _referrals(shape: Shape, observed: Observed, sender: str, count: int, faults_over: threading.Event) -> None:
    """At least ``count`` referrals, and on until every fault has happened."""
    client = shape.client(sender)
    caseworker = new_staff(shape.ctx, sender, "caseworker", password=None)

    def as_caseworker() -> GatewayClient:
        """The sender's client acting for its caseworker (a preview approval is a person's act): the
        person token they would get by signing in, exchanged through Caddy like any token."""
        token, _ttl = shape.ctx.tokens.issue_person_token(caseworker.account_id, sender, datetime.now(UTC))
        return client.acting_for(token)
    recorder = as_caseworker()  # a subject and a consent name the signed-in caseworker
    subject = _call(observed, "subject", lambda: recorder.request("POST", "/v1/subjects", json=subject_body()))
    _call(observed, "consent", lambda: recorder.request("POST", "/v1/consents", json=consent_body(
        subject["id"], recipients=[{"agency_id": RECIPIENT}])))
    i = -1
    while i + 1 < count or not faults_over.is_set():
        i += 1
        marker = f"{sender}-marker-{i}"
        fields = {"subject.preferred_name": f"{sender}-{i}", "risk.level": "high", "risk.known_risks": marker}
        while True:  # a plan refused while OPA is down is audited; ask again
            plan = _call(observed, "plan",
                         lambda f=fields: as_caseworker().plan(subject["id"], RECIPIENT, "shelter", list(f)))
            if plan["allow"]:
                break
            assert plan["reasons"], plan
            time.sleep(0.2)
        preview = client.preview(plan, fields, "en")
        _call(observed, "approve", lambda p=plan, v=preview: as_caseworker().approve_preview(p, v))
        body = _call(observed, "seal", lambda p=plan, f=fields, v=preview: client.seal(p, f, preview=v))
        attempt = 0
        while True:
            key = f"{plan['plan_id']}-{attempt}"
            observed.submitting.set()
            try:
                answer = _call(observed, "submit",
                               lambda b=body, k=key: client.submit_sealed(b, idempotency_key=k, attempts=1))
            except GatewayAPIError as exc:  # refused (policy engine down): audited, try again with a new key
                with observed.lock:
                    observed.refusals.append((plan["plan_id"], exc.reason))
                attempt += 1
                time.sleep(0.2)
                continue
            with observed.lock:
                observed.accepted[answer["envelope_id"]] = marker
            break


def _fault(observed: Observed, action: Callable[[], None], settle: Callable[[], None]) -> None:
    action()
    settle()


def _wait_ready(shape: Shape) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if all(httpx.get(f"{r.url}/readyz", timeout=2).status_code == 200 for r in shape.topology.replicas):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the replicas did not become ready again\n" + shape.topology.logs())


def _chaos(shape: Shape, observed: Observed, done: threading.Event) -> None:
    try:
        _faults(shape, observed)
    except BaseException as exc:
        observed.chaos_error = f"{exc!r}"
    finally:
        done.set()


def _faults(shape: Shape, observed: Observed) -> None:
    topology = shape.topology
    victim = topology.replicas[0]
    # 1. SIGKILL a replica while a submit is in flight, then start it again.
    observed.submitting.clear()
    observed.submitting.wait(timeout=120)
    _fault(observed, victim.kill, victim.start)
    # 2. Restart PostgreSQL under the replicas' pools.
    observed.submitting.clear()
    observed.submitting.wait(timeout=120)
    _fault(observed, topology.restart_postgres, lambda: _wait_ready(shape))
    # 3. Stop the OPA server until a submit or plan is refused, then start it (OPA pulls the signed bundle again).
    observed.submitting.clear()
    observed.submitting.wait(timeout=120)
    refused_before = len(observed.refusals)

    def outage() -> None:
        topology.stop_opa()
        deadline = time.monotonic() + 30
        while len(observed.refusals) == refused_before and time.monotonic() < deadline:
            time.sleep(0.1)

    def recover() -> None:
        topology.start_opa()
        _wait_ready(shape)

    _fault(observed, outage, recover)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.rule("CR14")
def test_sustained_referrals_through_both_replicas_survive_kills_and_restarts(shape: Shape) -> None:
    """Several agencies send through Caddy to both replicas while a replica is SIGKILLed mid-submit, PostgreSQL
    restarts and OPA stops: every accepted referral arrives once, every refusal is audited, nothing is
    half-written, the audit log verifies, and nothing answers 500 (a database outage is a 503)."""
    observed = Observed()
    done = threading.Event()
    chaos = threading.Thread(target=_chaos, args=(shape, observed, done), daemon=True)
    chaos.start()
    workers = [threading.Thread(target=_referrals, args=(shape, observed, sender, 5, done), daemon=True)
               for sender in SENDERS]
    for w in workers:
        w.start()
    chaos.join(timeout=600)
    assert not chaos.is_alive(), "the faults never finished"
    assert observed.chaos_error is None, observed.chaos_error
    for w in workers:
        w.join(timeout=300)
        assert not w.is_alive(), "a sender never finished\n" + shape.topology.logs()
    assert shape.topology.replicas[0].kills == 1
    assert {"postgresql restarted", "opa stopped", "opa started"} <= set(shape.topology.faults)
    assert len(observed.accepted) >= 5 * len(SENDERS)

    # The shelter drains its inbox through the proxy (an ack lost to a fault is simply repeated).
    shelter = shape.client(RECIPIENT)
    received: dict[str, str] = {}
    deadline = time.monotonic() + 180
    while set(received) != set(observed.accepted) or _call(observed, "inbox", shelter.inbox):
        assert time.monotonic() < deadline, "delivery did not finish"
        for envelope in _call(observed, "inbox", lambda: shelter.inbox(limit=5)):
            opened = shelter.open(envelope)
            received[opened.envelope_id] = str(opened.fields["risk.known_risks"])
            _call(observed, "ack", lambda e=opened.envelope_id: shelter.ack(e))
    assert received == observed.accepted, "every accepted referral is delivered, and nothing else"

    with shape.ctx.sessions() as session:
        envelopes = list(session.scalars(select(Envelope).where(Envelope.recipient_agency_id == RECIPIENT)))
        assert {e.id for e in envelopes} == set(observed.accepted), "an envelope was stored without an answer"
        for envelope in envelopes:
            assert envelope.status == EnvelopeStatus.ACKNOWLEDGED
            parts = session.scalar(select(func.count()).select_from(EnvelopePart)
                                   .where(EnvelopePart.envelope_id == envelope.id))
            assert parts == len(envelope.manifest["fields"]), "a half-written envelope"

        def entries(action: str, decision: str | None = None) -> list[AuditEntry]:
            query = select(AuditEntry).where(AuditEntry.action == action)
            if decision:
                query = query.where(AuditEntry.decision == decision)
            return list(session.scalars(query))

        for action in ("exchange:envelope:deliver", "exchange:envelope:ack"):
            ids = [e.details["envelope_id"] for e in entries(action)]
            assert sorted(ids) == sorted(observed.accepted), f"{action}: not exactly once per envelope"
        allowed = [e.details["envelope_id"] for e in entries("exchange:envelope:submit", "allow")]
        assert sorted(allowed) == sorted(observed.accepted)
        denied = {(e.details.get("plan_id"), e.reason) for e in entries("exchange:envelope:submit", "deny")}
        for refusal in observed.refusals:
            assert refusal in denied, f"a refusal was not audited: {refusal}"

    # No 500 at all: a killed replica is Caddy's 502, an unready one its 503, a PostgreSQL restart the gateway's
    # 503 database_unavailable, an OPA outage an audited refusal.
    assert not observed.errors_500, f"500s: {observed.errors_500}\n" + shape.topology.logs()
    assert set(observed.unavailable) <= GATEWAY_503_REASONS | {"http_error"}, observed.unavailable
    traced = [r.name for r in shape.topology.replicas if "Traceback" in r.log.read_text()]
    assert not traced, f"a traceback in the log of {traced}\n" + shape.topology.logs()
    _audit_ok(shape)
    verify = subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", "audit", "verify",
         "--origin", shape.topology.url],
        env=shape.topology.env, capture_output=True, text=True, timeout=300, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_both_replicas_appending_at_once_keep_one_consistent_tree(shape: Shape) -> None:
    """Token requests (each an audited append) hammer both replicas at once, with checkpoints signed meanwhile."""
    with shape.ctx.sessions() as session:
        first = int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    errors: list[str] = []

    def hammer(agency_id: str, n: int) -> None:
        client = GatewayClient(shape.topology.url, agency_id, shape.registry.keys[agency_id],
                               pins=pins_for(shape.registry.keys),
                               transport=shape.topology.transport())
        try:
            for _ in range(n):
                client._token = None  # a fresh token each time: one audited append per call
                client.token()
        except GatewayAPIError as exc:
            errors.append(f"{agency_id}: {exc.status} {exc.reason}")
        finally:
            client.close()

    def checkpoints(n: int) -> None:
        for _ in range(n):
            done = subprocess.run([sys.executable, "-c", "from gateway.cli import main; main()", "audit",
                                   "checkpoint"], env=shape.topology.env, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                errors.append(done.stderr[-500:])

    # Round robin through Caddy spreads each agency's calls over both replicas.
    threads = [threading.Thread(target=hammer, args=(agency_id, 15))
               for agency_id in ("ngo", "iom", "unhcr", "police")]
    threads.append(threading.Thread(target=checkpoints, args=(3,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    with shape.ctx.sessions() as session:
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        issued = session.scalar(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.action == "auth:token:issue", AuditEntry.seq >= first))
    assert seqs == list(range(len(seqs))), "sequence numbers have a gap or a duplicate"
    assert issued is not None and issued >= 4 * 15
    with psycopg.connect(shape.topology.database_url.replace("+psycopg", "")) as conn:
        sizes = [r[0] for r in conn.execute("SELECT tree_size FROM audit_checkpoints ORDER BY tree_size")]
    assert len(sizes) >= 3
    _audit_ok(shape)  # every leaf hash recomputed, every node and every checkpoint checked against one tree


def test_the_replicas_connect_as_a_role_that_cannot_rewrite_the_audit_log(shape: Shape) -> None:
    """The migration ran as the owner and made the replicas' login role a member of gateway_app (compose's
    ``migrate`` service); the replicas connect as that role, which may not UPDATE, DELETE or TRUNCATE audit
    rows, and a production replica given the owner's URL refuses to start."""
    from pathlib import Path

    from tests.support.topology import RUNTIME_ROLE

    replica_url = (Path(shape.topology.env["GATEWAY_SECRETS_DIR"]) / "gateway_database_url").read_text()
    with psycopg.connect(replica_url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (RUNTIME_ROLE,)
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        assert conn.execute("SELECT pg_has_role(current_user, 'gateway_app', 'member')").fetchone() == (True,)
        assert conn.execute("SELECT count(*) FROM audit_entries").fetchone()[0] > 0  # type: ignore[index]
        for rewrite in ("UPDATE audit_entries SET action = action", "DELETE FROM audit_entries",
                        "TRUNCATE audit_entries", "UPDATE audit_checkpoints SET root_hash = root_hash"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(rewrite)
    # The replicas' pooled connections are that role's (and a request through Caddy works as it).
    assert shape.client("iom").agencies()
    owner = shape.topology.database_url.replace("+psycopg", "")
    with psycopg.connect(owner) as conn:
        roles = {r[0] for r in conn.execute(
            "SELECT usename FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")}
    assert RUNTIME_ROLE in roles, roles
    # Given the owner's URL, a production replica refuses to start (it could rewrite the audit log).
    refused = subprocess.run([sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--port", "0"],
                             env={**shape.topology.env, "GATEWAY_DATABASE_URL": owner}, capture_output=True,
                             text=True, timeout=120, check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "may update or delete audit entries" in refused.stderr
