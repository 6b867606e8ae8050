"""A live gateway with one configured witness (the monitoring body's), for the trust attacks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.client import GatewayClient
from connectors.tree_head import WitnessedLog
from connectors.witness import Witness
from crypto import note as notes
from crypto.keys import generate_signing_seed
from gateway.app import build_context, create_app
from gateway.audit.checkpoints import make_checkpoint_if_due
from gateway.context import GatewayContext
from gateway.settings import Settings
from tests.conftest import AGENCIES, Registry, register
from tests.support.live_server import reserve_port, serve

WITNESS_NAME = "monitoring.example/witness"


@dataclass
class WitnessedGateway:
    url: str
    ctx: GatewayContext
    registry: Registry
    witness: Witness
    log_key: notes.Verifier
    tmp: Path

    def checkpoint(self) -> bool:
        """Cut a checkpoint now (the server's own loop is slowed down so the test decides when)."""
        return make_checkpoint_if_due(self.ctx.sessions, self.ctx.signing_seed, origin=self.ctx.settings.issuer,
                                      at=self.ctx.clock.now(), signer=self.ctx.note_signer())

    def witness_round(self) -> int | None:
        with httpx.Client(base_url=self.url) as http:
            return self.witness.run_once(http)

    def client(self, agency_id: str, state: str, **kwargs: Any) -> GatewayClient:
        log = WitnessedLog(log_key=self.log_key, witnesses=[self.witness.verifier], quorum=1,
                           state_path=self.tmp / state)
        return GatewayClient(self.url, agency_id, self.registry.keys[agency_id], log=log, **kwargs)


@pytest.fixture
def witnessed_gateway(db_url: str, tmp_path: Path, signing_seed: bytes, policy_bundle: Any
                      ) -> Iterator[WitnessedGateway]:
    from gateway.policy.factory import build_engine

    url = f"http://127.0.0.1:{reserve_port()}"
    witness_seed = generate_signing_seed()
    witness_key = notes.signer_verifier(WITNESS_NAME, witness_seed, notes.COSIGNATURE)
    settings = Settings(env="test", database_url=db_url, data_dir=tmp_path / "gateway", issuer=url,
                        argon2_time_cost=1, argon2_memory_kib=8, background_worker=False, log_level="WARNING",
                        audit_checkpoint_interval_s=86_400, witnesses=witness_key.vkey())
    ctx = build_context(settings, signing_seed=signing_seed, policy=build_engine("embedded", bundle=policy_bundle))
    reg = Registry(keys={}, key_ids={})
    for agency_id, kind in AGENCIES:
        reg.keys[agency_id], reg.key_ids[agency_id] = register(ctx, agency_id, kind)
    signer = ctx.note_signer()
    assert signer is not None
    # The log key reaches the witness and the agencies out of band (not from the gateway it vouches for).
    log_key = signer.verifier()
    witness = Witness(name=WITNESS_NAME, seed=witness_seed, log_key=log_key, state_path=tmp_path / "witness.json")
    try:
        with serve(create_app(context=ctx), port=int(url.rsplit(":", 1)[1])):
            yield WitnessedGateway(url=url, ctx=ctx, registry=reg, witness=witness, log_key=log_key, tmp=tmp_path)
    finally:
        ctx.engine.dispose()
