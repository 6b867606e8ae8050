"""Fixtures for the policy tests: the bundle, both engines, and the OPA-REST stub.

``engine`` is parametrised: every test that uses it runs on the embedded regorus engine and
on the REST path (opa-python-client -> the stub in tests/support/opa_server.py -> real OPA).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opa_bindings import OpaEngine

from gateway.policy import PolicyBundle, PolicyEngine
from gateway.policy._regorus import EmbeddedPolicyEngine
from gateway.policy._remote import RemotePolicyEngine
from tests.support.opa_server import OpaServer

ENGINES = ["embedded", "opa"]


@pytest.fixture(scope="session")
def bundle() -> PolicyBundle:
    return PolicyBundle.load()


@pytest.fixture(scope="session")
def embedded(bundle: PolicyBundle) -> Iterator[EmbeddedPolicyEngine]:
    engine = EmbeddedPolicyEngine(bundle)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def opa_server() -> Iterator[OpaServer]:
    with OpaServer() as server:
        yield server


@pytest.fixture(scope="session")
def remote(opa_server: OpaServer, bundle: PolicyBundle) -> Iterator[RemotePolicyEngine]:
    """The REST engine against the stub, with the bundle published (generous timeout)."""
    engine = RemotePolicyEngine(opa_server.url, bundle, timeout_s=10.0)
    engine.publish()
    yield engine
    engine.close()


@pytest.fixture
def healthy_remote(remote: RemotePolicyEngine, opa_server: OpaServer) -> Iterator[RemotePolicyEngine]:
    """The REST engine, with every fault cleared before and after the test."""
    opa_server.faults.reset()
    yield remote
    opa_server.faults.reset()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> PolicyEngine:
    """Each engine in turn: embedded regorus, then real OPA over REST."""
    if request.param == "embedded":
        chosen: PolicyEngine = request.getfixturevalue("embedded")
    else:
        chosen = request.getfixturevalue("healthy_remote")
    return chosen


@pytest.fixture(scope="session")
def opa_with_tests(bundle: PolicyBundle) -> Iterator[Any]:
    """Real OPA (in process) loaded with the policies, their tests and the data."""
    engine = OpaEngine()
    for module in (*bundle.modules, *bundle.test_modules):
        engine.add_policy(module.path, module.source)
    engine.add_data(bundle.data())
    yield engine
    engine.close()
