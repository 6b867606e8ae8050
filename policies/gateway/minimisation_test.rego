package gateway.minimisation_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

with_scope(scope) := json.patch(fx.ngo_referral, [{"op": "replace", "path": "/consents/0/scope", "value": scope}])

# rules: CR6
test_full_scope_reaches_the_extended_profile if {
	d := decide(with_scope("full"))
	"history.trafficking_account" in d.permitted_fields
}

# rules: CR6 CR18
test_relevant_portion_stays_in_the_core_profile if {
	d := decide(with_scope("relevant_portion"))
	not "history.trafficking_account" in d.permitted_fields
}

# rules: CR6
test_case_specific_scope_strips_every_identifying_class if {
	inp := object.union(with_scope("case_specific_no_personal_data"), {"fields": ["subject.preferred_name", "subject.language"]})
	d := decide(inp)
	d.allow == false
	reason_of(d, "subject.preferred_name") == "scope_excludes_identifying"
	reason_of(d, "subject.language") == "scope_excludes_identifying"
}

# rules: CR6
test_case_specific_scope_keeps_non_identifying_classes if {
	inp := fx.request(
		"data_sharing",
		fx.recipient("a-rap", "rapporteur"),
		["statistics.aggregate", "subject.age"],
		[fx.consent("c-1", "data_sharing", ["a-rap"], "case_specific_no_personal_data", ["D1", "D24"])],
	)
	d := decide(inp)
	d.permitted_fields == ["statistics.aggregate"]
	reason_of(d, "subject.age") == "not_in_profile"
}

# rules: CR18
test_service_providers_get_the_minimal_identity_only if {
	inp := object.union(with_scope("full"), {"fields": ["subject.preferred_name", "subject.age", "subject.birthdate", "subject.nationality"]})
	d := decide(inp)
	d.permitted_fields == ["subject.age", "subject.preferred_name"]
	reason_of(d, "subject.birthdate") == "not_in_profile"
	reason_of(d, "subject.nationality") == "not_in_profile"
}

# rules: CR18
test_no_profile_no_fields if {
	inp := fx.request("protection_support", fx.recipient("a-rap", "rapporteur"), ["subject.preferred_name"], [fx.consent(
		"c-1", "protection_support", ["a-rap"], "full",
		["D1"],
	)])
	d := decide(inp)
	d.allow == false
	reason_of(d, "subject.preferred_name") == "not_in_profile"
}

# rules: L9 L9b
test_risk_summary_travels_without_d12_in_the_consent if {
	d := decide(fx.ngo_referral)
	"risk.level" in d.permitted_fields
	"risk.known_risks" in d.permitted_fields
	d.obligations.include_risk_summary == true
	"L9.risk_summary" in d.explanation
}

# rules: L9 T1
test_risk_summary_never_carries_the_full_assessment if {
	d := decide(object.union(fx.ngo_referral, {"fields": ["risk.level", "risk.full_assessment"]}))
	d.permitted_fields == ["risk.level"]
	reason_of(d, "risk.full_assessment") == "risk_summary_narrative_excluded"
}

# rules: L9 T1
test_risk_summary_never_carries_health_or_location if {
	d := decide(object.union(fx.ngo_referral, {"fields": ["risk.level", "health.mental_health", "location.current_residence"]}))
	d.permitted_fields == ["risk.level"]
	reason_of(d, "health.mental_health") == "health_requires_healthcare_consent"
	reason_of(d, "location.current_residence") == "shelter_location_accommodation_only"
}

# rules: L9
test_no_risk_summary_to_police if {
	inp := fx.police_request([fx.cj_consent("c-cj", ["a-police"], "formal_report_and_witness", ["D1"])])
	d := decide(object.union(inp, {"fields": ["subject.first_name", "risk.level"]}))
	d.permitted_fields == ["subject.first_name"]
	d.obligations.include_risk_summary == false
}

# rules: L9 CR6
test_no_risk_summary_on_a_no_personal_data_consent if {
	d := decide(object.union(with_scope("case_specific_no_personal_data"), {"fields": ["risk.level"]}))
	d.allow == false
}

# rules: L9
test_no_risk_summary_without_a_lawful_referral if {
	d := decide(object.union(fx.ngo_referral, {"consents": [], "fields": ["risk.level"]}))
	d.allow == false
	"no_consent" in d.reasons
}

# rules: CR18 CR19
test_preview_only_for_referral_purposes if {
	d := decide(object.union(fx.ngo_referral, {
		"purpose": "data_sharing",
		"consents": [fx.consent("c-1", "data_sharing", ["a-ngo"], "full", ["D1", "D5"])],
	}))
	d.allow == true
	d.obligations.person_preview_required == false
	d.obligations.include_risk_summary == false
}

# Issue 21: T2 (each recipient sees the profile of its role) and SEC7 (staff hear of the risks).
profile_request(agency_id, kind) := fx.request(
	"protection_support",
	fx.recipient(agency_id, kind),
	["subject.preferred_name", "welfare.subsistence"],
	[fx.consent("c-both", "protection_support", ["a-ngo", "a-shelter"], "relevant_portion", ["D1", "D19"])],
)

# rules: T2
test_the_same_consent_gives_each_recipient_the_profile_of_its_role if {
	ngo := decide(profile_request("a-ngo", "ngo"))
	"welfare.subsistence" in ngo.permitted_fields
	shelter := decide(profile_request("a-shelter", "shelter"))
	reason_of(shelter, "welfare.subsistence") == "not_in_profile"
	"subject.preferred_name" in shelter.permitted_fields
}

# rules: SEC7
test_the_receiving_staff_hear_of_the_risks_to_the_person_and_themselves if {
	d := decide(fx.request(
		"protection_support",
		fx.recipient("a-shelter", "shelter"),
		["risk.known_risks", "risk.level", "subject.preferred_name"],
		[fx.consent("c-s", "protection_support", ["a-shelter"], "relevant_portion", ["D1"])],
	))
	d.obligations.include_risk_summary == true
	"risk.known_risks" in d.permitted_fields
	"risk.level" in d.permitted_fields
}
