"""The REST engine fails closed: every way OPA can fail is a deny with its own reason, and
the caller keeps running (the next request against a healthy server is decided normally)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from opa_client.errors import RegoParseError

from gateway.policy import Decision, PolicyBundle, PolicyEngineError, build_engine, decide
from gateway.policy._remote import RemotePolicyEngine
from tests.policy import inputs as i
from tests.support.opa_server import OpaServer


@pytest.fixture
def fast_remote(
    opa_server: OpaServer, bundle: PolicyBundle, remote: RemotePolicyEngine
) -> Iterator[RemotePolicyEngine]:
    """A REST engine with a short timeout on the (published) stub; faults cleared after."""
    opa_server.faults.reset()
    engine = RemotePolicyEngine(opa_server.url, bundle, timeout_s=0.3)
    yield engine
    engine.close()
    opa_server.faults.reset()


def _still_decides(engine: RemotePolicyEngine, server: OpaServer) -> None:
    server.faults.reset()
    assert decide(engine, i.ngo_referral()).allow


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_a_deny(bundle: PolicyBundle) -> None:
    engine = RemotePolicyEngine(f"http://127.0.0.1:{_closed_port()}", bundle, timeout_s=0.5)
    decision = decide(engine, i.ngo_referral())
    assert decision == Decision.deny("policy_engine_unreachable", bundle.version, i.REFERRAL_FIELDS)
    assert not engine.ready()


def test_timeout_is_a_deny(fast_remote: RemotePolicyEngine, opa_server: OpaServer) -> None:
    opa_server.faults.delay_s = 1.0
    decision = decide(fast_remote, i.ngo_referral())
    assert decision.reasons == ("policy_timeout",)
    assert not decision.allow
    assert {d.reason for d in decision.denied_fields} == {"policy_timeout"}
    _still_decides(fast_remote, opa_server)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_is_a_deny(fast_remote: RemotePolicyEngine, opa_server: OpaServer, status: int) -> None:
    opa_server.faults.status = status
    assert decide(fast_remote, i.ngo_referral()).reasons == ("policy_engine_error",)
    _still_decides(fast_remote, opa_server)


def test_undefined_is_a_deny(bundle: PolicyBundle) -> None:
    with OpaServer() as empty:  # nothing published: data.gateway.decision is undefined, OPA answers {}
        engine = RemotePolicyEngine(empty.url, bundle, timeout_s=2.0)
        assert engine.evaluate(i.ngo_referral()) is None
        assert decide(engine, i.ngo_referral()).reasons == ("policy_undefined",)
        assert not engine.ready()


@pytest.mark.parametrize(
    "result",
    [
        {"allow": True},
        {"allow": "yes", "permitted_fields": []},
        "allow",
        [1, 2],
    ],
)
def test_malformed_result_is_a_deny(fast_remote: RemotePolicyEngine, opa_server: OpaServer, result: object) -> None:
    opa_server.faults.result = result
    decision = decide(fast_remote, i.ngo_referral())
    assert decision.reasons == ("policy_malformed_result",)
    assert not decision.allow
    _still_decides(fast_remote, opa_server)


def test_a_well_formed_allow_for_unrequested_fields_is_a_deny(
    fast_remote: RemotePolicyEngine, opa_server: OpaServer
) -> None:
    honest = decide(fast_remote, i.ngo_referral()).to_document()
    opa_server.faults.result = {**honest, "permitted_fields": [*honest["permitted_fields"], "contact.phone"]}
    assert decide(fast_remote, i.ngo_referral()).reasons == ("policy_malformed_result",)


def test_stale_policy_version_is_a_deny(bundle: PolicyBundle) -> None:
    with OpaServer() as server:
        engine = RemotePolicyEngine(server.url, bundle, timeout_s=2.0)
        engine.publish()
        assert engine.ready()
        assert decide(engine, i.ngo_referral()).allow
        server.store.put_data(["gateway_meta"], {"version": "sha256:0000000000000000"})
        assert not engine.ready()
        decision = decide(engine, i.ngo_referral())
        assert decision.reasons == ("policy_version_mismatch",)
        assert decision.policy_version == bundle.version
        engine.publish()
        assert decide(engine, i.ngo_referral()).allow


def test_publish_replaces_stale_gateway_modules_only(bundle: PolicyBundle) -> None:
    with OpaServer() as server:
        server.store.put_policy("gateway/obsolete", "package gateway.obsolete\n\nx := 1\n")
        server.store.put_policy("other/team", "package other.team\n\ny := 2\n")
        RemotePolicyEngine(server.url, bundle, timeout_s=2.0).publish()
        assert "gateway/obsolete" not in server.store.policies
        assert "other/team" in server.store.policies
        assert {m.module_id for m in bundle.modules} <= set(server.store.policies)


def test_the_stub_rejects_a_bad_policy_like_opa(opa_server: OpaServer, remote: RemotePolicyEngine) -> None:
    from opa_client import OpaClient

    client = OpaClient(host="127.0.0.1", port=opa_server.port, timeout=2.0)
    try:
        with pytest.raises(RegoParseError) as parse:
            client.update_policy_from_string("package broken\n\nallow if {", "scratch/broken", rego_compat=False)
        assert parse.value.errors[0]["code"] == "rego_parse_error"
        with pytest.raises(RegoParseError) as compile_error:
            client.update_policy_from_string("package broken\n\nallow if { y }", "scratch/broken", rego_compat=False)
        assert compile_error.value.errors[0]["code"] == "rego_compile_error"
        assert client.query_rule({}, "gateway", "nothing_here") == {}
    finally:
        client.close_connection()


def test_publish_fails_clearly_on_a_bundle_opa_rejects(bundle: PolicyBundle) -> None:
    from dataclasses import replace

    from gateway.policy import PolicyModule

    broken = replace(bundle, modules=(*bundle.modules, PolicyModule("gateway/broken.rego", "package x\n\nallow if {")))
    with OpaServer() as server, pytest.raises(PolicyEngineError):
        RemotePolicyEngine(server.url, broken, timeout_s=2.0).publish()


def test_factory_builds_the_remote_engine(opa_server: OpaServer, bundle: PolicyBundle) -> None:
    engine = build_engine("opa", bundle=bundle, opa_url=opa_server.url, timeout_s=1.0)
    try:
        assert engine.name == "opa"
        assert engine.version == bundle.version
    finally:
        engine.close()


@pytest.mark.parametrize("url", ["ftp://opa:8181", "http://", "http://opa:8181/v1", "opa:8181"])
def test_remote_engine_rejects_bad_urls(url: str, bundle: PolicyBundle) -> None:
    with pytest.raises(ValueError):
        RemotePolicyEngine(url, bundle, timeout_s=1.0)
