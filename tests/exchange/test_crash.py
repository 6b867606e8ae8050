"""SIGKILL the gateway at random points during submit and delivery; every accepted referral arrives once.

A real gateway process (``gateway serve``) is killed with SIGKILL at random moments while one
agency submits referrals (retrying the same sealed body with the same idempotency key, as
the SDK does) and a second agency pulls, stores and acknowledges them (storing is idempotent
per envelope id). Afterwards: every accepted referral was opened and stored exactly once, no
refused submit left anything behind, and the database is consistent.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from connectors.adapters.base import pull_and_deliver
from connectors.adapters.folder import FolderAdapter
from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError
from crypto.keys import save_signing_seed
from gateway.app import build_context
from gateway.exchange.models import Envelope, IdempotencyRecord
from gateway.settings import Settings
from tests.conftest import AGENCIES, Registry, register
from tests.consent.conftest import consent_body, subject_body
from tests.support.pins import pins_for
from tests.support.staff import new_staff

REFERRALS = 8
MIN_KILLS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    """``gateway serve`` as a child process that can be killed and restarted."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--port", str(self.port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not come up: " + self.log.read_text()[-2000:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _retry(call: Any, *, tries: int = 300) -> Any:
    """Call until the gateway answers (it may be dead or restarting)."""
    last: Exception | None = None
    for _ in range(tries):
        try:
            return call()
        except httpx.TransportError as exc:
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"the gateway never came back: {last!r}")


@pytest.mark.slow
def test_sigkill_during_submit_and_delivery_loses_and_duplicates_nothing(
    db_url: str, tmp_path: Path, signing_seed: bytes, policy_bundle: Any
) -> None:
    from gateway.policy.factory import build_engine

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    (data_dir / "keys").mkdir(parents=True)
    save_signing_seed(data_dir / "keys" / "gateway-signing.json", signing_seed)
    settings = Settings(env="test", database_url=db_url, data_dir=data_dir, issuer=url, background_worker=False,
                        argon2_time_cost=1, argon2_memory_kib=8)
    ctx = build_context(settings, signing_seed=signing_seed, policy=build_engine("embedded", bundle=policy_bundle))
    registry = Registry(keys={}, key_ids={})
    for agency_id, kind in AGENCIES:
        registry.keys[agency_id], registry.key_ids[agency_id] = register(ctx, agency_id, kind)

    env = {**os.environ, "GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(data_dir),
           "GATEWAY_ISSUER": url, "GATEWAY_ENV": "test", "GATEWAY_BACKGROUND_WORKER": "false",
           "GATEWAY_ARGON2_TIME_COST": "1", "GATEWAY_ARGON2_MEMORY_KIB": "8", "GATEWAY_LOG_LEVEL": "WARNING"}
    gateway = GatewayProcess(env, port, tmp_path / "gateway.log")
    gateway.start()

    ngo = GatewayClient(url, "ngo", registry.keys["ngo"], pins=pins_for(registry.keys))
    caseworker = new_staff(ctx, "ngo", "caseworker", password=None)

    def person_token() -> str:  # a fresh one per attempt: a token spent on a killed request is gone
        return ctx.tokens.issue_person_token(caseworker.account_id, "ngo", ctx.clock.now())[0]
    shelter = GatewayClient(url, "shelter", registry.keys["shelter"], pins=pins_for(registry.keys))
    # A subject, a consent and each plan name the signed-in caseworker (a fresh person token each try).
    subject = _retry(lambda: ngo.acting_for(person_token()).request("POST", "/v1/subjects", json=subject_body()))
    _retry(lambda: ngo.acting_for(person_token()).request("POST", "/v1/consents", json=consent_body(
        subject["id"], recipients=[{"agency_id": "shelter"}])))

    stop = threading.Event()
    rng = random.Random(1234)

    def chaos() -> None:
        while not stop.is_set():
            time.sleep(rng.uniform(0.4, 1.2))
            if stop.is_set():
                break
            gateway.kill()
            gateway.start()

    killer = threading.Thread(target=chaos, daemon=True)
    killer.start()
    accepted: dict[str, int] = {}
    try:
        i = -1
        # At least REFERRALS referrals, and keep going until the gateway has died often enough.
        while i + 1 < REFERRALS or gateway.kills < MIN_KILLS:
            i += 1
            fields = {"subject.preferred_name": f"person-{i}", "risk.level": "high",
                      "risk.known_risks": f"marker-{i}"}
            plan = _retry(lambda f=fields: ngo.acting_for(person_token()).plan(subject["id"], "shelter", "shelter",
                                                                               list(f)))
            preview = ngo.preview(plan, fields, "en")
            _retry(lambda p=plan, v=preview: ngo.acting_for(person_token()).approve_preview(p, v))
            body = _retry(lambda p=plan, f=fields, v=preview: ngo.seal(p, f, preview=v))
            answer = _retry(lambda b=body: ngo.submit_sealed(b, attempts=1))
            accepted[answer["envelope_id"]] = i
            # A refused submit in the middle of the chaos: a field the plan does not permit.
            bad = dict(body)
            bad["ciphertexts"] = {**body["ciphertexts"], "subject.language": body["ciphertexts"]["risk.level"]}
            with pytest.raises(GatewayAPIError):
                _retry(lambda b=bad, n=i: ngo.submit_sealed(b, idempotency_key=f"bad-{n}", attempts=1))

        inbox = tmp_path / "shelter-system"
        adapter = FolderAdapter(inbox)
        deadline = time.monotonic() + 120
        while len(list(inbox.glob("*.json"))) < len(accepted) or _retry(shelter.inbox):
            assert time.monotonic() < deadline, "delivery did not finish"
            try:
                pull_and_deliver(shelter, adapter, limit=3)
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        stop.set()
        killer.join(timeout=30)
        gateway.stop()
        ngo.close()
        shelter.close()
        if len(accepted) < REFERRALS:
            ctx.engine.dispose()

    assert gateway.kills >= MIN_KILLS
    stored = {p.stem: p.read_text() for p in (tmp_path / "shelter-system").glob("*.json")}
    assert set(stored) == set(accepted), "every accepted referral is delivered, and nothing else"
    for envelope_id, i in accepted.items():
        assert f"marker-{i}" in stored[envelope_id]
    try:
        with ctx.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Envelope)) == len(accepted)
            keys = set(session.scalars(select(IdempotencyRecord.key)))
            assert not any(k.startswith("bad-") for k in keys), "a refused submit was stored"
            if session.get_bind().dialect.name == "sqlite":
                assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        ctx.engine.dispose()
