"""The data documents in policies/data are consistent with each other and with the policy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.policy import PolicyBundle

REPO = Path(__file__).resolve().parents[2]
DOCS = PolicyBundle.load().documents
CLASSES = DOCS["classes"]["classes"]
FIELDS = DOCS["fields"]["fields"]
KINDS = DOCS["roles"]["agency_kinds"]
USER_ROLES = DOCS["roles"]["user_roles"]
PURPOSES = DOCS["purposes"]["purposes"]
PROFILES = DOCS["profiles"]["profiles"]
SCOPES = DOCS["scopes"]["scopes"]
EXCEPTIONS = DOCS["exceptions"]["exceptions"]
REASONS = DOCS["reasons"]["reasons"]
FIREWALLS = DOCS["firewalls"]["firewalls"]
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def test_classes_are_d1_to_d26() -> None:
    assert list(CLASSES) == [f"D{n}" for n in range(1, 27)]
    for cls in CLASSES.values():
        assert cls["sensitivity"] == f"S{cls['level']}"
        assert all(isinstance(cls[flag], bool) for flag in ("identifying", "health", "location",
                                                            "risk_summary_excluded"))


@pytest.mark.rule("CR6")
def test_identifying_classes_include_the_digest_minimum() -> None:
    identifying = {k for k, v in CLASSES.items() if v["identifying"]}
    assert {"D1", "D2", "D3", "D4", "D13", "D14"} <= identifying
    assert {"D23", "D24"}.isdisjoint(identifying)


def test_health_location_and_narrative_flags() -> None:
    assert {k for k, v in CLASSES.items() if v["health"]} == {"D6", "D7", "D8"}
    assert {k for k, v in CLASSES.items() if v["location"]} == {"D4"}
    assert {k for k, v in CLASSES.items() if v["risk_summary_excluded"]} == {"D4", "D6", "D7", "D8", "D9", "D11"}


def test_every_field_maps_to_one_known_class_and_is_dotted_snake_case() -> None:
    for name, spec in FIELDS.items():
        assert FIELD_NAME.match(name), name
        assert spec["class"] in CLASSES, name
        assert name.split(".")[0] == spec["group"]


def test_field_catalogue_covers_the_referral_groups_and_the_named_fields() -> None:
    groups = {spec["group"] for spec in FIELDS.values()}
    assert {"envelope", "subject", "status", "needs", "risk", "history", "medico_legal", "requests", "network",
            "assistance"} <= groups
    named = {
        "envelope.urgency": "D12", "subject.preferred_name": "D1", "subject.age": "D1", "subject.gender": "D1",
        "subject.language": "D5", "risk.level": "D12", "risk.known_risks": "D12", "risk.safety_actions": "D12",
        "risk.next_review": "D12", "therapy.record": "D9", "medico_legal.report": "D10",
        "history.trafficking_account": "D11", "location.shelter_address": "D4", "contact.phone": "D3",
        "immigration.status": "D15", "asylum.fear_of_return": "D16", "cj.statement": "D17",
        "cj.filmed_interview": "D17", "intelligence.case_summary": "D23",
    }
    assert {name: FIELDS[name]["class"] for name in named} == named
    assert {FIELDS[f]["class"] for f in FIELDS if f.startswith("health.")} == {"D6", "D7", "D8"}
    assert {FIELDS[f]["class"] for f in FIELDS if f.startswith("family.")} == {"D13"}


@pytest.mark.rule("L9", "T1")
def test_risk_summary_fields_are_d12_and_never_narrative_health_or_location() -> None:
    summary = {name for name, spec in FIELDS.items() if spec["risk_summary"]}
    assert {"risk.level", "risk.known_risks", "risk.safety_actions", "risk.next_review"} <= summary
    assert all(FIELDS[name]["class"] == "D12" for name in summary)
    assert not FIELDS["risk.full_assessment"]["risk_summary"]


def test_roles_and_purposes() -> None:
    required = {"iom", "unhcr", "police", "police_focal_point", "prosecutor", "court", "immigration",
                "competent_authority", "shelter", "ngo", "healthcare", "therapy", "legal_aid", "child_protection",
                "guardian_advocate_service", "independent_advocate", "embassy", "media", "rapporteur",
                "monitoring_body", "country_of_origin_authority", "missing_persons"}
    assert required <= set(KINDS)
    assert {"caseworker", "volunteer", "advocate", "guardian_advocate", "dpo"} <= set(USER_ROLES)
    assert {"nrm_referral", "protection_support", "criminal_justice", "data_sharing", "healthcare", "shelter",
            "return", "post_return_monitoring", "filming", "forensic"} <= set(PURPOSES)
    assert set(SCOPES) == {"full", "relevant_portion", "case_specific_no_personal_data"}


def test_profiles_reference_known_purposes_kinds_classes_and_fields() -> None:
    for purpose, by_kind in PROFILES.items():
        assert purpose in PURPOSES
        for kind, profile in by_kind.items():
            assert kind in KINDS, (purpose, kind)
            assert set(profile) == {"classes", "full_only", "field_limits"}
            assert set(profile["classes"]) <= set(CLASSES)
            assert set(profile["full_only"]) <= set(CLASSES)
            assert not set(profile["classes"]) & set(profile["full_only"])
            for cls, names in profile["field_limits"].items():
                assert all(FIELDS[n]["class"] == cls for n in names), (purpose, kind, cls)


@pytest.mark.rule("CR20")
def test_health_classes_appear_only_under_health_purposes_for_health_kinds() -> None:
    for purpose, by_kind in PROFILES.items():
        for kind, profile in by_kind.items():
            health = {"D6", "D7", "D8"} & set(profile["classes"] + profile["full_only"])
            if health:
                assert purpose in {"healthcare", "forensic"} and KINDS[kind]["health"], (purpose, kind)


@pytest.mark.rule("SEC13")
def test_immigration_profiles_stay_inside_the_firewall() -> None:
    allowed = set(FIREWALLS["immigration"]["classes"])
    for purpose, by_kind in PROFILES.items():
        if "immigration" in by_kind:
            assert purpose in FIREWALLS["immigration"]["purposes"]
            profile = by_kind["immigration"]
            assert set(profile["classes"] + profile["full_only"]) <= allowed


def test_media_and_police_focal_point_have_no_profile() -> None:
    for by_kind in PROFILES.values():
        assert "media" not in by_kind
        assert "police_focal_point" not in by_kind


@pytest.mark.rule("L3")
def test_exceptions_are_l1_to_l15_with_scoped_coverage() -> None:
    expected = {f"L{n}" for n in range(1, 16)} | {"L4b", "L5b", "L5c", "L5d", "L7b", "L9b", "L10b"}
    assert set(EXCEPTIONS) == expected
    for basis, spec in EXCEPTIONS.items():
        assert set(spec["classes"]) <= set(CLASSES), basis
        assert set(spec["recipient_kinds"]) <= set(KINDS), basis
        assert set(spec["purposes"]) <= set(PURPOSES), basis
        assert all(FIELDS[f]["class"] in spec["classes"] for f in spec["fields"]), basis
        assert spec["claim"] in {"exception", "court_order", "automatic"}
        assert spec["second_approver"] == (spec["claim"] == "exception")
    l3 = EXCEPTIONS["L3"]
    assert (l3["fields"], l3["recipient_kinds"], l3["purposes"]) == (
        ["health.allergies", "health.medication"], ["healthcare"], ["healthcare"])
    assert EXCEPTIONS["L5c"]["recipient_kinds"] == ["child_protection", "missing_persons", "police"]
    assert EXCEPTIONS["L8"]["fields"] == ["therapy.record"]
    assert EXCEPTIONS["L9"]["classes"] == ["D12"]


# Object keys in the policy that are not reason codes: the input's and the decision's keys, the
# findings' and the index's. Reason codes are written `contains "code" if`, `{"code" | ...}`
# or as keys of reason maps (`"code": <fields or classes>`); a key that is neither listed
# here nor documented fails the test below, so a misspelt code cannot slip through.
STRUCTURAL_KEYS = {
    "agency_id", "all", "allow", "basis", "basis_available", "by_consent", "claimed_basis", "class_diagnostics",
    "classes", "consent", "consent_ids", "consents", "core", "country_of_origin", "court_order_fields",
    "cross_border", "denied_fields", "diagnostics", "domestic_names", "exception", "expires_at", "explanation",
    "explanations", "extended", "field", "field_class", "global", "granted_fields", "hard_class_denials",
    "hard_denials", "health", "include_risk_summary", "jurisdiction", "known_fields", "non_identifying",
    "notify_person", "now", "obligations", "outside_limits", "overall_reasons", "permitted", "permitted_fields",
    "person_preview_required", "placement_agency_id", "policy_version", "purpose", "reach", "reason", "reasons",
    "recipient_agency_id", "recipient_jurisdiction", "recipient_kind", "recipient_represents_state",
    "recipient_user_role", "requested_classes",
    "requested_fields", "requester_jurisdiction", "requester_kind", "requester_user_id", "requester_user_role",
    "scopes", "second_approver_required", "subject_id", "therapy", "tier", "unknown_fields", "valid",
    # criminal_justice.rego: the police tier options (CR36)
    "formal_report_and_witness", "anonymous_intelligence_only", "none",
}


def _rego_code(source: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in source.splitlines())


def _rego_reason_codes() -> set[str]:
    codes: set[str] = set()
    for path in (REPO / "policies" / "gateway").glob("*.rego"):
        if path.name.endswith("_test.rego"):
            continue
        source = _rego_code(path.read_text(encoding="utf-8"))
        codes.update(re.findall(r'contains "([a-z_]+)" if', source))
        codes.update(re.findall(r'\{"([a-z_]+)" \|', source))
        codes.update(set(re.findall(r'"([a-z][a-z_0-9]*)": ', source)) - STRUCTURAL_KEYS)
    return codes


def test_every_reason_code_the_policy_emits_is_documented_and_every_documented_one_is_used() -> None:
    emitted = _rego_reason_codes() | {"no_fields_requested", "no_permitted_fields"}
    assert emitted <= set(REASONS)
    adapter = {code for code, spec in REASONS.items() if spec["scope"] == "engine"}
    assert set(REASONS) - emitted - adapter == {"not_permitted"}
    assert len({spec["priority"] for spec in REASONS.values()}) == len(REASONS)
    for code, spec in REASONS.items():
        assert re.match(r"^[a-z][a-z_]*$", code)
        assert spec["text"].endswith(".") and spec["explain"]


def _check_schema(schema: dict[str, Any], value: Any, path: str = "$") -> None:
    """A small validator for the subset of JSON Schema that input.schema.json uses."""
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        python = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
        assert any(isinstance(value, python[t]) for t in allowed), f"{path}: {type(value).__name__} not {allowed}"
    if "enum" in schema:
        assert value in schema["enum"], path
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing {key}"
        for key, item in value.items():
            if key in schema.get("properties", {}):
                _check_schema(schema["properties"][key], item, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                raise AssertionError(f"{path}: unexpected {key}")
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            _check_schema(schema["items"], item, f"{path}[{n}]")
    for option in schema.get("anyOf", []):
        try:
            _check_schema(option, value, path)
            break
        except AssertionError:
            continue
    else:
        if "anyOf" in schema:
            raise AssertionError(f"{path}: matches no alternative")


def test_the_input_schema_describes_the_inputs_the_tests_use() -> None:
    from tests.policy import inputs as i

    schema = json.loads((REPO / "policies" / "input.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("https://json-schema.org/")
    for doc in (
        i.ngo_referral(),
        i.police_request([i.cj_consent("c", ["a-police"], "anonymous_intelligence_only", ["D23"])]),
        i.request("healthcare", i.recipient("a-er", "healthcare"), ["health.allergies"], [],
                  exception=i.grant("L3", "unconscious_emergency", "a-er", ["D6"]), court_order={"reference": "x"}),
    ):
        _check_schema(schema, doc)
    with pytest.raises(AssertionError):
        _check_schema(schema, {**i.ngo_referral(), "fields": "subject.language"})
