"""CR17 non-conditionality: no decision outside criminal justice may depend on co-operation.

Two checks. Statically, only ``policies/gateway/criminal_justice.rego`` may mention the
criminal-justice option or purpose. Dynamically, for every other purpose, adding, removing
or changing criminal-justice consents never changes the decision (hypothesis).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy import PolicyBundle
from gateway.policy._regorus import EmbeddedPolicyEngine
from tests.policy import inputs as i

CJ_FILE = "gateway/criminal_justice.rego"
FORBIDDEN = re.compile(r"cj_option|criminal_justice|\bcj\b\s*\.")


def _code(source: str) -> list[tuple[int, str]]:
    """Lines of Rego with comments removed (a '#' inside a string is kept)."""
    lines = []
    for number, line in enumerate(source.splitlines(), start=1):
        out, in_string = [], False
        for char in line:
            if char == '"':
                in_string = not in_string
            if char == "#" and not in_string:
                break
            out.append(char)
        lines.append((number, "".join(out)))
    return lines


@pytest.mark.rule("CR17")
def test_cr17_only_the_criminal_justice_file_reads_criminal_justice(bundle: PolicyBundle) -> None:
    offenders = [
        f"{module.path}:{number}: {line.strip()}"
        for module in bundle.modules
        if module.path != CJ_FILE
        for number, line in _code(module.source)
        if FORBIDDEN.search(line)
    ]
    # decision.rego calls the criminal-justice hooks by their package path, nothing else.
    allowed = [o for o in offenders if o.startswith("gateway/decision.rego") and "data.gateway.cj." in o]
    assert sorted(set(offenders) - set(allowed)) == []
    assert any("cj_option" in line for _, line in _code(next(m for m in bundle.modules if m.path == CJ_FILE).source))


@pytest.mark.rule("CR17")
def test_cr17_the_criminal_justice_hooks_are_constant_outside_criminal_justice(bundle: PolicyBundle) -> None:
    source = next(m for m in bundle.modules if m.path == CJ_FILE).source
    assert "consent_classes(_) := data.gateway.model.request.requested_classes if not is_cj_purpose" in source


NON_CJ = [p for p in PolicyBundle.load().documents["purposes"]["purposes"] if p != "criminal_justice"]
KINDS = sorted(PolicyBundle.load().documents["roles"]["agency_kinds"])
OPTIONS = st.sampled_from(["formal_report_and_witness", "anonymous_intelligence_only", "none", None, "sure"])
CLASSES = st.lists(st.sampled_from([f"D{n}" for n in range(1, 27)]), max_size=8, unique=True)


def _cj_consents(data: Any) -> list[dict[str, Any]]:
    return [
        i.cj_consent(f"c-cj-{n}", recipients, option, classes)
        for n, (recipients, option, classes) in enumerate(data)
    ]


@pytest.fixture(scope="module")
def engine_for_property(bundle: PolicyBundle) -> EmbeddedPolicyEngine:
    return EmbeddedPolicyEngine(bundle)


@pytest.mark.rule("CR17", "CR16")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    purpose=st.sampled_from(NON_CJ),
    kind=st.sampled_from(KINDS),
    cj=st.lists(
        st.tuples(st.sampled_from([["a-r"], ["kind:police"], ["a-r", "kind:police"]]), OPTIONS, CLASSES),
        min_size=1,
        max_size=3,
    ),
    service_classes=CLASSES,
    cj_role=st.sampled_from(["none", "informant", "witness", "suspect", "defendant"]),
)
def test_cr17_criminal_justice_consent_never_changes_other_decisions(
    engine_for_property: EmbeddedPolicyEngine,
    purpose: str,
    kind: str,
    cj: Any,
    service_classes: list[str],
    cj_role: str,
) -> None:
    fields = sorted(PolicyBundle.load().documents["fields"]["fields"])[::4]
    base = i.request(
        purpose,
        i.recipient("a-r", kind),
        fields,
        [i.consent("c-s", purpose, ["a-r"], service_classes, scope="full")],
        subject=i.subject(cj_role=cj_role),
    )
    with_cj = {**base, "consents": [*base["consents"], *_cj_consents(cj)]}
    without = engine_for_property.evaluate(base)
    assert without == engine_for_property.evaluate(with_cj)
    assert without == engine_for_property.evaluate({**base, "subject": i.subject()})
