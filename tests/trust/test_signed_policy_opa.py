"""Issue 15: the policy server cannot be swapped. OPA pulls the bundle the policy owner signed, from the
gateway, and activates it only if the signature verifies under the owner's key; the gateway verifies it
too before serving or using it, never pushes policy to OPA, and is ready only while OPA has activated
its revision.

OPA here is the OPA-compatible server with OPA's bundle plugin (tests/support/opa_bundles.py): the
signature and every hash are checked by real OPA 1.20.2 (its io.jwt and crypto built-ins); decisions
are real OPA's."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consent.clock import FixedClock
from gateway.app import build_context, create_app
from gateway.context import GatewayContext
from gateway.errors import GatewayError
from gateway.policy import decide
from gateway.policy._regorus import EmbeddedPolicyEngine
from gateway.policy._remote import RemotePolicyEngine
from gateway.policy.bundle import PolicyBundle
from gateway.policy.engine import PolicyEngineError
from gateway.policy.signed import build_signed_bundle, generate_signing_key
from gateway.policy_bundle_route import BUNDLE_PATH
from gateway.settings import Settings
from tests.conftest import ISSUER
from tests.policy import inputs
from tests.support.live_server import serve
from tests.support.opa_bundles import BundleConfig, BundlePlugin
from tests.support.opa_server import OpaServer

TOKEN = "opa-token-for-the-test-only-0123456789"
OWNER = generate_signing_key()  # the policy owner's (DPO's) key: never on the gateway host
OPERATOR = generate_signing_key()  # the gateway operator's own key
OWNER_PEM = OWNER.as_pem(private=False).decode()


def untar(raw: bytes) -> dict[str, bytes]:
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz, tarfile.open(fileobj=gz) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def retar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def tampered(raw: bytes) -> bytes:
    """The signed bundle with one Rego module changed after signing: a rule that permits everything."""
    files = untar(raw)
    files["/gateway/decision.rego"] += b"\n# changed after signing\n"
    return retar(files)


def ngo_input() -> dict[str, object]:
    return inputs.ngo_referral()


@dataclass
class Stack:
    ctx: GatewayContext
    url: str
    opa: OpaServer
    plugin: BundlePlugin
    bundle_file: Path
    app: FastAPI


def _settings(db_url: str, tmp_path: Path, opa_url: str, bundle_file: Path, key_file: Path) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER, policy_engine="opa",
                    opa_url=opa_url, opa_timeout_s=10.0, opa_token=TOKEN, opa_bundle="pull",
                    policy_bundle_file=bundle_file, policy_verification_key_file=key_file,
                    background_worker=False, argon2_time_cost=1, argon2_memory_kib=8)


@pytest.fixture
def stack(db_url: str, tmp_path: Path, clock: FixedClock, signing_seed: bytes) -> Iterator[Stack]:
    """A live gateway given the owner's signed bundle and public key, and OPA (token auth) pulling from it."""
    bundle_file, key_file = tmp_path / "policy-bundle.tar.gz", tmp_path / "policy-owner.pem"
    bundle_file.write_bytes(build_signed_bundle(PolicyBundle.load(), OWNER))
    key_file.write_text(OWNER_PEM)
    with OpaServer(token=TOKEN) as opa:
        ctx = build_context(_settings(db_url, tmp_path, opa.url, bundle_file, key_file), clock=clock,
                            signing_seed=signing_seed)
        try:
            app = create_app(context=ctx)
            with serve(app) as url:
                plugin = BundlePlugin(opa.store, BundleConfig(url=url + BUNDLE_PATH, key_pem=OWNER_PEM))
                try:
                    yield Stack(ctx, url, opa, plugin, bundle_file, app)
                finally:
                    plugin.stop()
        finally:
            ctx.engine.dispose()


def _ready(url: str) -> tuple[int, dict[str, object]]:
    response = httpx.get(url + "/readyz")
    return response.status_code, response.json()


def test_opa_activates_the_signed_bundle_and_decides_as_the_embedded_engine(stack: Stack) -> None:
    engine = stack.ctx.policy
    assert isinstance(engine, RemotePolicyEngine) and engine.pulls_bundle
    # Nothing was pushed: until OPA pulls, it holds nothing and the replica is not ready.
    assert stack.opa.store.policies == {}
    status, body = _ready(stack.url)
    assert status == 503 and body["checks"]["policy_engine"] is False
    assert decide(engine, ngo_input()).reasons == ("policy_undefined",)
    assert stack.plugin.poll_once()
    assert stack.plugin.status.active_revision == engine.version
    assert stack.opa.store.policies and all(pid.startswith("gateway/gateway/") for pid in stack.opa.store.policies)
    assert _ready(stack.url)[0] == 200
    # Real OPA's decisions from the pulled bundle are the embedded engine's, version included.
    embedded = EmbeddedPolicyEngine(PolicyBundle.load())
    try:
        for doc in (ngo_input(), inputs.police_request([])):
            remote, local = decide(engine, doc), decide(embedded, doc)
            assert remote == local and remote.policy_version == engine.version
    finally:
        embedded.close()
    # OPA polls again: the unchanged bundle costs a 304 and no new activation.
    assert not stack.plugin.poll_once() and stack.plugin.status.activations == 1


def test_a_bundle_changed_after_signing_is_refused_by_opa_and_by_the_gateway(
    stack: Stack, db_url: str, tmp_path: Path, clock: FixedClock, signing_seed: bytes,
) -> None:
    assert stack.plugin.poll_once()
    good_revision = stack.plugin.status.active_revision
    # Someone with the bundle service's files swaps in a modified bundle; OPA pulls it (a test double
    # for the bundle service would behave the same: the gateway itself would refuse to serve it).
    evil = tampered(stack.bundle_file.read_bytes())
    with serve(_static(evil)) as evil_url:
        plugin = BundlePlugin(stack.opa.store, BundleConfig(url=evil_url + "/b.tar.gz", key_pem=OWNER_PEM))
        try:
            assert not plugin.poll_once()
            assert plugin.status.code == "bundle_error" and "digest mismatch" in plugin.status.errors[0]
        finally:
            plugin.stop()
    # OPA keeps the signed revision; decisions still follow it and the replica stays ready on it.
    assert stack.opa.store.data["system"]["bundles"]["gateway"]["manifest"]["revision"] == good_revision
    assert decide(stack.ctx.policy, ngo_input()).policy_version == good_revision  # type: ignore[arg-type]
    assert _ready(stack.url)[0] == 200
    # The gateway refuses to start on it, naming why.
    stack.bundle_file.write_bytes(evil)
    with pytest.raises(GatewayError) as caught:
        build_context(_settings(db_url, tmp_path, stack.opa.url, stack.bundle_file, tmp_path / "policy-owner.pem"),
                      clock=clock, signing_seed=signing_seed)
    assert caught.value.reason == "bundle_digest_mismatch"


def test_a_bundle_signed_by_the_operator_is_refused_by_opa_and_by_the_gateway(
    stack: Stack, db_url: str, tmp_path: Path, clock: FixedClock, signing_seed: bytes,
) -> None:
    policy = PolicyBundle.load()
    forged = build_signed_bundle(policy, OPERATOR)
    with serve(_static(forged)) as forged_url:
        plugin = BundlePlugin(stack.opa.store, BundleConfig(url=forged_url + "/b.tar.gz", key_pem=OWNER_PEM))
        try:
            assert not plugin.poll_once()
            assert plugin.status.code == "bundle_error" and "signature" in plugin.status.errors[0]
            # Unsigned altogether: refused too (OPA's config names the key id, so a signature is required).
            files = untar(forged)
            del files["/.signatures.json"]
            unsigned = retar(files)
        finally:
            plugin.stop()
    with serve(_static(unsigned)) as unsigned_url:
        plugin = BundlePlugin(stack.opa.store, BundleConfig(url=unsigned_url + "/b.tar.gz", key_pem=OWNER_PEM))
        try:
            assert not plugin.poll_once() and "missing .signatures.json" in plugin.status.errors[0]
        finally:
            plugin.stop()
    assert stack.opa.store.policies == {} and _ready(stack.url)[0] == 503  # nothing activated: not ready
    stack.bundle_file.write_bytes(forged)
    with pytest.raises(GatewayError) as caught:
        build_context(_settings(db_url, tmp_path, stack.opa.url, stack.bundle_file, tmp_path / "policy-owner.pem"),
                      clock=clock, signing_seed=signing_seed)
    assert caught.value.reason == "bundle_signature_invalid"


def test_policy_is_never_pushed_and_opa_refuses_pushes_under_the_bundle(stack: Stack) -> None:
    engine = stack.ctx.policy
    assert isinstance(engine, RemotePolicyEngine)
    with pytest.raises(PolicyEngineError, match="policy_push_disabled"):
        engine.publish()
    assert stack.opa.store.policies == {}
    assert stack.plugin.poll_once()
    # Whoever can reach OPA's API, even with the gateway's token, cannot swap a module or the data.
    auth = {"Authorization": f"Bearer {TOKEN}"}
    module = httpx.put(stack.opa.url + "/v1/policies/evil", headers=auth,
                       content="package gateway\n\nimport rego.v1\n\ndecision := {}\n")
    assert module.status_code == 400 and "owned by bundle" in module.json()["message"]
    data = httpx.put(stack.opa.url + "/v1/data/gateway_data/roles", headers=auth, json={})
    assert data.status_code == 400 and "owned by bundle" in data.json()["message"]
    meta = httpx.put(stack.opa.url + "/v1/data/gateway_meta", headers=auth, json={"version": engine.version})
    assert meta.status_code == 400
    for _ in range(5):
        assert _ready(stack.url)[0] == 200
    # Probes only read OPA's activated revision: nothing was published or re-compared in the background.
    readiness = stack.app.state.policy_readiness
    assert readiness.checks >= 5 and readiness.publishes == 0 and readiness.verifications == 0
    assert all(pid.startswith("gateway/gateway/") for pid in stack.opa.store.policies)


def test_readiness_follows_the_revision_opa_activated(stack: Stack) -> None:
    assert stack.plugin.poll_once() and _ready(stack.url)[0] == 200
    # OPA now runs another (older, say) signed revision: this replica is not ready on it.
    older = PolicyBundle.from_sources(Path("older"), {"gateway/decision.rego": "package gateway\n"}, {})
    stack.opa.store.activate_bundle("gateway", ["gateway", "gateway_data", "gateway_index", "gateway_meta"],
                                    {"gateway/decision.rego": "package gateway\n"}, {},
                                    {"revision": older.version}, "")
    status, body = _ready(stack.url)
    assert status == 503 and body["checks"]["policy_engine"] is False


def test_the_gateway_serves_the_verified_bundle_byte_for_byte_with_its_revision(stack: Stack) -> None:
    response = httpx.get(stack.url + BUNDLE_PATH)
    assert response.status_code == 200 and response.content == stack.bundle_file.read_bytes()
    assert response.headers["etag"] == f'"{stack.ctx.policy.version}"'  # type: ignore[union-attr]
    again = httpx.get(stack.url + "/v1/policy/bundle.tar.gz", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_a_gateway_without_a_signed_bundle_serves_none(client: TestClient) -> None:
    response = client.get("/v1/policy/bundle.tar.gz")
    assert response.status_code == 404 and response.json()["reason"] == "policy_bundle_not_served"


def test_the_embedded_engine_loads_only_a_bundle_that_verifies(
    db_url: str, tmp_path: Path, clock: FixedClock, signing_seed: bytes,
) -> None:
    bundle_file, key_file = tmp_path / "policy-bundle.tar.gz", tmp_path / "policy-owner.pem"
    key_file.write_text(OWNER_PEM)

    def embedded_settings() -> Settings:
        return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER,
                        policy_bundle_file=bundle_file, policy_verification_key_file=key_file,
                        background_worker=False, argon2_time_cost=1, argon2_memory_kib=8)

    policy = PolicyBundle.load()
    bundle_file.write_bytes(build_signed_bundle(policy, OWNER))
    ctx = build_context(embedded_settings(), clock=clock, signing_seed=signing_seed)
    try:
        assert isinstance(ctx.policy, EmbeddedPolicyEngine) and ctx.policy.version == policy.version
        assert decide(ctx.policy, ngo_input()).policy_version == policy.version
    finally:
        ctx.engine.dispose()
    for bad, reason in ((tampered(bundle_file.read_bytes()), "bundle_digest_mismatch"),
                        (build_signed_bundle(policy, OPERATOR), "bundle_signature_invalid")):
        bundle_file.write_bytes(bad)
        with pytest.raises(GatewayError) as caught:
            build_context(embedded_settings(), clock=clock, signing_seed=signing_seed)
        assert caught.value.reason == reason and reason in str(caught.value.detail)


def _static(raw: bytes) -> object:
    """A bundle service holding one file (what a static directory or a compromised service would serve)."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def bundle(_: object) -> Response:
        return Response(raw, media_type="application/gzip", headers={"ETag": '"x"'})

    return Starlette(routes=[Route("/b.tar.gz", bundle)])

