package gateway.criminal_justice_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

filming := fx.consent("c-film", "filming", ["kind:police"], "full", ["D17"])

# rules: CR1 CR2 S01
test_deny_police_with_only_an_nrm_consent if {
	d := decide(fx.corpus.police_no_consent)
	d.allow == false
	"no_consent" in d.reasons
	"purpose_not_consented" in d.reasons
	d.permitted_fields == []
}

# rules: CR36 S02 CR6
test_anonymous_intelligence_gives_d23_only if {
	d := decide(fx.corpus.police_anonymous)
	d.allow == true
	d.permitted_fields == ["intelligence.case_summary"]
	reason_of(d, "subject.first_name") == "police_tier"
	reason_of(d, "subject.birthdate") == "police_tier"
	reason_of(d, "contact.phone") == "police_tier"
	reason_of(d, "family.children") == "not_in_profile"
	reason_of(d, "documents.passport_number") == "police_tier"
	reason_of(d, "location.shelter_address") == "shelter_location_accommodation_only"
	"police_tier.anonymous_intelligence_only" in d.explanation
}

# rules: CR36
test_formal_report_gives_case_data_but_never_the_shelter if {
	d := decide(object.union(fx.corpus.police_formal, {"consents": array.concat(fx.corpus.police_formal.consents, [filming])}))
	d.allow == true
	d.permitted_fields == [
		"cj.statement", "contact.phone", "documents.passport_number", "history.trafficking_account",
		"intelligence.case_summary", "subject.birthdate", "subject.first_name",
	]
	reason_of(d, "location.shelter_address") == "shelter_location_accommodation_only"
	reason_of(d, "family.children") == "not_in_profile"
}

# rules: CR36
test_no_cooperation_gives_nothing if {
	d := decide(fx.corpus.police_none)
	d.allow == false
	d.reasons == ["no_permitted_fields"]
	reason_of(d, "intelligence.case_summary") == "police_tier"
}

# rules: CR36
test_an_unrecognised_option_counts_as_none if {
	inp := json.patch(fx.corpus.police_formal, [{"op": "replace", "path": "/consents/0/cj_option", "value": "sure"}])
	d := decide(inp)
	d.allow == false
}

# rules: CR21 S25
test_film_denied_outside_criminal_justice if {
	inp := fx.request("data_sharing", fx.recipient("a-ngo", "ngo"), ["cj.filmed_interview"], [
		fx.consent("c-1", "data_sharing", ["a-ngo"], "full", ["D17"]),
		filming,
	])
	d := decide(inp)
	d.allow == false
	reason_of(d, "cj.filmed_interview") == "film_criminal_justice_only"
}

# rules: CR21
test_film_needs_the_filming_consent if {
	inp := object.union(fx.corpus.police_formal, {"fields": ["cj.filmed_interview", "cj.statement"]})
	d := decide(inp)
	d.permitted_fields == ["cj.statement"]
	reason_of(d, "cj.filmed_interview") == "film_requires_filming_consent"
}

# rules: CR21
test_film_allowed_for_criminal_justice_with_both_consents if {
	inp := object.union(fx.corpus.police_formal, {
		"fields": ["cj.filmed_interview"],
		"consents": array.concat(fx.corpus.police_formal.consents, [filming]),
	})
	d := decide(inp)
	d.permitted_fields == ["cj.filmed_interview"]
	d.obligations.second_approver_required == true
}

# rules: CR17 CR29 S33
test_shelter_referral_allowed_with_criminal_justice_declined if {
	declined := fx.cj_consent("c-cj", ["kind:police"], "none", [])
	base := fx.corpus.shelter_placement
	with_cj := object.union(base, {"consents": array.concat(base.consents, [declined])})
	a := decide(base)
	b := decide(with_cj)
	a.allow == true
	a == b
}

# rules: CR17
test_services_do_not_change_with_cooperation if {
	formal := fx.cj_consent("c-cj", ["kind:police", "a-ngo"], "formal_report_and_witness", ["D1", "D11", "D17"])
	anon := fx.cj_consent("c-cj", ["kind:police", "a-ngo"], "anonymous_intelligence_only", ["D23"])
	base := fx.ngo_referral
	decide(base) == decide(object.union(base, {"consents": array.concat(base.consents, [formal])}))
	decide(base) == decide(object.union(base, {"consents": array.concat(base.consents, [anon])}))
}

# rules: CH22 CR21
test_a_filming_consent_a_guardian_gave_lapses_when_the_person_is_an_adult if {
	guardian_filming := object.union(filming, {"guardian_consent": true})
	inp := object.union(fx.corpus.police_formal, {
		"fields": ["cj.filmed_interview"],
		"consents": array.concat(fx.corpus.police_formal.consents, [guardian_filming]),
	})
	d := decide(inp)
	d.permitted_fields == []
	reason_of(d, "cj.filmed_interview") == "film_requires_filming_consent"
}
