"""Remove a rule from the policy, and its tests must notice (issue 5: "fail if the rule is removed").

Each mutation below switches off one rule of the policy, the smallest edit that does so, in a
copy of ``policies/``. The mutated bundle must still load and decide, and then, on the embedded
engine, at least one Rego test (``# rules:``) and at least one pytest test under tests/policy
(``@pytest.mark.rule``) that name the rule must fail. Tests are found the way ``gateway rules``
finds them; a pytest test is called directly with the mutated engine or bundle when those are
all it asks for.

A mutation whose text is no longer in the policy fails loudly: change the mutation with the rule.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway import rules
from gateway.policy import DEFAULT_POLICY_DIR, PolicyBundle, _regorus, decide
from gateway.policy import engine as policy_engine
from gateway.policy._regorus import EmbeddedPolicyEngine
from gateway.policy.decision import ENGINE_REASONS
from tests.policy import inputs as i

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutation:
    """Edits (file under policies/, text, replacement) that switch off the rules ``ids``."""

    name: str
    ids: tuple[str, ...]
    edits: tuple[tuple[str, str, str], ...]


def _json_list(file: str, start: str) -> str:
    """The text of the JSON list in ``policies/<file>`` that begins with ``start``."""
    text = (DEFAULT_POLICY_DIR / file).read_text(encoding="utf-8")
    begin = text.index(start)
    return text[begin:text.index("]", begin) + 1]


MUTATIONS = [
    Mutation("a consent carries classes it does not list", ("CR1",), (
        ("gateway/decision.rego", "g := ((listed & scope.classes) &", "g := ((scope.classes) &"),
    )),
    Mutation("a consent counts for a recipient it does not name", ("CR1",), (
        ("gateway/consent.rego", "\tsome c in for_purpose\n\tnames_recipient(c, naming)\n",
         "\tsome c in for_purpose\n"),
    )),
    Mutation("a consent to one purpose counts for another", ("CR2",), (
        ("gateway/consent.rego", "\tsome c in consents\n\tc.purpose == purpose\n", "\tsome c in consents\n"),
    )),
    Mutation("the scope tier strips nothing", ("CR6",), (
        ("gateway/minimisation.rego", '"classes": reach & tier}', '"classes": reach}'),
    )),
    Mutation("services depend on criminal-justice co-operation", ("CR17",), (
        ("gateway/consent.rego", "\tconsents := input.consents\n\tis_array(consents)\n",
         "\tconsents := input.consents\n\tis_array(consents)\n"
         '\tcount([x | some x in consents; x.cj_option == "none"]) == 0\n'),
    )),
    Mutation("a referral carries classes outside the purpose's profile", ("CR18",), (
        ("gateway/minimisation.rego", '_part("core", requested, p, _) := {k | some k in requested; p.core[k]}',
         '_part("core", requested, p, _) := requested'),
    )),
    Mutation("a referral needs no preview by the person", ("CR18",), (
        ("gateway/decision.rego", "person_preview_required(b) if {\n"
         "\tdata.gateway.minimisation.referral_purpose(data.gateway.model.strings)\n",
         "person_preview_required(b) if {\n\tfalse\n"),
    )),
    Mutation("health data goes outside the health channel", ("CR20",), (
        ("gateway/health.rego", '"health": {k | not health_channel(s);', '"health": {k | false;'),
    )),
    Mutation("a filmed interview goes outside criminal justice", ("CR21",), (
        ("gateway/criminal_justice.rego", 'hard_denials(false, film) := {"film_criminal_justice_only": film}',
         'hard_denials(false, film) := {"film_criminal_justice_only": set()}'),
    )),
    Mutation("forensic findings go without a forensic consent", ("CR22",), (
        ("gateway/health.rego", '\t\tnot data.gateway.consent.purpose_in_force("forensic")\n', "\t\tfalse\n"),
    )),
    Mutation("the therapy record opens to any recipient", ("CR23",), (
        ("gateway/health.rego", '"therapy": {"D9" | not therapy_channel(s)},', '"therapy": set(),'),
    )),
    Mutation("therapy session content leaves the therapy service", ("CR23",), (
        ("gateway/health.rego", '\t\ts.recipient_kind != "therapy"\n', "\t\tfalse\n"),
    )),
    Mutation("the country of origin is contacted for any purpose", ("CR24",), (
        ("gateway/firewalls.rego", "_return_consent_names_recipient(s) if {\n\t_country_of_origin_purpose(s)\n",
         "_return_consent_names_recipient(s) if {\n"),
    )),
    Mutation("a recipient abroad need not be named with its country", ("CR25",), (
        ("gateway/consent.rego", "\tnaming.jurisdiction in countries\n", ""),
    )),
    Mutation("the shelter's location goes to any recipient", ("CR26", "SEC4"), (
        ("gateway/firewalls.rego", "\t\tnot placement_recipient(s)\n", "\t\tfalse\n"),
    )),
    Mutation("between IOM and UNHCR a consent naming the kind is enough", ("CR30",), (
        ("gateway/consent.rego", "\t\tnot iom_unhcr_pair(s)\n", ""),
    )),
    Mutation("no police tiers: every class goes under criminal justice", ("CR36",), (
        ("gateway/criminal_justice.rego", "consent_classes(c) := tiers[option(c)] if is_cj_purpose",
         "consent_classes(_) := data.gateway.model.request.requested_classes if is_cj_purpose"),
        ("gateway/criminal_justice.rego",
         '_police_tier(true, requested, applicable) := {"police_tier": requested - {k | some c in applicable; '
         "some k in tiers[option(c)]}}",
         "_police_tier(true, _, _) := {}"),
    )),
    Mutation("the risk summary no longer travels with a referral", ("L9", "T1"), (
        ("gateway/minimisation.rego", "\tdata.gateway_data.purposes.purposes[s.purpose].risk_summary == true\n",
         "\tfalse\n"),
    )),
    Mutation("the risk summary carries the narrative too", ("L9", "T1"), (
        ("gateway/minimisation.rego", "\tsome f, _ in data.gateway_index.field_sets.risk_summary\n"
         '\tfield_class[f] == "D12"\n', "\tsome f, _ in field_class\n"),
    )),
    Mutation("an unverified recipient is sent to", ("SEC2",), (
        ("gateway/firewalls.rego", '{"recipient_unverified" | not data.gateway.model.recipient_verified(',
         '{"recipient_unverified" | false; data.gateway.model.recipient_verified('),
    )),
    Mutation("volunteers see S3 and S4 classes", ("SEC8",), (
        ("gateway/firewalls.rego", "\t\t_volunteer(s)\n\t\tmax_level := _max_level(s)\n",
         "\t\tfalse\n\t\tmax_level := _max_level(s)\n"),
    )),
    Mutation("immigration receives more than permit and return data", ("SEC13",), (
        ("gateway/firewalls.rego", "\t\timmigration_recipient(s)\n\t\topen :=", "\t\tfalse\n\t\topen :="),
        ("gateway/firewalls.rego", "\tnot s.purpose in data.gateway_data.firewalls.firewalls.immigration.purposes\n",
         "\tfalse\n"),
    )),
    Mutation("the country of origin is contacted after an asylum claim", ("SEC14",), (
        ("gateway/firewalls.rego", "\tdata.gateway.model.recipient_of_state_possibly_fled(s)\n\tasylum_or_refugee\n",
         "\tfalse\n"),
    )),
    Mutation("an embassy is judged by where it sits, not by the state it represents", ("SEC14", "CR24"), (
        ("gateway/model.rego", "\ts.recipient_represents_state == s.country_of_origin\n", "\tfalse\n"),
    )),
    Mutation("an embassy registered without its state is not the country of origin", ("SEC14",), (
        ("gateway/model.rego", '\ts.recipient_represents_state == ""\n\ts.recipient_kind in',
         "\tfalse\n\ts.recipient_kind in"),
    )),
    Mutation("an unrecorded country of origin hides every state the person may have fled", ("SEC14",), (
        ("gateway/model.rego", '\ts.country_of_origin == ""\n\ts.recipient_represents_state != ""\n', "\tfalse\n"),
        ("gateway/model.rego", '\ts.country_of_origin == ""\n\tdata.gateway_data.roles',
         "\tfalse\n\tdata.gateway_data.roles"),
    )),
    Mutation("a mistyped safety flag reads as not set", ("SEC14", "CH1"), (
        ("gateway/model.rego", "\tv != false\n\tv != null\n", "\tv == true\n"),
    )),
    # Issue 21: the children's consent rules, the reach of a grant, CR24's recipients, L6.
    Mutation("a suspected guardian's consent counts beside another consent", ("CH7",), (
        ("gateway/children.rego", "_counts(c) if {\n\tnot _legal_action\n\tnot _void_consent(c)\n}",
         "_counts(c) if {\n\tnot _legal_action\n}"),
    )),
    Mutation("an incomplete child consent counts for a legal action beside a complete one", ("CH6", "CH9"), (
        ("gateway/children.rego", "_counts(c) if {\n\tnot _legal_action\n\tnot _void_consent(c)\n}",
         "_counts(c) if {\n\tnot _void_consent(c)\n}"),
    )),
    Mutation("an asylum application for a child is not a legal action", ("CH6", "CH9"), (
        ("data/exceptions.json", '"asylum_application",\n      "compensation",', '"compensation",'),
    )),
    Mutation("a grant opens the consent route for a child without a guardian advocate", ("CH3",), (
        ("gateway/children.rego", "_child_counting := [] if _guardian_advocate_missing else",
         "_child_counting := [] if false else"),
    )),
    Mutation("a kind: consent or an exception grant reaches the country of origin", ("CR24",), (
        ("gateway/firewalls.rego", "\tnot data.gateway.exceptions.claimed\n"
         "\tsome c in data.gateway.consent.applicable\n\ts.recipient_agency_id in c.recipients\n", ""),
    )),
    Mutation("family tracing releases every class of its basis", ("L6",), (
        ("data/exceptions.json", _json_list("data/exceptions.json", '"fields": [\n        "status.unaccompanied'),
         '"fields": []'),
    )),
    # The rest of the policy: consent lifecycle, children, lawful exceptions, four eyes.
    Mutation("a withdrawn consent still counts", ("CR14",), (
        ("gateway/consent.rego", '\tobject.get(c, "withdrawn_at", null) == null\n', ""),
    )),
    Mutation("an expired consent still counts", ("CR1", "CR14"), (
        ("gateway/consent.rego", "\tsome now in ctx.now\n\texpires_ns > now\n", "\tsome now in ctx.now\n"),
    )),
    Mutation("any consent opens an NRM referral", ("CR29",), (
        ("gateway/consent.rego", "\tsome c in consents\n\tc.purpose == purpose\n", "\tsome c in consents\n"),
    )),
    Mutation("a consent counts for another subject (an adult's for a dependent child)", ("CH23", "S39"), (
        ("gateway/consent.rego", "\tc.subject_id == ctx.subject_id\n", ""),
    )),
    Mutation("a child-only exception is accepted for an adult", ("L5c",), (
        ("gateway/exceptions.rego", "_child_ok if data.gateway.children.is_child\n", "_child_ok := true\n"),
    )),
    Mutation("a disputed age is an adult's", ("CH1", "CH1b"), (
        ("gateway/children.rego", 'is_child if data.gateway.model.subject_flag("age_disputed")\n', ""),
    )),
    Mutation("a child's case leaves intake without a guardian advocate", ("CH3",), (
        ("gateway/children.rego", "\tis_child\n\tnot _has_guardian_advocate\n", "\tis_child\n\tfalse\n"),
    )),
    Mutation("any guardian advocate service sees any child", ("CH4",), (
        ("gateway/children.rego", '"guardian_advocate_service"\n\tnot _allocated_to_recipient\n',
         '"guardian_advocate_service"\n\tfalse\n'),
    )),
    Mutation("a suspected guardian's consent still counts", ("CH7",), (
        ("gateway/children.rego", "_not_void := [c | some c in data.gateway.consent.named; not _void_consent(c)]",
         "_not_void := [c | some c in data.gateway.consent.named]"),
    )),
    Mutation("legal consequences for a child without the guardian's consent and the child's views",
             ("CH6", "CH9"), (
        ("gateway/children.rego", "\tcount([c | some c in _not_void; _complete(c)]) == 0\n", "\tfalse\n"),
    )),
    Mutation("a child's return without a best-interests decision", ("CH19",), (
        ("gateway/children.rego", "\tdata.gateway.model.strings.purpose in return_purposes\n"
         "\tnot _best_interests_recorded\n", "\tfalse\n"),
    )),
    Mutation("a child's identity is made public", ("CH11",), (
        ("gateway/children.rego", "\tidentifying[k]\n\tnot f in family_tracing\n", "\tfalse\n"),
    )),
    Mutation("family tracing never publishes a child's identity", ("L6",), (
        ("gateway/children.rego",
         '_family_tracing := _exceptions.granted_fields if _exceptions.claimed_basis == "L6" else := set()',
         "_family_tracing := set()"),
    )),
    Mutation("an exception the agency never published is accepted", ("L1", "S35"), (
        ("gateway/exceptions.rego", "\tclaimed\n\tnot _published\n", "\tclaimed\n\tfalse\n"),
    )),
    Mutation("an exception without a second approver is accepted", ("SEC6",), (
        ("gateway/exceptions.rego", "\tclaimed\n\tnot _second_approver_ok\n", "\tclaimed\n\tfalse\n"),
    )),
    Mutation("releasing an S4 class needs no second approver", ("SEC6",), (
        ("gateway/decision.rego", "\tk := field_class[f]\n\tlevel_4[k]\n", "\tk := field_class[f]\n\tfalse\n"),
    )),
    Mutation("an exception reaches classes outside its basis", ("L1", "L3"), (
        ("gateway/exceptions.rego", "\tk in basis.classes\n\tk in _grant_classes\n", "\tk in _grant_classes\n"),
    )),
    Mutation("an exception reaches fields outside its basis", ("L4", "L4b"), (
        ("gateway/exceptions.rego", "\t_field_in_basis(f)\n\t_field_in_grant(f)\n", "\t_field_in_grant(f)\n"),
    )),
    Mutation("a court order without a reference counts", ("L8",), (
        ("gateway/exceptions.rego",
         'court_order_valid if trim_space(data.gateway.model.text(data.gateway.model.court_order, "reference")) != ""',
         "court_order_valid := true"),
    )),
    Mutation("a court order reaches more than the minimal therapy record", ("L8", "CR23"), (
        ("gateway/exceptions.rego",
         "\tf in l8.fields\n\tdata.gateway_data.fields.fields[f].court_disclosable == true\n", ""),
    )),
    # Issue 21, the last planned ids: contact safety, the Golden Day, preferences, the narrative,
    # coming of age, immigration status, profiles per role and the risk summary for staff.
    Mutation("a contact channel goes without verified safety", ("SEC12", "S40"), (
        ("gateway/contact.rego", '"contact_not_verified_safe": {f | not verified_safe;',
         '"contact_not_verified_safe": {f | false;'),
    )),
    Mutation("a child's device is reached during the Golden Day", ("SEC11",), (
        ("gateway/contact.rego", "\t\tgolden_day\n\t\tdevice :=", "\t\tfalse\n\t\tdevice :="),
    )),
    Mutation("preferences go beyond scheduling", ("CR35",), (
        ("gateway/firewalls.rego", "\t\tnot _schedules_meeting(s)\n", "\t\tfalse\n"),
    )),
    Mutation("any role reads the trauma narrative", ("SEC18",), (
        ("gateway/firewalls.rego", "\t\tnot _narrative_roles(s)\n", "\t\tfalse\n"),
    )),
    Mutation("a guardian's consent still counts once the person is 18", ("CH22",), (
        ("gateway/children.rego",
         "_adult_counting := [c | some c in data.gateway.consent.named; not _guardian_given(c)]",
         "_adult_counting := data.gateway.consent.named"),
    )),
    Mutation("an asylum claim opens the immigration firewall", ("CR34",), (
        ("gateway/firewalls.rego",
         "immigration_recipient(s) if s.recipient_kind in "
         "data.gateway_data.firewalls.firewalls.immigration.recipient_kinds",
         "immigration_recipient(s) if {\n\ts.recipient_kind in data.gateway_data.firewalls.firewalls.immigration"
         ".recipient_kinds\n\tnot asylum_or_refugee\n}"),
    )),
    Mutation("every recipient gets the same profile whatever its role", ("T2",), (
        ("gateway/minimisation.rego", '_part("core", requested, p, _) := {k | some k in requested; p.core[k]}',
         '_part("core", requested, p, _) := requested'),
    )),
    Mutation("the receiving staff no longer hear of the risks", ("SEC7",), (
        ("gateway/minimisation.rego", "\tdata.gateway_data.purposes.purposes[s.purpose].risk_summary == true\n",
         "\tfalse\n"),
    )),
    Mutation("an exception grant carries the person's own views", ("CR37",), (
        ("gateway/exceptions.rego", "\t_field_in_grant(f)\n\tnot _consent_only(f)\n", "\t_field_in_grant(f)\n"),
        ("data/exceptions.json", '"fields": [\n        "status.unaccompanied_or_separated",',
         '"fields": [\n        "child.views_record",\n        "status.unaccompanied_or_separated",'),
    )),
]

PYTEST_REFS = [ref for ref in rules.scan_python_tests(REPO / "tests", REPO) if ref.node.startswith("tests/policy/")]
REGO_REFS = rules.scan_rego_tests(DEFAULT_POLICY_DIR, REPO)


def mutate(tmp_path: Path, mutation: Mutation) -> PolicyBundle:
    """A copy of the policies with the mutation's edits, loaded as a bundle."""
    root = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, root)
    for file, text, replacement in mutation.edits:
        path = root / file
        source = path.read_text(encoding="utf-8")
        assert source.count(text) == 1, f"{mutation.name}: {file} no longer holds {text!r} once"
        path.write_text(source.replace(text, replacement), encoding="utf-8")
    return PolicyBundle.load(root)


def _naming(refs: list[rules.TestRef], ids: tuple[str, ...]) -> list[rules.TestRef]:
    return [ref for ref in refs if set(ref.ids) & set(ids)]


@pytest.fixture(autouse=True)
def whole_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded engine given the whole input, as OPA is: its adapter passes regorus only the
    consents of the request's purpose, which would hide a policy that stopped checking it (CR2)."""
    monkeypatch.setattr(_regorus, "relevant_input", lambda doc: doc)


ENGINE_DENIES: list[str] = []


@pytest.fixture(autouse=True)
def engine_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record every deny that ``decide`` makes because the engine failed (not the policy's own deny)."""
    real = policy_engine._deny

    def recording(engine: Any, reason: str, fields: list[str], *, logged: bool = False) -> Any:
        ENGINE_DENIES.append(reason)
        return real(engine, reason, fields, logged=logged)

    monkeypatch.setattr(policy_engine, "_deny", recording)


def rego_outcomes(engine: EmbeddedPolicyEngine, ids: tuple[str, ...]) -> dict[str, bool]:
    """Each Rego test naming ``ids``: whether it passes on the (mutated) engine."""
    outcomes = {}
    for ref in _naming(REGO_REFS, ids):
        rule = ref.node.split("::", 1)[1]
        # An evaluation error propagates: it must not count as the test noticing the mutation.
        outcomes[rule] = engine.evaluate_rule(f"data.{rule}", tests=True) is True
    return outcomes


def pytest_outcomes(engine: EmbeddedPolicyEngine, bundle: PolicyBundle, ids: tuple[str, ...]) -> dict[str, bool]:
    """Each tests/policy function naming ``ids`` that needs only an engine or the bundle: whether it passes."""
    available: dict[str, Any] = {"engine": engine, "embedded": engine, "engine_for_property": engine,
                                 "bundle": bundle}
    outcomes = {}
    for ref in _naming(PYTEST_REFS, ids):
        path, name = ref.node.split("::", 1)
        if "::" in name:
            continue  # a method of a test class
        function = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
        if any(mark.name == "parametrize" for mark in getattr(function, "pytestmark", [])):
            continue
        parameters = inspect.signature(function).parameters
        if not set(parameters) <= set(available):
            continue
        ENGINE_DENIES.clear()
        try:
            function(**{p: available[p] for p in parameters})
            outcomes[ref.node] = True
        except AssertionError:  # also what hypothesis re-raises for a falsifying example
            # Noticed only if the policy decided: a broken engine would fail every test alike.
            assert not ENGINE_DENIES, f"{ref.node} failed on an engine deny: {sorted(set(ENGINE_DENIES))}"
            outcomes[ref.node] = False
        # Anything else (a TypeError from a wrong call, say) propagates: it must not count as
        # the test noticing the mutation.
    return outcomes


def test_every_rule_the_policy_issue_lists_has_a_mutation() -> None:
    listed = {"CR1", "CR2", "CR6", "CR17", "CR18", "CR20", "CR21", "CR22", "CR23", "CR24", "CR25", "CR26",
              "CR30", "CR36", "L9", "T1", "SEC2", "SEC4", "SEC8", "SEC13", "SEC14"}
    assert listed <= {rule_id for m in MUTATIONS for rule_id in m.ids}


def test_the_unmutated_policy_passes_every_test_a_mutation_checks(tmp_path: Path) -> None:
    bundle = mutate(tmp_path, Mutation("none", (), ()))
    engine = EmbeddedPolicyEngine(bundle)
    ids = tuple(sorted({rule_id for m in MUTATIONS for rule_id in m.ids}))
    try:
        failing = [name for name, passed in {**rego_outcomes(engine, ids),
                                              **pytest_outcomes(engine, bundle, ids)}.items() if not passed]
    finally:
        engine.close()
    assert failing == []


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_removing_a_rule_fails_its_rego_and_its_python_tests(tmp_path: Path, mutation: Mutation) -> None:
    bundle = mutate(tmp_path, mutation)
    engine = EmbeddedPolicyEngine(bundle)
    try:
        # Still a working policy: it loads, and decides a referral on its own terms.
        assert decide(engine, i.ngo_referral()).reasons not in {(reason,) for reason in ENGINE_REASONS}
        rego = rego_outcomes(engine, mutation.ids)
        python = pytest_outcomes(engine, bundle, mutation.ids)
    finally:
        engine.close()
    assert rego, f"no Rego test names {mutation.ids}"
    assert python, f"no tests/policy test that takes only an engine names {mutation.ids}"
    assert not all(rego.values()), f"every Rego test of {mutation.ids} still passes: {sorted(rego)}"
    assert not all(python.values()), f"every Python test of {mutation.ids} still passes: {sorted(python)}"
