package gateway.health_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

clinic := fx.recipient("a-clinic", "healthcare")

health_fields := ["health.allergies", "health.mental_health", "health.sexual_health", "subject.birthdate", "risk.level"]

# rules: CR20
test_allow_health_data_to_healthcare_under_healthcare_consent if {
	d := decide(fx.request("healthcare", clinic, health_fields, [fx.consent("c-h", "healthcare", ["a-clinic"], "relevant_portion", ["D1", "D6", "D7", "D8"])]))
	d.allow == true
	d.permitted_fields == ["health.allergies", "health.mental_health", "risk.level", "subject.birthdate"]
	# sexual health is in the extended healthcare profile only.
	reason_of(d, "health.sexual_health") == "not_in_profile"
}

# rules: CR20
test_deny_health_data_to_healthcare_under_another_purpose if {
	d := decide(fx.request("protection_support", clinic, health_fields, [fx.consent("c-h", "protection_support", ["a-clinic"], "full", ["D1", "D6", "D7", "D8"])]))
	reason_of(d, "health.allergies") == "health_requires_healthcare_consent"
	reason_of(d, "health.mental_health") == "health_requires_healthcare_consent"
}

# rules: CR20
test_deny_health_data_to_a_non_health_recipient if {
	d := decide(object.union(fx.ngo_referral, {"fields": ["health.allergies"]}))
	reason_of(d, "health.allergies") == "health_requires_healthcare_consent"
}

therapy_request(kind, consents, court_order) := object.union(
	fx.request("criminal_justice", fx.recipient("a-pros", kind), ["therapy.record", "therapy.session_content"], consents),
	{"court_order": court_order},
)

# rules: CR23 S24
test_deny_therapy_record_to_prosecutor_without_consent_or_order if {
	d := decide(therapy_request("prosecutor", [], null))
	d.allow == false
	reason_of(d, "therapy.record") == "therapy_requires_consent_or_court_order"
	reason_of(d, "therapy.session_content") == "therapy_content_confined"
}

# rules: CR23 L8 S24
test_court_order_releases_the_minimal_therapy_record_only if {
	d := decide(therapy_request("prosecutor", [], {"reference": "court-2026-17"}))
	d.allow == true
	d.permitted_fields == ["therapy.record"]
	reason_of(d, "therapy.session_content") == "therapy_content_confined"
	d.basis == {"consent_ids": [], "exception": "L8"}
	d.obligations.notify_person == true
	d.obligations.second_approver_required == true
	"L8.court_order" in d.explanation
}

# rules: CR23 L8
test_court_order_without_reference_is_refused if {
	d := decide(therapy_request("prosecutor", [], {"reference": "  "}))
	d.allow == false
	"court_order_invalid" in d.reasons
}

# Defence in depth: a court order reaches the fields the catalogue marks court-disclosable and
# L8 names, nothing else of D9, even a D9 field added later without the therapy_confined flag.
# rules: L8 CR23
test_a_court_order_reaches_only_the_minimal_therapy_record_even_for_new_d9_fields if {
	notes := object.union(data.gateway_data.fields.fields["therapy.record"], {"court_disclosable": false})
	fields := object.union(data.gateway_data.fields.fields, {"therapy.notes": notes})
	req := object.union(therapy_request("prosecutor", [], {"reference": "court-2026-17"}), {"fields": ["therapy.notes", "therapy.record"]})
	d := decide(req) with data.gateway_data.fields.fields as fields
	d.allow == true
	d.permitted_fields == ["therapy.record"]
}

# rules: L8
test_court_order_never_opens_the_therapy_record_to_the_police if {
	d := decide(therapy_request("police", [], {"reference": "court-2026-17"}))
	d.allow == false
}

# rules: CR23
test_consent_releases_the_therapy_record_to_the_prosecutor if {
	c := fx.cj_consent("c-cj", ["a-pros"], "formal_report_and_witness", ["D9"])
	d := decide(therapy_request("prosecutor", [c], null))
	d.permitted_fields == ["therapy.record"]
	d.basis.consent_ids == ["c-cj"]
}

# Defence in depth: only the therapy, court and prosecutor profiles list D9 today; a profile
# that wrongly listed it for the police would still not open the therapy record to them.
# rules: CR23
test_the_therapy_record_stays_closed_even_if_a_profile_lists_it if {
	c := fx.cj_consent("c-cj", ["a-pros"], "formal_report_and_witness", ["D1", "D9"])
	req := object.union(therapy_request("police", [c], null), {"fields": ["subject.first_name", "therapy.record"]})
	profile := data.gateway_index.profiles.criminal_justice.police
	widened := object.union(profile, {
		"core": object.union(profile.core, {"D9": true}),
		"extended": object.union(profile.extended, {"D9": true}),
	})
	d := decide(req) with data.gateway_index.profiles.criminal_justice.police as widened
	d.allow == true
	d.permitted_fields == ["subject.first_name"]
	reason_of(d, "therapy.record") == "therapy_requires_consent_or_court_order"
}

forensic_request(consents) := fx.request("criminal_justice", fx.recipient("a-pros", "prosecutor"), ["medico_legal.forensic_findings", "medico_legal.report"], consents)

# rules: CR22
test_deny_forensic_findings_without_a_forensic_consent if {
	d := decide(forensic_request([fx.cj_consent("c-cj", ["a-pros"], "formal_report_and_witness", ["D10"])]))
	d.permitted_fields == ["medico_legal.report"]
	reason_of(d, "medico_legal.forensic_findings") == "forensic_requires_consent"
}

# rules: CR22
test_allow_forensic_findings_with_a_forensic_consent if {
	d := decide(forensic_request([
		fx.cj_consent("c-cj", ["a-pros"], "formal_report_and_witness", ["D10"]),
		fx.consent("c-f", "forensic", ["kind:healthcare"], "full", ["D6", "D7"]),
	]))
	d.permitted_fields == ["medico_legal.forensic_findings", "medico_legal.report"]
}
