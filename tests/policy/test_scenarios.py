"""Digest scenarios (section 9), policy side, on the embedded engine and on real OPA over REST.

S06-S09 validate consent capture (interpreter, bundling, mandated-reporter notice): they have
no policy side and belong to the consent module's tests.
"""

from __future__ import annotations

import pytest

from gateway.policy import PolicyEngine, decide
from tests.policy import inputs as i


@pytest.mark.rule("S01", "CR1", "CR2")
def test_s01_police_with_only_an_nrm_consent_get_no_consent(engine: PolicyEngine) -> None:
    doc = i.police_request([i.consent("c-nrm", "nrm_referral", ["kind:competent_authority"], ["D1", "D11"])])
    decision = decide(engine, doc)
    assert not decision.allow
    assert "no_consent" in decision.reasons
    assert decision.permitted_fields == ()
    assert {d.field for d in decision.denied_fields} == set(doc["fields"])


@pytest.mark.rule("S02", "CR6", "CR36")
def test_s02_anonymous_intelligence_gives_police_no_personal_data(engine: PolicyEngine) -> None:
    consent = i.cj_consent("c-cj", ["a-police"], "anonymous_intelligence_only", ["D1", "D2", "D3", "D13", "D23"])
    decision = decide(engine, i.police_request([consent]))
    assert decision.allow
    assert decision.permitted_fields == ("intelligence.case_summary",)
    for personal in ("subject.first_name", "subject.birthdate", "contact.phone", "location.shelter_address",
                     "family.children", "documents.passport_number"):
        assert personal not in decision.permitted_fields


@pytest.mark.rule("S04", "CR14", "CR33")
def test_s04_next_request_after_withdrawal_is_denied(engine: PolicyEngine) -> None:
    consent = i.consent("c-x", "data_sharing", ["a-ngo"], ["D1", "D5"], scope="full")
    request = i.ngo_referral(purpose="data_sharing", consents=[consent], fields=["subject.preferred_name"])
    assert decide(engine, request).allow
    # the gateway no longer passes the withdrawn consent ...
    gone = decide(engine, {**request, "consents": []})
    assert not gone.allow
    assert "no_consent" in gone.reasons
    # ... and a withdrawal stamp one second earlier voids it even if it were passed.
    stamped = decide(engine, {**request, "consents": [{**consent, "withdrawn_at": "2026-11-24T09:59:59Z"}]})
    assert not stamped.allow


@pytest.mark.rule("S12", "SEC2")
def test_s12_unregistered_or_unverified_recipient_gets_nothing(engine: PolicyEngine) -> None:
    for flags in ({"registered": False}, {"key_verified": False}, {"registered": None}):
        request = i.ngo_referral(recipient=i.recipient("a-ngo", "ngo", **flags))
        decision = decide(engine, request)
        assert not decision.allow
        assert "recipient_unverified" in decision.reasons
        assert decision.permitted_fields == ()


@pytest.mark.rule("S18", "CH11", "L6")
def test_s18_child_identity_to_media_only_with_four_eyes_family_tracing(engine: PolicyEngine) -> None:
    request = i.request(
        "data_sharing",
        i.recipient("a-news", "media"),
        ["subject.first_name", "child.school_contact"],
        [],
        subject=i.subject(is_child=True),
    )
    denied = decide(engine, request)
    assert not denied.allow
    assert i.reason_of(denied, "subject.first_name") == "child_identity_public"
    tracing = i.grant("L6", "family_tracing_appeal", "a-news", ["D1"], fields=["subject.first_name"])
    allowed = decide(engine, {**request, "exception": tracing})
    assert allowed.allow
    assert allowed.permitted_fields == ("subject.first_name",)
    assert allowed.basis.exception == "L6"
    assert allowed.obligations.second_approver_required
    no_second = decide(engine, {**request, "exception": {**tracing, "second_approver_id": None}})
    assert not no_second.allow


@pytest.mark.rule("S21", "L4")
def test_s21_suicide_risk_reaches_the_doctor_as_a_minimal_notification(engine: PolicyEngine) -> None:
    request = i.request(
        "healthcare",
        i.recipient("a-gp", "healthcare"),
        ["health.suicide_risk", "subject.first_name", "health.mental_health", "history.trafficking_account"],
        [],
        exception=i.grant("L4", "suicide_risk_disclosed", "a-gp", ["D1", "D8", "D11"]),
    )
    decision = decide(engine, request)
    assert decision.allow
    assert decision.permitted_fields == ("health.suicide_risk", "subject.first_name")
    assert decision.basis.exception == "L4"
    assert decision.obligations.notify_person


RETURN_FIELDS = [
    "documents.travel_document",
    "health.conditions",
    "history.trafficking_account",
    "risk.known_risks",
    "status.nrm_status",
    "subject.birthdate",
    "subject.first_name",
    "subject.second_name",
]


def _coo() -> dict[str, object]:
    return i.recipient("a-coo", "country_of_origin_authority", jurisdiction="XX")


@pytest.mark.rule("S23", "CR24", "CR25")
def test_s23_return_needs_a_consent_naming_country_and_organisation(engine: PolicyEngine) -> None:
    without = decide(engine, i.request("return", _coo(), RETURN_FIELDS, []))
    assert not without.allow
    named_without_country = i.consent("c-r", "return", ["a-coo"], ["D1", "D2", "D20"])
    assert not decide(engine, i.request("return", _coo(), RETURN_FIELDS, [named_without_country])).allow
    good = {**named_without_country, "countries": ["XX"]}
    decision = decide(engine, i.request("return", _coo(), RETURN_FIELDS, [good]))
    assert decision.allow
    assert decision.permitted_fields == (
        "documents.travel_document",
        "status.nrm_status",
        "subject.birthdate",
        "subject.first_name",
        "subject.second_name",
    )


@pytest.mark.rule("S24", "CR23", "L8")
def test_s24_therapy_record_to_a_prosecutor(engine: PolicyEngine) -> None:
    request = i.request("criminal_justice", i.recipient("a-pros", "prosecutor"),
                        ["therapy.record", "therapy.session_content"], [])
    denied = decide(engine, request)
    assert not denied.allow
    assert i.reason_of(denied, "therapy.record") == "therapy_requires_consent_or_court_order"
    ordered = decide(engine, {**request, "court_order": {"reference": "court-2026-17"}})
    assert ordered.allow
    assert ordered.permitted_fields == ("therapy.record",)
    assert i.reason_of(ordered, "therapy.session_content") == "therapy_content_confined"
    assert ordered.basis.exception == "L8"
    assert ordered.obligations.notify_person


@pytest.mark.rule("S25", "CR21")
def test_s25_filmed_interview_denied_to_ngo_and_immigration(engine: PolicyEngine) -> None:
    film = i.consent("c-film", "filming", ["kind:police"], ["D17"], scope="full")
    for kind, purpose in (("ngo", "data_sharing"), ("immigration", "residence_permit")):
        consent = i.consent("c-1", purpose, [f"a-{kind}"], ["D17"], scope="full")
        request = i.request(purpose, i.recipient(f"a-{kind}", kind), ["cj.filmed_interview"], [consent, film])
        decision = decide(engine, request)
        assert not decision.allow
        assert i.reason_of(decision, "cj.filmed_interview") in {"film_criminal_justice_only", "immigration_firewall"}


@pytest.mark.rule("S26", "SEC13")
def test_s26_immigration_gets_permit_data_but_no_service_data(engine: PolicyEngine) -> None:
    immigration = i.recipient("a-imm", "immigration")
    service_fields = ["assistance.case_notes", "health.conditions", "history.summary"]
    service = i.consent("c-s", "protection_support", ["a-imm"], ["D6", "D11"], scope="full")
    denied = decide(engine, i.request("protection_support", immigration, service_fields, [service]))
    assert not denied.allow
    assert "immigration_firewall" in denied.reasons
    permit = i.consent("c-p", "residence_permit", ["a-imm"], ["D1", "D6", "D11", "D15", "D20"], scope="full")
    fields = ["immigration.residence_permit", "nrm.stage1_decision", "subject.first_name", *service_fields]
    allowed = decide(engine, i.request("residence_permit", immigration, fields, [permit]))
    assert allowed.allow
    assert allowed.permitted_fields == ("immigration.residence_permit", "nrm.stage1_decision", "subject.first_name")
    assert all(i.reason_of(allowed, f) == "immigration_firewall" for f in service_fields)


@pytest.mark.rule("S27", "SEC8")
def test_s27_volunteer_sees_scheduling_data_only(engine: PolicyEngine) -> None:
    request = i.ngo_referral(
        requester=i.requester("ngo", "a-ngo", user_role="volunteer"),
        fields=["subject.preferred_name", "risk.level", "subject.language", "assistance.appointment_time"],
        consents=[i.consent("c-ngo", "protection_support", ["a-ngo"], ["D1", "D5", "D22"])],
    )
    decision = decide(engine, request)
    assert decision.allow
    assert decision.permitted_fields == ("assistance.appointment_time", "subject.language")
    assert i.reason_of(decision, "subject.preferred_name") == "volunteer_sensitive_class"
    assert i.reason_of(decision, "risk.level") == "volunteer_sensitive_class"


@pytest.mark.rule("S33", "CR29", "CR17")
def test_s33_declined_nrm_still_allows_an_ngo_referral(engine: PolicyEngine) -> None:
    request = i.ngo_referral(
        requester=i.requester("independent_advocate", "a-adv"),
        subject=i.subject(declined_nrm=True),
    )
    assert decide(engine, request).allow
    nrm = i.request("nrm_referral", i.recipient("a-ca", "competent_authority"), ["subject.first_name"], [],
                    subject=i.subject(declined_nrm=True))
    assert not decide(engine, nrm).allow


@pytest.mark.rule("S34", "CR1")
def test_s34_new_lawyer_waits_until_a_consent_names_them(engine: PolicyEngine) -> None:
    old = i.consent("c-law", "protection_support", ["a-lawyer-1"], ["D1", "D15"], scope="full")
    request = i.request("protection_support", i.recipient("a-lawyer-2", "legal_aid"),
                        ["subject.first_name", "immigration.status"], [old])
    waiting = decide(engine, request)
    assert not waiting.allow
    assert "recipient_not_named" in waiting.reasons
    named = {**old, "id": "c-law-2", "recipients": ["a-lawyer-2"]}
    assert decide(engine, {**request, "consents": [old, named]}).allow


@pytest.mark.rule("S35", "L1")
def test_s35_exception_for_an_unpublished_scenario_is_denied(engine: PolicyEngine) -> None:
    request = i.request(
        "healthcare",
        i.recipient("a-er", "healthcare"),
        ["health.allergies"],
        [],
        exception=i.grant("L3", "staff_convenience", "a-er", ["D6"]),
    )
    decision = decide(engine, request)
    assert not decision.allow
    assert "exception_not_in_agency_policy" in decision.reasons
    published = decide(engine, {**request, "exception": i.grant("L3", "unconscious_emergency", "a-er", ["D6"])})
    assert published.allow
