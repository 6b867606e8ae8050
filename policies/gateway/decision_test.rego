package gateway.decision_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

# rules: CR1
test_default_decision_is_a_deny_with_policy_undefined if {
	d := decide(fx.ngo_referral) with data.gateway_meta as {}
	d.allow == false
	d.reasons == ["policy_undefined"]
}

# rules: CR1 CR18 L9
test_allow_ngo_referral_permits_only_the_profile if {
	d := decide(fx.ngo_referral)
	d.allow == true
	d.reasons == []
	d.permitted_fields == ["envelope.urgency", "risk.known_risks", "risk.level", "subject.language", "subject.preferred_name"]
	d.basis == {"consent_ids": ["c-ngo"], "exception": null}
	d.policy_version == data.gateway_meta.version
}

# rules: CR18
test_deny_fields_outside_the_profile_each_with_a_reason if {
	d := decide(fx.ngo_referral)
	reason_of(d, "subject.first_name") == "not_in_profile"
	reason_of(d, "location.shelter_address") == "shelter_location_accommodation_only"
	# D11 is only in the NGO's extended profile; the consent is relevant_portion.
	reason_of(d, "history.trafficking_account") == "not_in_profile"
}

test_denied_fields_are_sorted_and_disjoint_from_permitted if {
	d := decide(fx.ngo_referral)
	names := [x.field | some x in d.denied_fields]
	names == sort(names)
	count({n | some n in names} & {p | some p in d.permitted_fields}) == 0
}

# rules: CR18 CR19
test_obligations_of_a_referral if {
	d := decide(fx.ngo_referral)
	d.obligations == {
		"include_risk_summary": true,
		"person_preview_required": true,
		"notify_person": false,
		"second_approver_required": false,
		"expires_at": fx.later,
	}
}

test_explanation_names_the_rules_that_fired if {
	d := decide(fx.ngo_referral)
	every id in ["CR1.consent", "CR18.profile", "CR18.preview", "L9.risk_summary", "firewall.shelter_location"] {
		id in d.explanation
	}
	d.explanation == sort(d.explanation)
}

# rules: CR1
test_deny_when_no_field_is_permitted if {
	d := decide(object.union(fx.ngo_referral, {"fields": ["subject.first_name"]}))
	d.allow == false
	d.reasons == ["no_permitted_fields"]
	d.permitted_fields == []
	d.obligations.include_risk_summary == false
	d.obligations.expires_at == null
}

test_deny_when_no_field_is_requested if {
	d := decide(object.union(fx.ngo_referral, {"fields": []}))
	d.allow == false
	d.reasons == ["no_fields_requested"]
}

# rules: SEC6
test_second_approver_required_for_an_s4_class if {
	inp := json.patch(fx.ngo_referral, [{"op": "replace", "path": "/consents/0/scope", "value": "full"}])
	d := decide(inp)
	"history.trafficking_account" in d.permitted_fields
	d.obligations.second_approver_required == true
	"SEC6.four_eyes" in d.explanation
}

test_expires_at_is_the_earliest_expiry_of_the_basis if {
	inp := json.patch(fx.ngo_referral, [{"op": "add", "path": "/consents/-", "value": object.union(
		fx.consent("c-early", "protection_support", ["a-ngo"], "relevant_portion", ["D5"]),
		{"expires_at": "2026-12-01T00:00:00Z"},
	)}])
	d := decide(inp)
	d.basis.consent_ids == ["c-early", "c-ngo"]
	d.obligations.expires_at == "2026-12-01T00:00:00Z"
}

test_corpus_decisions_are_well_formed if {
	every _, inp in fx.corpus {
		d := decide(inp)
		is_boolean(d.allow)
		is_array(d.permitted_fields)
		is_string(d.policy_version)
	}
}
