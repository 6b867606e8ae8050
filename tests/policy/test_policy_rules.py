"""One Python test (or more) per implemented rule, on the embedded engine and on real OPA.

Each test names its rule ids with ``@pytest.mark.rule``; ``gateway rules`` checks that every
implemented id has one. Deleting the policy rule that implements an id makes its test fail
(tests/policy/test_mutations.py switches each rule off in turn and checks that it does).
"""

from __future__ import annotations

import copy
import dataclasses

import pytest

from gateway.policy import PolicyBundle, PolicyEngine, decide
from gateway.policy._regorus import EmbeddedPolicyEngine
from gateway.policy.index import derive_index
from tests.policy import inputs as i


@pytest.mark.rule("CR1")
def test_cr1_no_consent_no_exception_is_denied(engine: PolicyEngine) -> None:
    decision = decide(engine, i.ngo_referral(consents=[]))
    assert not decision.allow
    assert "no_consent" in decision.reasons
    assert i.reason_of(decision, "subject.preferred_name") == "no_consent"


@pytest.mark.rule("CR1")
def test_cr1_a_class_the_consent_does_not_list_is_denied(engine: PolicyEngine) -> None:
    request = i.ngo_referral(consents=[i.consent("c-1", "protection_support", ["a-ngo"], ["D5"])])
    decision = decide(engine, request)
    assert decision.allow
    assert i.reason_of(decision, "subject.preferred_name") == "class_not_consented"
    assert "subject.language" in decision.permitted_fields


@pytest.mark.rule("CR1")
def test_cr1_expired_and_foreign_consents_never_count(engine: PolicyEngine) -> None:
    good = i.consent("c-1", "protection_support", ["a-ngo"], ["D1", "D5"])
    for bad in ({**good, "expires_at": i.EARLIER}, {**good, "subject_id": "s-2"}, {**good, "scope": "all"}):
        assert not decide(engine, i.ngo_referral(consents=[bad])).allow
    assert decide(engine, i.ngo_referral(consents=[good])).allow


@pytest.mark.rule("CR2")
def test_cr2_consent_to_one_purpose_never_implies_another(engine: PolicyEngine) -> None:
    for other in ("nrm_referral", "data_sharing", "criminal_justice", "healthcare"):
        consent = i.consent("c-1", other, ["a-ngo"], ["D1", "D5", "D12"], scope="full")
        decision = decide(engine, i.ngo_referral(consents=[consent]))
        assert not decision.allow
        assert "purpose_not_consented" in decision.reasons


@pytest.mark.rule("CR6")
def test_cr6_case_specific_scope_strips_identifying_classes(engine: PolicyEngine) -> None:
    consent = i.consent("c-1", "data_sharing", ["a-ngo"], ["D1", "D5"], scope="case_specific_no_personal_data")
    request = i.ngo_referral(purpose="data_sharing", consents=[consent], fields=["subject.preferred_name"])
    decision = decide(engine, request)
    assert not decision.allow
    assert i.reason_of(decision, "subject.preferred_name") == "scope_excludes_identifying"


@pytest.mark.rule("CR6", "CR18")
def test_cr6_full_scope_reaches_the_extended_profile_relevant_portion_does_not(engine: PolicyEngine) -> None:
    relevant = decide(engine, i.ngo_referral())
    assert i.reason_of(relevant, "history.trafficking_account") == "not_in_profile"
    full = i.consent("c-ngo", "protection_support", ["a-ngo"], ["D1", "D5", "D11"], scope="full")
    assert "history.trafficking_account" in decide(engine, i.ngo_referral(consents=[full])).permitted_fields


@pytest.mark.rule("CR14")
def test_cr14_a_withdrawn_consent_never_counts(engine: PolicyEngine) -> None:
    consent = i.consent("c-1", "protection_support", ["a-ngo"], ["D1", "D5"], withdrawn_at="2026-11-24T09:00:00Z")
    assert not decide(engine, i.ngo_referral(consents=[consent])).allow


@pytest.mark.rule("CR18")
def test_cr18_referral_is_limited_to_the_profile(engine: PolicyEngine) -> None:
    full = i.consent("c-ngo", "protection_support", ["a-ngo"], ["D1", "D5", "D6", "D15"], scope="full")
    request = i.ngo_referral(
        consents=[full],
        fields=["subject.preferred_name", "subject.birthdate", "immigration.status", "subject.language"],
    )
    decision = decide(engine, request)
    assert decision.permitted_fields == ("subject.language", "subject.preferred_name")
    assert i.reason_of(decision, "subject.birthdate") == "not_in_profile"
    assert i.reason_of(decision, "immigration.status") == "not_in_profile"
    assert "CR18.profile" in decision.explanation


@pytest.mark.rule("CR18", "CR19")
def test_cr18_referral_must_be_previewed(engine: PolicyEngine) -> None:
    decision = decide(engine, i.ngo_referral())
    assert decision.obligations.person_preview_required
    sharing = i.consent("c-1", "data_sharing", ["a-ngo"], ["D1", "D5"], scope="full")
    not_a_referral = decide(engine, i.ngo_referral(purpose="data_sharing", consents=[sharing]))
    assert not_a_referral.allow
    assert not not_a_referral.obligations.person_preview_required


@pytest.mark.rule("CR20")
def test_cr20_health_data_only_to_health_services_under_healthcare_consent(engine: PolicyEngine) -> None:
    clinic = i.recipient("a-clinic", "healthcare")
    fields = ["health.allergies", "health.mental_health"]
    healthcare = i.consent("c-h", "healthcare", ["a-clinic"], ["D6", "D8"])
    assert decide(engine, i.request("healthcare", clinic, fields, [healthcare])).permitted_fields == tuple(fields)
    support = i.consent("c-s", "protection_support", ["a-clinic"], ["D6", "D8"], scope="full")
    decision = decide(engine, i.request("protection_support", clinic, fields, [support]))
    assert not decision.allow
    assert {d.reason for d in decision.denied_fields} == {"health_requires_healthcare_consent"}


@pytest.mark.rule("CR21")
def test_cr21_film_only_for_criminal_justice_and_only_with_filming_consent(engine: PolicyEngine) -> None:
    cj = i.cj_consent("c-cj", ["a-police"], "formal_report_and_witness", ["D17"])
    film = i.consent("c-film", "filming", ["kind:police"], ["D17"], scope="full")
    without_film = decide(engine, i.police_request([cj], ["cj.filmed_interview"]))
    assert i.reason_of(without_film, "cj.filmed_interview") == "film_requires_filming_consent"
    assert decide(engine, i.police_request([cj, film], ["cj.filmed_interview"])).allow
    other = i.request("filming", i.recipient("a-police", "police"), ["cj.filmed_interview"],
                      [{**film, "recipients": ["a-police"]}])
    assert i.reason_of(decide(engine, other), "cj.filmed_interview") == "film_criminal_justice_only"


@pytest.mark.rule("CR22")
def test_cr22_forensic_findings_need_a_forensic_consent(engine: PolicyEngine) -> None:
    cj = i.cj_consent("c-cj", ["a-pros"], "formal_report_and_witness", ["D10"])
    request = i.request("criminal_justice", i.recipient("a-pros", "prosecutor"),
                        ["medico_legal.forensic_findings", "medico_legal.report"], [cj])
    decision = decide(engine, request)
    assert decision.permitted_fields == ("medico_legal.report",)
    assert i.reason_of(decision, "medico_legal.forensic_findings") == "forensic_requires_consent"
    forensic = i.consent("c-f", "forensic", ["kind:healthcare"], ["D6", "D7"], scope="full")
    assert decide(engine, {**request, "consents": [cj, forensic]}).permitted_fields == (
        "medico_legal.forensic_findings",
        "medico_legal.report",
    )


@pytest.mark.rule("CR23", "L8")
def test_cr23_therapy_record_needs_consent_or_a_court_order(engine: PolicyEngine) -> None:
    request = i.request("criminal_justice", i.recipient("a-court", "court"), ["therapy.record"], [])
    assert not decide(engine, request).allow
    assert not decide(engine, {**request, "court_order": {"reference": " "}}).allow
    assert decide(engine, {**request, "court_order": {"reference": "CO-1"}}).permitted_fields == ("therapy.record",)
    consent = i.cj_consent("c-cj", ["a-court"], "formal_report_and_witness", ["D9"])
    assert decide(engine, {**request, "consents": [consent]}).permitted_fields == ("therapy.record",)
    police = i.request("criminal_justice", i.recipient("a-police", "police"), ["therapy.record"], [],
                       court_order={"reference": "CO-1"})
    assert not decide(engine, police).allow


@pytest.mark.rule("CR23")
def test_cr23_the_therapy_record_stays_closed_even_if_a_profile_lists_it(bundle: PolicyBundle) -> None:
    """Defence in depth: only the therapy, court and prosecutor profiles list D9 today; a profile
    that wrongly listed it for the police would still not open the therapy record to them."""
    documents = copy.deepcopy(dict(bundle.documents))
    police = documents["profiles"]["profiles"]["criminal_justice"]["police"]
    police["classes"] = [*police["classes"], "D9"]
    engine = EmbeddedPolicyEngine(dataclasses.replace(bundle, documents=documents, index=derive_index(documents)))
    consent = i.cj_consent("c-cj", ["a-police"], "formal_report_and_witness", ["D1", "D9"])
    try:
        decision = decide(engine, i.request("criminal_justice", i.recipient("a-police", "police"),
                                            ["subject.first_name", "therapy.record"], [consent]))
    finally:
        engine.close()
    assert decision.permitted_fields == ("subject.first_name",)
    assert i.reason_of(decision, "therapy.record") == "therapy_requires_consent_or_court_order"


@pytest.mark.rule("L8", "CR23")
def test_l8_a_court_order_reaches_only_the_minimal_therapy_record_even_for_new_d9_fields(
    bundle: PolicyBundle,
) -> None:
    """Defence in depth: only fields marked court-disclosable and named by L8, even if a D9 field
    were added to the catalogue later without the therapy_confined flag."""
    documents = copy.deepcopy(dict(bundle.documents))
    catalogue = documents["fields"]["fields"]
    catalogue["therapy.notes"] = {**catalogue["therapy.record"], "court_disclosable": False}
    engine = EmbeddedPolicyEngine(dataclasses.replace(bundle, documents=documents, index=derive_index(documents)))
    request = i.request("criminal_justice", i.recipient("a-court", "court"), ["therapy.notes", "therapy.record"], [],
                        court_order={"reference": "CO-1"})
    try:
        decision = decide(engine, request)
    finally:
        engine.close()
    assert decision.permitted_fields == ("therapy.record",)
    assert "therapy.notes" in {d.field for d in decision.denied_fields}


@pytest.mark.rule("CR24")
def test_cr24_country_of_origin_only_for_return_purposes(engine: PolicyEngine) -> None:
    coo = i.recipient("a-coo", "country_of_origin_authority", jurisdiction="XX")
    for purpose in ("protection_support", "data_sharing", "nrm_referral"):
        consent = i.consent("c-1", purpose, ["a-coo"], ["D1"], scope="full", countries=["XX"])
        decision = decide(engine, i.request(purpose, coo, ["subject.first_name"], [consent]))
        assert "country_of_origin_requires_return_consent" in decision.reasons
    consent = i.consent("c-1", "post_return_monitoring", ["a-coo"], ["D1", "D20"], countries=["XX"])
    monitoring = decide(engine, i.request("post_return_monitoring", coo, ["status.nrm_status"], [consent]))
    assert monitoring.allow


@pytest.mark.rule("CR25")
def test_cr25_cross_border_recipient_named_with_country(engine: PolicyEngine) -> None:
    abroad = i.recipient("a-ngo-be", "ngo", jurisdiction="BE")
    fields = ["subject.preferred_name"]
    by_kind = i.consent("c-1", "protection_support", ["kind:ngo"], ["D1"], countries=["BE"])
    by_agency = i.consent("c-1", "protection_support", ["a-ngo-be"], ["D1"])
    complete = {**by_agency, "countries": ["BE"]}
    for consent in (by_kind, by_agency):
        decision = decide(engine, i.request("protection_support", abroad, fields, [consent]))
        assert "cross_border_consent_must_name_recipient" in decision.reasons
    assert decide(engine, i.request("protection_support", abroad, fields, [complete])).allow


@pytest.mark.rule("CR26", "SEC4")
def test_cr26_shelter_location_only_to_the_placement_provider(engine: PolicyEngine) -> None:
    consent = i.consent("c-sh", "shelter", ["kind:shelter"], ["D1", "D4"])
    fields = ["location.shelter_address", "subject.preferred_name"]
    placed = decide(engine, i.request("shelter", i.recipient("a-shelter", "shelter"), fields, [consent]))
    assert placed.permitted_fields == tuple(sorted(fields))
    other = decide(engine, i.request("shelter", i.recipient("a-shelter-2", "shelter"), fields, [consent]))
    assert other.permitted_fields == ("subject.preferred_name",)
    assert i.reason_of(other, "location.shelter_address") == "shelter_location_accommodation_only"
    no_consent = decide(engine, i.request("shelter", i.recipient("a-shelter", "shelter"), fields, []))
    assert not no_consent.allow


@pytest.mark.rule("CR29")
def test_cr29_nrm_referral_needs_its_own_consent(engine: PolicyEngine) -> None:
    authority = i.recipient("a-ca", "competent_authority")
    fields = ["subject.first_name", "history.trafficking_account"]
    support = i.consent("c-s", "protection_support", ["a-ca"], ["D1", "D11"], scope="full")
    assert not decide(engine, i.request("nrm_referral", authority, fields, [support])).allow
    nrm = i.consent("c-n", "nrm_referral", ["a-ca"], ["D1", "D11"])
    assert decide(engine, i.request("nrm_referral", authority, fields, [nrm])).permitted_fields == tuple(sorted(fields))


@pytest.mark.rule("CR30")
def test_cr30_iom_unhcr_need_a_consent_naming_the_other_agency(engine: PolicyEngine) -> None:
    fields = ["subject.first_name", "history.trafficking_account"]
    unhcr = i.recipient("a-unhcr", "unhcr")
    by_kind = i.consent("c-1", "nrm_referral", ["kind:unhcr"], ["D1", "D11"])
    decision = decide(engine, i.request("nrm_referral", unhcr, fields, [by_kind]))
    assert "iom_unhcr_consent_must_name_agency" in decision.reasons
    named = {**by_kind, "recipients": ["a-unhcr"]}
    assert decide(engine, i.request("nrm_referral", unhcr, fields, [named])).allow
    back = i.request("nrm_referral", i.recipient("a-iom", "iom"), fields,
                     [{**by_kind, "recipients": ["kind:iom"]}], requester=i.requester("unhcr", "a-unhcr"))
    assert "iom_unhcr_consent_must_name_agency" in decide(engine, back).reasons


@pytest.mark.rule("CR33")
def test_cr33_every_request_is_decided_on_the_consents_it_carries(engine: PolicyEngine) -> None:
    request = i.ngo_referral()
    first = decide(engine, request)
    second = decide(engine, {**request, "consents": []})
    third = decide(engine, request)
    assert first.allow and not second.allow and third.allow
    assert first == third


@pytest.mark.rule("CR36")
def test_cr36_three_criminal_justice_options(engine: PolicyEngine) -> None:
    classes = ["D1", "D3", "D11", "D17", "D23"]
    permitted = {
        option: decide(engine, i.police_request([i.cj_consent("c", ["a-police"], option, classes)])).permitted_fields
        for option in ("formal_report_and_witness", "anonymous_intelligence_only", "none", None)
    }
    assert permitted["formal_report_and_witness"] == (
        "cj.statement",
        "contact.phone",
        "history.trafficking_account",
        "intelligence.case_summary",
        "subject.birthdate",
        "subject.first_name",
    )
    assert permitted["anonymous_intelligence_only"] == ("intelligence.case_summary",)
    assert permitted["none"] == ()
    assert permitted[None] == ()


def _emergency(grant: dict[str, object], fields: list[str]) -> dict[str, object]:
    return i.request("healthcare", i.recipient("a-er", "healthcare"), fields, [], exception=grant)


@pytest.mark.rule("L3", "SEC6")
def test_l3_only_allergies_and_medication_to_the_emergency_service(engine: PolicyEngine) -> None:
    grant = i.grant("L3", "unconscious_emergency", "a-er", ["D1", "D6", "D8"])
    fields = ["health.allergies", "health.medication", "health.conditions", "health.mental_health",
              "subject.first_name"]
    decision = decide(engine, _emergency(grant, fields))
    assert decision.allow
    assert decision.permitted_fields == ("health.allergies", "health.medication")
    assert decision.basis.exception == "L3"
    assert decision.obligations.second_approver_required
    assert decision.obligations.notify_person
    for problem, reason in (
        ({"second_approver_id": "u-1"}, "exception_second_approver_missing"),
        ({"approved": False}, "exception_not_approved"),
        ({"expires_at": i.EARLIER}, "exception_expired"),
        ({"expires_at": i.LATER}, "exception_expired"),
        ({"recipient_agency_id": "a-other"}, "exception_recipient_mismatch"),
    ):
        refused = decide(engine, _emergency({**grant, **problem}, fields))
        assert not refused.allow
        assert reason in refused.reasons


@pytest.mark.rule("L1")
def test_l1_a_grant_never_reaches_beyond_the_classes_of_its_basis(engine: PolicyEngine) -> None:
    # L1 names no fields, so its classes (identity and risk) alone bound what a grant releases.
    grant = i.grant("L1", "imminent_harm", "a-er", ["D1", "D5", "D12"])
    decision = decide(engine, _emergency(grant, ["risk.level", "subject.first_name", "subject.language"]))
    assert decision.allow and decision.basis.exception == "L1"
    assert decision.permitted_fields == ("risk.level", "subject.first_name")
    assert i.reason_of(decision, "subject.language") == "exception_scope"


@pytest.mark.rule("L4", "L4b")
def test_l4_and_l4b_minimal_risk_notification(engine: PolicyEngine) -> None:
    fields = ["health.suicide_risk", "subject.first_name", "health.mental_health", "contact.phone"]
    for basis in ("L4", "L4b"):
        policy = {**i.EXCEPTION_POLICY, "L4b": ["imminent_intent"]}
        scenario = "suicide_risk_disclosed" if basis == "L4" else "imminent_intent"
        grant = i.grant(basis, scenario, "a-er", ["D1", "D3", "D8"], expires_at="2026-11-24T11:00:00Z")
        request = {**_emergency(grant, fields), "requester": i.requester(exception_policy=policy)}
        decision = decide(engine, request)
        assert decision.permitted_fields == ("health.suicide_risk", "subject.first_name")
        assert i.reason_of(decision, "contact.phone") == "exception_scope"


@pytest.mark.rule("L6", "CH11")
def test_l6_family_tracing_is_for_children_only_and_names_fields(engine: PolicyEngine) -> None:
    tracing = i.grant("L6", "family_tracing_appeal", "a-trace", ["D1", "D13"], fields=["subject.first_name"])
    request = i.request("data_sharing", i.recipient("a-trace", "ngo"), ["subject.first_name", "family.children"],
                        [], exception=tracing, subject=i.subject(is_child=True))
    decision = decide(engine, request)
    assert decision.permitted_fields == ("subject.first_name",)
    adult = decide(engine, {**request, "subject": i.subject()})
    assert "exception_requires_child" in adult.reasons


@pytest.mark.rule("L9", "L9b", "T1")
def test_l9_risk_summary_travels_with_a_referral_without_narrative(engine: PolicyEngine) -> None:
    fields = ["risk.level", "risk.known_risks", "risk.safety_actions", "risk.next_review", "envelope.urgency",
              "risk.full_assessment", "history.trafficking_account", "health.mental_health"]
    decision = decide(engine, i.ngo_referral(fields=fields))
    assert decision.obligations.include_risk_summary
    assert decision.permitted_fields == (
        "envelope.urgency", "risk.known_risks", "risk.level", "risk.next_review", "risk.safety_actions",
    )
    assert i.reason_of(decision, "risk.full_assessment") == "risk_summary_narrative_excluded"
    police = decide(engine, i.police_request(
        [i.cj_consent("c", ["a-police"], "formal_report_and_witness", ["D1"])], ["risk.level", "subject.first_name"]))
    assert not police.obligations.include_risk_summary
    assert "risk.level" not in police.permitted_fields


@pytest.mark.rule("CH1", "CH1b", "CH11")
def test_ch1_disputed_age_is_a_child_for_media(engine: PolicyEngine) -> None:
    media = i.recipient("a-news", "media")
    consent = i.consent("c-1", "data_sharing", ["a-news"], ["D1", "D24"], scope="full")
    request = i.request("data_sharing", media, ["subject.first_name"], [consent],
                        subject=i.subject(age_disputed=True))
    decision = decide(engine, request)
    assert i.reason_of(decision, "subject.first_name") == "child_identity_public"


@pytest.mark.rule("SEC2")
def test_sec2_unverified_recipients_get_nothing(engine: PolicyEngine) -> None:
    decision = decide(engine, i.ngo_referral(recipient=i.recipient("a-ngo", "ngo", key_verified=False)))
    assert decision.reasons == ("recipient_unverified",)


@pytest.mark.rule("SEC6")
def test_sec6_s4_class_release_needs_a_second_approver(engine: PolicyEngine) -> None:
    full = i.consent("c-ngo", "protection_support", ["a-ngo"], ["D1", "D5", "D11"], scope="full")
    assert decide(engine, i.ngo_referral(consents=[full])).obligations.second_approver_required
    assert not decide(engine, i.ngo_referral()).obligations.second_approver_required


@pytest.mark.rule("SEC8")
def test_sec8_volunteer_on_either_side_sees_no_s3_or_s4(engine: PolicyEngine) -> None:
    for request in (
        i.ngo_referral(requester=i.requester(user_role="volunteer")),
        i.ngo_referral(recipient=i.recipient("a-ngo", "ngo", user_role="volunteer")),
    ):
        decision = decide(engine, request)
        assert decision.permitted_fields == ("subject.language",)


@pytest.mark.rule("SEC13")
def test_sec13_immigration_firewall(engine: PolicyEngine) -> None:
    consent = i.consent("c-1", "residence_permit", ["a-imm"], ["D1", "D12", "D15"], scope="full")
    decision = decide(engine, i.request("residence_permit", i.recipient("a-imm", "immigration"),
                                        ["risk.level", "immigration.status"], [consent]))
    assert decision.permitted_fields == ("immigration.status",)
    assert i.reason_of(decision, "risk.level") == "immigration_firewall"
    police = decide(engine, i.police_request(
        [i.cj_consent("c", ["a-police"], "formal_report_and_witness", ["D15"])], ["immigration.status"]))
    assert i.reason_of(police, "immigration.status") == "immigration_firewall"


@pytest.mark.rule("SEC14")
def test_sec14_no_country_of_origin_contact_after_an_asylum_claim(engine: PolicyEngine) -> None:
    embassy = i.recipient("a-emb", "embassy", jurisdiction="XX")
    consent = i.consent("c-r", "return", ["a-emb"], ["D1", "D2"], countries=["XX"])
    request = i.request("return", embassy, ["subject.first_name", "documents.travel_document"], [consent])
    assert decide(engine, request).allow
    for flag in ("asylum_claimed", "possible_refugee"):
        blocked = decide(engine, {**request, "subject": i.subject(**{flag: True})})
        assert not blocked.allow
        assert "country_of_origin_asylum_block" in blocked.reasons
