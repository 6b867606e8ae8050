"""Issue 15: the policy server cannot be swapped. OPA requires the gateway's token, and the gateway
checks that the policies the server actually holds are exactly its bundle (version and digest)."""

from __future__ import annotations

from pathlib import Path

from consent.clock import FixedClock
from gateway.app import build_context
from gateway.policy._remote import RemotePolicyEngine
from gateway.policy.engine import PolicyEngine
from gateway.settings import Settings
from tests.conftest import ISSUER
from tests.support.opa_server import OpaServer

TOKEN = "opa-token-for-the-test-only-0123456789"


def _settings(db_url: str, tmp_path: Path, url: str, token: str) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER, policy_engine="opa",
                    opa_url=url, opa_timeout_s=2.0, background_worker=False, argon2_time_cost=1,
                    argon2_memory_kib=8, opa_token=token)


def test_opa_refuses_a_caller_without_the_token_and_the_gateway_notices_a_swapped_policy(
    db_url: str, tmp_path: Path, clock: FixedClock, signing_seed: bytes,
) -> None:
    with OpaServer(token=TOKEN) as server:
        # Without the token, nothing is published and every decision is a deny (fails closed).
        stranger = build_context(_settings(db_url, tmp_path, server.url, ""), clock=clock, signing_seed=signing_seed)
        try:
            assert stranger.policy is not None and not stranger.policy.ready()
            assert server.store.policies == {}
        finally:
            stranger.engine.dispose()
        ctx = build_context(_settings(db_url, tmp_path, server.url, TOKEN), clock=clock, signing_seed=signing_seed)
        try:
            engine = ctx.policy
            assert isinstance(engine, RemotePolicyEngine)
            assert engine.ready() and engine.server_digest() == engine.digest
            # Someone with access to OPA swaps one module, keeping the version label.
            module_id = next(iter(sorted(server.store.policies)))
            server.store.put_policy(module_id, server.store.policies[module_id] + "\n# swapped\n")
            assert engine.server_version() == engine.version  # the label alone would not show it
            assert not engine.ready()
            # The gateway re-publishes its own bundle (as /readyz does) and is ready again.
            engine.publish()
            assert engine.ready()
            assert isinstance(engine, PolicyEngine)
        finally:
            ctx.engine.dispose()
