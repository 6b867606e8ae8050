"""Races on PostgreSQL, staged deterministically, on one replica and on two.

Each test holds the append lock (the advisory lock every writer takes first, ``gateway.db``)
from a third connection, starts the competing requests, waits until the database shows each of
them waiting for a lock, and only then lets them go. Under READ COMMITTED with unlocked reads
(the way the gateway ran before), each of these stagings broke an invariant every time: a
submit accepted after the withdrawal of its consent committed (CR14, S04), an envelope
delivered or acknowledged twice, an acknowledged envelope sent back to ``delivered``, a retry
answered ``plan_already_used``, an envelope purged twice. Two replicas are two gateway
contexts (two engines, two connection pools) on one database, as two processes would be.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from consent.clock import FixedClock
from crypto.keys import signing_public_key
from gateway import migrate
from gateway.app import build_context, create_app
from gateway.audit.models import AuditEntry
from gateway.audit.verify import verify_database
from gateway.context import GatewayContext
from gateway.db import APPEND_LOCK_ID
from gateway.exchange.models import Envelope, EnvelopeStatus
from gateway.exchange.service import purge
from tests.conftest import ISSUER, Registry, empty_database
from tests.exchange.conftest import RECIPIENT, SENDER, Auth, Case, open_case, plan, sealed

pytestmark = pytest.mark.usefixtures("registry")


@pytest.fixture
def db_url(postgres_url: str) -> Iterator[str]:
    """PostgreSQL only, not skipped on SQLite: a race needs concurrent writers, and SQLite runs one
    writer at a time by construction (tests/gateway/test_db.py shows that)."""
    migrate.upgrade(postgres_url)  # already at head when the session's PostgreSQL tests ran first
    yield postgres_url
    empty_database(postgres_url)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class AppendLockHolder:
    """A third connection that holds the append lock until :meth:`release`."""

    def __init__(self, url: str) -> None:
        self.url = _libpq(url)
        self.conn = psycopg.connect(self.url)
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_ID,))
        self.watch = psycopg.connect(self.url, autocommit=True)

    def waiting(self) -> int:
        """Backends of this database waiting for any lock (the append lock or a row lock)."""
        row = self.watch.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND a.datname = current_database()").fetchone()
        return int(row[0]) if row else 0

    def wait_for(self, count: int, threads: list[threading.Thread]) -> None:
        """Return once ``count`` backends wait for a lock; fail if a request finished instead."""
        while self.waiting() < count:
            assert all(t.is_alive() for t in threads), "a request finished without waiting for the lock"
            threading.Event().wait(0.005)

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()
        self.watch.close()


@pytest.fixture
def holder(db_url: str) -> Iterator[Callable[[], AppendLockHolder]]:
    made: list[AppendLockHolder] = []

    def make() -> AppendLockHolder:
        made.append(AppendLockHolder(db_url))
        return made[-1]

    yield make
    for h in made:
        if not h.conn.closed:
            h.release()


@pytest.fixture(params=[1, 2], ids=["one-replica", "two-replicas"])
def replicas(request: pytest.FixtureRequest, client: TestClient, ctx: GatewayContext, clock: FixedClock,
             signing_seed: bytes, policy_bundle: Any) -> Iterator[list[TestClient]]:
    """One gateway (both requests through it) or two (one request through each)."""
    if request.param == 1:
        yield [client, client]
        return
    from gateway.policy.factory import build_engine

    second = build_context(ctx.settings, clock=clock, signing_seed=signing_seed,
                           policy=build_engine("embedded", bundle=policy_bundle))
    with TestClient(create_app(context=second), base_url=ISSUER, raise_server_exceptions=False) as other:
        yield [client, other]
    second.engine.dispose()


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]


def _start(fn: Callable[[], Any], into: list[Outcome]) -> threading.Thread:
    def run() -> None:
        response = fn()
        into.append(Outcome(response.status_code, response.json()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _entries(ctx: GatewayContext, action: str) -> list[AuditEntry]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def _staged(holder: AppendLockHolder, *requests: Callable[[], Any]) -> list[list[Outcome]]:
    """Start each request in turn once the previous one waits; then release them all."""
    outcomes: list[list[Outcome]] = []
    threads: list[threading.Thread] = []
    for fn in requests:
        outcomes.append([])
        threads.append(_start(fn, outcomes[-1]))
        holder.wait_for(len(threads), threads)
    holder.release()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a request never finished (deadlock?)"
    return outcomes


def _submitted(client: TestClient, auth: Auth, registry: Registry, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    the_plan = plan(client, auth, case)
    return the_plan, sealed(client, auth, registry, the_plan)


def _accepted_envelope(client: TestClient, auth: Auth, registry: Registry) -> str:
    case = open_case(client, auth)
    _, body = _submitted(client, auth, registry, case)
    response = client.post("/v1/envelopes", headers={**auth(SENDER), "Idempotency-Key": case.subject_id}, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["envelope_id"])


@pytest.mark.rule("CR14", "S04")
def test_a_committed_withdrawal_wins_over_a_concurrent_submit(
    replicas: list[TestClient], auth: Auth, registry: Registry, ctx: GatewayContext,
    holder: Callable[[], AppendLockHolder],
) -> None:
    a, b = replicas
    case = open_case(a, auth)
    _, body = _submitted(a, auth, registry, case)
    headers_w, headers_s = auth(SENDER), {**auth(SENDER), "Idempotency-Key": "race-1"}
    withdrawal, submission = _staged(
        holder(),
        lambda: a.post(f"/v1/consents/{case.consent_id}/withdraw", headers=headers_w, json={
            "channel": "portal"}),
        lambda: b.post("/v1/envelopes", headers=headers_s, json=body),
    )
    assert withdrawal[0].status == 200, withdrawal[0].body
    assert submission[0].status in (201, 422), submission[0].body
    withdrawn_at = _entries(ctx, "consent:record:withdraw")[-1].seq
    submits = _entries(ctx, "exchange:envelope:submit")
    allowed = [e for e in submits if e.decision == "allow"]
    if submission[0].status == 201:
        # Accepted only if it committed before the withdrawal did.
        assert allowed and allowed[-1].seq < withdrawn_at, "a submit was accepted after the withdrawal committed"
    else:
        assert submission[0].body["reason"] == "consent_withdrawn"
        assert not allowed
        assert submits[-1].decision == "deny" and submits[-1].seq > withdrawn_at


def test_two_concurrent_inbox_fetches_deliver_each_envelope_once(
    replicas: list[TestClient], auth: Auth, registry: Registry, ctx: GatewayContext,
    holder: Callable[[], AppendLockHolder],
) -> None:
    a, b = replicas
    envelope_ids = {_accepted_envelope(a, auth, registry) for _ in range(2)}
    headers = auth(RECIPIENT)
    first, second = _staged(holder(), lambda: a.get("/v1/inbox", headers=headers),
                            lambda: b.get("/v1/inbox", headers=headers))
    assert first[0].status == second[0].status == 200
    delivered = [e.details["envelope_id"] for e in _entries(ctx, "exchange:envelope:deliver")]
    assert sorted(delivered) == sorted(envelope_ids), "an envelope was delivered twice (or not at all)"


def test_an_acknowledged_envelope_never_goes_back_to_delivered(
    replicas: list[TestClient], auth: Auth, registry: Registry, ctx: GatewayContext,
    holder: Callable[[], AppendLockHolder],
) -> None:
    a, b = replicas
    envelope_id = _accepted_envelope(a, auth, registry)
    headers = auth(RECIPIENT)
    ack, fetch = _staged(holder(), lambda: a.post(f"/v1/envelopes/{envelope_id}/ack", headers=headers),
                         lambda: b.get("/v1/inbox", headers=headers))
    assert ack[0].status == 200 and fetch[0].status == 200
    with ctx.sessions() as session:
        envelope = session.get(Envelope, envelope_id)
        assert envelope is not None and envelope.status == EnvelopeStatus.ACKNOWLEDGED
    assert [e["envelope_id"] for e in fetch[0].body] in ([], [envelope_id])
    assert len(_entries(ctx, "exchange:envelope:ack")) == 1
    assert len(_entries(ctx, "exchange:envelope:deliver")) <= 1
    # and the next pull does not hand it out again
    assert a.get("/v1/inbox", headers=headers).json() == []


def test_two_concurrent_acknowledgements_are_audited_once(
    replicas: list[TestClient], auth: Auth, registry: Registry, ctx: GatewayContext,
    holder: Callable[[], AppendLockHolder],
) -> None:
    a, b = replicas
    envelope_id = _accepted_envelope(a, auth, registry)
    headers = auth(RECIPIENT)
    first, second = _staged(holder(), lambda: a.post(f"/v1/envelopes/{envelope_id}/ack", headers=headers),
                            lambda: b.post(f"/v1/envelopes/{envelope_id}/ack", headers=headers))
    assert first[0].status == second[0].status == 200
    assert first[0].body["acknowledged_at"] == second[0].body["acknowledged_at"]
    assert len(_entries(ctx, "exchange:envelope:ack")) == 1


def test_an_idempotent_retry_racing_its_first_attempt_gets_the_first_answer(
    replicas: list[TestClient], auth: Auth, registry: Registry, ctx: GatewayContext,
    holder: Callable[[], AppendLockHolder],
) -> None:
    a, b = replicas
    case = open_case(a, auth)
    _, body = _submitted(a, auth, registry, case)
    headers = {**auth(SENDER), "Idempotency-Key": "retry-1"}
    first, retry = _staged(holder(), lambda: a.post("/v1/envelopes", headers=headers, json=body),
                           lambda: b.post("/v1/envelopes", headers=headers, json=body))
    assert first[0].status == retry[0].status == 201, (first, retry)
    assert first[0].body == retry[0].body
    submits = _entries(ctx, "exchange:envelope:submit")
    assert [e.decision for e in submits] == ["allow"], "the retry was refused and audited as a deny"
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Envelope)) == 1


def test_purge_workers_on_every_replica_purge_each_envelope_once(
    replicas: list[TestClient], auth: Auth, registry: Registry, ctx: GatewayContext, clock: FixedClock,
    holder: Callable[[], AppendLockHolder],
) -> None:
    a, b = replicas
    envelope_ids = [_accepted_envelope(a, auth, registry) for _ in range(3)]
    headers = auth(RECIPIENT)
    for envelope_id in envelope_ids[:2]:
        assert a.post(f"/v1/envelopes/{envelope_id}/ack", headers=headers).status_code == 200
    clock.advance(timedelta(seconds=ctx.settings.undelivered_expiry_s + 1))
    contexts = [a.app.state.ctx, b.app.state.ctx]  # type: ignore[attr-defined]
    counts: list[dict[str, int]] = []
    h = holder()
    threads = []
    for c in contexts:
        threads.append(threading.Thread(target=lambda c=c: counts.append(purge(c)), daemon=True))
        threads[-1].start()
        h.wait_for(len(threads), threads)
    h.release()
    for t in threads:
        t.join(timeout=60)
    assert sum(c["purged"] for c in counts) == 2 and sum(c["expired"] for c in counts) == 1
    purged = [e.details["envelope_id"] for e in _entries(ctx, "exchange:envelope:purge")]
    expired = [e.details["envelope_id"] for e in _entries(ctx, "exchange:envelope:expire")]
    assert sorted(purged) == sorted(envelope_ids[:2]) and expired == envelope_ids[2:]
    with ctx.sessions() as session:
        assert verify_database(session, signing_public_key(ctx.signing_seed)).ok


def test_a_writer_holds_the_append_lock_before_its_first_row_write(ctx: GatewayContext, db_url: str) -> None:
    """No writer holds a row lock while it waits for the append lock: the lock is its first statement."""
    from gateway.audit import tree
    from gateway.exchange.models import IdempotencyRecord

    watch = psycopg.connect(_libpq(db_url), autocommit=True)
    try:
        with ctx.sessions() as session, session.begin():
            pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            held = watch.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory' "
                                 "AND granted", (pid,)).fetchone()
            assert held is not None and held[0] == 1, "a writer began without the append lock"
            row = IdempotencyRecord(agency_id=SENDER, key="k", request_hash="h", status_code=201, response={},
                                    created_at=ctx.clock.now(), expires_at=ctx.clock.now())
            session.add(row)
            tree.lock_appends(session)  # taken again (re-entrant) without flushing what was added
            assert row in session.new
            session.rollback()
    finally:
        watch.close()
