"""Run every ``test_*`` rule of the ``_test.rego`` files on regorus and on real OPA.

There is no ``opa test`` runner in either Python binding: a test rule passes when it
evaluates to true; undefined, false or an error is a failure. Each test rule is one
pytest case per engine.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from opa_bindings.engine import OpaError

from gateway.policy import PolicyBundle
from gateway.policy._regorus import EmbeddedPolicyEngine

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\s+if\b", re.MULTILINE)


def discover(bundle: PolicyBundle) -> list[tuple[str, str]]:
    """(package, rule) for every test rule, in file order."""
    found: list[tuple[str, str]] = []
    for module in bundle.test_modules:
        package = _PACKAGE.search(module.source)
        assert package, f"{module.path} has no package"
        found.extend((package.group(1), rule) for rule in _TEST_RULE.findall(module.source))
    return found


TESTS = discover(PolicyBundle.load())


def test_there_are_rego_tests_for_every_policy_module() -> None:
    bundle = PolicyBundle.load()
    tested = {m.path.removesuffix("_test.rego") for m in bundle.test_modules}
    untested = [m.path for m in bundle.modules if m.path.removesuffix(".rego") not in tested]
    assert untested == []
    assert len(TESTS) > 50


def test_test_names_are_unique_per_package() -> None:
    assert len(TESTS) == len(set(TESTS))


@pytest.fixture(scope="module")
def regorus_with_tests(bundle: PolicyBundle) -> EmbeddedPolicyEngine:
    return EmbeddedPolicyEngine(bundle)


@pytest.mark.parametrize(("package", "rule"), TESTS, ids=[f"{p}.{r}" for p, r in TESTS])
def test_rego_on_regorus(regorus_with_tests: EmbeddedPolicyEngine, package: str, rule: str) -> None:
    result = regorus_with_tests.evaluate_rule(f"data.{package}.{rule}", tests=True)
    assert result is True, f"{package}.{rule} evaluated to {result!r}"


@pytest.mark.parametrize(("package", "rule"), TESTS, ids=[f"{p}.{r}" for p, r in TESTS])
def test_rego_on_opa(opa_with_tests: Any, package: str, rule: str) -> None:
    try:
        result = opa_with_tests.eval_document(f"{package}.{rule}")
    except OpaError as exc:
        pytest.fail(f"{package}.{rule}: {exc.code}")
    assert result is True, f"{package}.{rule} evaluated to {result!r}"
