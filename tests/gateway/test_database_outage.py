"""PostgreSQL unreachable, restarting or shutting a connection down: the API answers 503
``database_unavailable`` with ``Retry-After`` (never a 500), ``/readyz`` takes the replica out, the
log has no traceback and no bound value, and the gateway recovers by itself when the database is back.

Run for real: a ``gateway serve`` process on its own throwaway PostgreSQL cluster, which the test
stops and starts (tests/support/postgres.py), and a backend terminated by ``pg_terminate_backend``
(``admin_shutdown``) while its request waits for the append lock.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from connectors.assertion import token_request_form
from crypto.keys import generate_signing_seed, save_signing_seed
from gateway import migrate
from gateway.app import build_context
from gateway.db import APPEND_LOCK_ID
from gateway.settings import Settings
from tests.conftest import AGENCIES, Registry, register
from tests.consent.conftest import subject_body
from tests.support import postgres

MARKER = "Outage-Marker-7731"
"""A value sent in a request body while the database is down: it must not reach the log."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    url: str
    database_url: str
    registry: Registry
    log: Path

    def headers(self, http: httpx.Client, agency_id: str = "ngo") -> dict[str, str]:
        form = token_request_form(agency_id, self.registry.keys[agency_id].signing_seed, f"{self.url}/oauth/token",
                                  now=time.time())
        answer = http.post("/oauth/token", data=form)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def token_form(self, agency_id: str = "ngo") -> dict[str, str]:
        return token_request_form(agency_id, self.registry.keys[agency_id].signing_seed, f"{self.url}/oauth/token",
                                  now=time.time())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, policy_bundle: Any) -> Iterator[Live]:
    from gateway.policy.factory import build_engine

    work = tmp_path_factory.mktemp("outage")
    seed = generate_signing_seed()
    data_dir = work / "data"
    (data_dir / "keys").mkdir(parents=True)
    save_signing_seed(data_dir / "keys" / "gateway-signing.json", seed)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with postgres.throwaway_cluster() as database_url:
        migrate.upgrade(database_url)
        settings = Settings(env="test", database_url=database_url, data_dir=data_dir, issuer=url,
                            background_worker=False, argon2_time_cost=1, argon2_memory_kib=8)
        ctx = build_context(settings, signing_seed=seed, policy=build_engine("embedded", bundle=policy_bundle))
        registry = Registry(keys={}, key_ids={})
        for agency_id, kind in AGENCIES:
            registry.keys[agency_id], registry.key_ids[agency_id] = register(ctx, agency_id, kind)
        ctx.engine.dispose()
        env = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_DATA_DIR": str(data_dir),
               "GATEWAY_ISSUER": url, "GATEWAY_ENV": "test", "GATEWAY_BACKGROUND_WORKER": "false",
               "GATEWAY_ARGON2_TIME_COST": "1", "GATEWAY_ARGON2_MEMORY_KIB": "8"}
        log = work / "gateway.log"
        with log.open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()", "serve",
                                     "--host", "127.0.0.1", "--port", str(port)],
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, log.read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the gateway did not become ready\n" + log.read_text()[-3000:]
                time.sleep(0.1)
            yield Live(url, database_url, registry, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["reason"] == "database_unavailable" and body["status"] == 503
    assert "Traceback" not in response.text and "SELECT" not in response.text


def _assert_clean_log(live: Live) -> None:
    text = live.log.read_text()
    assert "database unavailable" in text  # each outage answer is logged, as one line
    assert "Traceback" not in text, text[-3000:]
    assert MARKER not in text, "a request body value reached the log"
    assert "[parameters" not in text and "[SQL:" not in text, "a statement or its bound values reached the log"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_stopped_database_is_503_and_the_gateway_recovers_when_it_is_back(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        auth = live.headers(http)
        assert http.get("/v1/agencies", headers=auth).status_code == 200
        postgres.stop(live.database_url)
        try:
            for _ in range(2):  # pooled connections are dead, and no new one can be made
                _assert_unavailable(http.get("/v1/agencies", headers=auth))
            _assert_unavailable(http.post("/v1/subjects", headers=auth,
                                          json=subject_body(guardian_advocate_id=MARKER)))
            _assert_unavailable(http.post("/oauth/token", data=live.token_form()))
            ready = http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
            assert http.get("/healthz").status_code == 200  # the process stays up
        finally:
            postgres.start(live.database_url)
        # Back without a restart of the gateway: the pool replaces its dead connections.
        assert http.get("/readyz").status_code == 200
        assert http.get("/v1/agencies", headers=auth).status_code == 200
        # A write reaches the database again: the machine token's refusal of a person's act is audited
        # there (during the outage the same request was a 503).
        refused = http.post("/v1/subjects", headers=live.headers(http), json=subject_body())
        assert refused.status_code == 403 and refused.json()["reason"] == "person_token_required", refused.text
    _assert_clean_log(live)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_connection_shut_down_mid_request_is_503_and_nothing_is_half_written(live: Live) -> None:
    """The request waits for the append lock (held from a third connection); its backend is then
    terminated (``admin_shutdown``, as in a failover or an operator's pg_terminate_backend)."""
    admin_url = live.database_url.replace("+psycopg", "")
    with httpx.Client(base_url=live.url, timeout=60) as http:
        auth = live.headers(http)
        with psycopg.connect(admin_url) as admin:
            count_before = admin.execute("SELECT count(*) FROM subjects").fetchone()
            admin.commit()
        answers: list[httpx.Response] = []
        with psycopg.connect(admin_url) as holder, psycopg.connect(admin_url, autocommit=True) as watcher:
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_ID,))
            request = threading.Thread(target=lambda: answers.append(http.post(
                "/v1/subjects", headers=auth, json=subject_body(guardian_advocate_id=MARKER))))
            request.start()
            waiting: tuple[Any, ...] | None = None
            deadline = time.monotonic() + 60
            while waiting is None:  # poll for the condition: the request's backend waits on the lock
                assert time.monotonic() < deadline, "the request never waited for the append lock"
                waiting = watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> %s "
                    "AND query LIKE '%%pg_advisory_xact_lock%%'", (holder.info.backend_pid,)).fetchone()
                time.sleep(0.05)  # a poll interval, not a synchronisation: the loop waits for the condition
            watcher.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
            request.join(timeout=60)
            holder.rollback()
        assert len(answers) == 1
        _assert_unavailable(answers[0])
        with psycopg.connect(admin_url) as admin:
            assert admin.execute("SELECT count(*) FROM subjects").fetchone() == count_before  # nothing written
        # The next request gets a fresh connection (the pool pings before it hands one out).
        assert http.get("/v1/agencies", headers=auth).status_code == 200
    _assert_clean_log(live)
