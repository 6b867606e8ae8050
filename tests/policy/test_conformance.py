"""Embedded regorus and real OPA (over the REST path) must give identical decisions.

The corpus is every named input of ``policies/gateway/fixtures_test.rego`` (``corpus``, also
used by the Rego tests) plus random well-formed inputs generated from the data documents.
Each input is evaluated by the embedded engine and by opa-python-client -> the OPA-REST stub
-> OPA 1.20.2; the raw documents and the resulting ``Decision`` objects must be equal.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.policy import PolicyBundle, decide
from gateway.policy._regorus import EmbeddedPolicyEngine
from gateway.policy._remote import RemotePolicyEngine
from tests.policy.strategies import decision_inputs


def _corpus() -> dict[str, Any]:
    bundle = PolicyBundle.load()
    corpus = EmbeddedPolicyEngine(bundle).evaluate_rule("data.gateway.fixtures_test.corpus", tests=True)
    assert isinstance(corpus, dict) and corpus
    return corpus


CORPUS = _corpus()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_input_decides_the_same_on_both_engines(
    name: str, embedded: EmbeddedPolicyEngine, healthy_remote: RemotePolicyEngine
) -> None:
    doc = CORPUS[name]
    assert embedded.evaluate(doc) == healthy_remote.evaluate(doc)
    assert decide(embedded, doc) == decide(healthy_remote, doc)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=decision_inputs())
def test_random_inputs_decide_the_same_on_both_engines(
    doc: dict[str, Any], embedded: EmbeddedPolicyEngine, healthy_remote: RemotePolicyEngine
) -> None:
    local = embedded.evaluate(doc)
    assert local is not None
    assert local == healthy_remote.evaluate(doc)
    decision = decide(embedded, doc)
    assert decision.reasons != ("policy_malformed_result",)
    assert decision == decide(healthy_remote, doc)
