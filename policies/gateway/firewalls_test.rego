package gateway.firewalls_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

# rules: SEC2 S12
test_deny_unregistered_recipient if {
	d := decide(json.patch(fx.ngo_referral, [{"op": "replace", "path": "/recipient/registered", "value": false}]))
	d.allow == false
	"recipient_unverified" in d.reasons
	d.permitted_fields == []
	every x in d.denied_fields {
		x.reason in {"recipient_unverified", "unknown_field"}
	}
}

# rules: SEC2 S12
test_deny_recipient_with_unverified_key if {
	d := decide(json.patch(fx.ngo_referral, [{"op": "remove", "path": "/recipient/key_verified"}]))
	"recipient_unverified" in d.reasons
}

immigration_request(purpose, fields, classes) := fx.request(
	purpose,
	fx.recipient("a-immig", "immigration"),
	fields,
	[fx.consent("c-1", purpose, ["a-immig"], "full", classes)],
)

# rules: SEC13 S26
test_deny_service_data_to_immigration if {
	d := decide(immigration_request(
		"protection_support",
		["assistance.case_notes", "health.conditions", "risk.level", "immigration.status"],
		["D6", "D11", "D12", "D15"],
	))
	d.allow == false
	"immigration_firewall" in d.reasons
	reason_of(d, "assistance.case_notes") == "immigration_firewall"
	reason_of(d, "health.conditions") == "immigration_firewall"
}

# rules: SEC13 S26
test_allow_permit_data_to_immigration if {
	d := decide(immigration_request(
		"residence_permit",
		["subject.first_name", "immigration.residence_permit", "nrm.stage1_decision", "assistance.case_notes", "health.conditions"],
		["D1", "D6", "D11", "D15", "D20"],
	))
	d.allow == true
	d.permitted_fields == ["immigration.residence_permit", "nrm.stage1_decision", "subject.first_name"]
	reason_of(d, "assistance.case_notes") == "immigration_firewall"
	reason_of(d, "health.conditions") == "immigration_firewall"
}

# rules: SEC13
test_immigration_status_never_to_police if {
	d := decide(object.union(fx.corpus.police_formal, {"fields": ["immigration.status", "subject.first_name"]}))
	d.permitted_fields == ["subject.first_name"]
	reason_of(d, "immigration.status") == "immigration_firewall"
}

coo_authority := object.union(fx.recipient("a-coo", "country_of_origin_authority"), {"jurisdiction": "XX"})

return_consent := object.union(
	fx.consent("c-ret", "return", ["a-coo"], "relevant_portion", ["D1", "D2", "D20"]),
	{"countries": ["XX"]},
)

return_fields := [
	"documents.travel_document",
	"health.conditions",
	"history.trafficking_account",
	"risk.known_risks",
	"status.nrm_status",
	"subject.birthdate",
	"subject.first_name",
	"subject.second_name",
]

# rules: CR24 CR25 S23
test_deny_return_data_without_a_return_consent if {
	d := decide(fx.request("return", coo_authority, return_fields, []))
	d.allow == false
	"no_consent" in d.reasons
	"cross_border_consent_must_name_recipient" in d.reasons
}

# rules: CR24 CR25 S23
test_allow_minimal_return_profile_with_a_return_consent if {
	d := decide(fx.request("return", coo_authority, return_fields, [return_consent]))
	d.allow == true
	d.permitted_fields == [
		"documents.travel_document", "status.nrm_status", "subject.birthdate",
		"subject.first_name", "subject.second_name",
	]
	reason_of(d, "history.trafficking_account") == "not_in_profile"
	reason_of(d, "health.conditions") == "health_requires_healthcare_consent"
	d.obligations.include_risk_summary == false
}

# rules: CR24
test_deny_country_of_origin_for_any_other_purpose if {
	inp := fx.request("protection_support", coo_authority, return_fields, [object.union(return_consent, {"purpose": "protection_support"})])
	d := decide(inp)
	"country_of_origin_requires_return_consent" in d.reasons
}

# rules: CR24
test_embassy_of_the_country_of_origin_is_the_country_of_origin if {
	embassy := object.union(fx.recipient("a-emb", "embassy"), {"jurisdiction": "XX"})
	d := decide(fx.request("data_sharing", embassy, ["subject.first_name"], [object.union(
		fx.consent("c-1", "data_sharing", ["a-emb"], "full", ["D1"]),
		{"countries": ["XX"]},
	)]))
	"country_of_origin_requires_return_consent" in d.reasons
}

# rules: SEC14 CR24
test_deny_country_of_origin_when_asylum_is_claimed if {
	inp := json.patch(fx.request("return", coo_authority, return_fields, [return_consent]), [{"op": "replace", "path": "/subject/asylum_claimed", "value": true}])
	d := decide(inp)
	d.allow == false
	"country_of_origin_asylum_block" in d.reasons
	every x in d.denied_fields {
		x.reason == "country_of_origin_asylum_block"
	}
}

# rules: SEC14
test_deny_country_of_origin_for_a_possible_refugee if {
	inp := json.patch(fx.request("return", coo_authority, return_fields, [return_consent]), [{"op": "replace", "path": "/subject/possible_refugee", "value": true}])
	d := decide(inp)
	"country_of_origin_asylum_block" in d.reasons
}

# rules: SEC14
test_asylum_does_not_block_other_recipients if {
	inp := json.patch(fx.ngo_referral, [{"op": "replace", "path": "/subject/asylum_claimed", "value": true}])
	d := decide(inp)
	d.allow == true
}

# rules: CR26 SEC4
test_shelter_address_to_the_placement_shelter if {
	d := decide(fx.corpus.shelter_placement)
	d.allow == true
	d.permitted_fields == ["location.shelter_address", "risk.level", "subject.preferred_name"]
	reason_of(d, "subject.first_name") == "not_in_profile"
	d.obligations.second_approver_required == true
}

# rules: CR26 SEC4
test_shelter_address_never_to_another_shelter if {
	inp := json.patch(fx.corpus.shelter_placement, [
		{"op": "replace", "path": "/recipient/agency_id", "value": "a-shelter-2"},
		{"op": "replace", "path": "/consents/0/recipients", "value": ["a-shelter-2"]},
	])
	d := decide(inp)
	reason_of(d, "location.shelter_address") == "shelter_location_accommodation_only"
}

# rules: CR26
test_shelter_placement_needs_a_shelter_consent if {
	inp := json.patch(fx.corpus.shelter_placement, [{"op": "replace", "path": "/consents/0/purpose", "value": "protection_support"}])
	d := decide(inp)
	d.reasons == ["no_consent", "purpose_not_consented"]
}

# rules: SEC4
test_shelter_address_denied_when_nobody_is_placed if {
	inp := json.patch(fx.corpus.shelter_placement, [{"op": "replace", "path": "/subject/placement_agency_id", "value": null}])
	d := decide(inp)
	reason_of(d, "location.shelter_address") == "shelter_location_accommodation_only"
}

volunteer_view(where) := json.patch(fx.ngo_referral, [
	{"op": "replace", "path": "/fields", "value": ["subject.preferred_name", "subject.language", "risk.level", "assistance.appointment_time", "network.advocate_contact"]},
	{"op": "replace", "path": "/consents/0/data_classes", "value": ["D1", "D5", "D22"]},
	{"op": "add", "path": where, "value": "volunteer"},
])

# rules: SEC8 S27
test_volunteer_requester_sees_no_s3_or_s4 if {
	d := decide(volunteer_view("/requester/user_role"))
	d.allow == true
	d.permitted_fields == ["assistance.appointment_time", "network.advocate_contact", "subject.language"]
	reason_of(d, "subject.preferred_name") == "volunteer_sensitive_class"
	reason_of(d, "risk.level") == "volunteer_sensitive_class"
}

# rules: SEC8 S27
test_volunteer_recipient_user_sees_no_s3_or_s4 if {
	d := decide(volunteer_view("/recipient/user_role"))
	d.permitted_fields == ["assistance.appointment_time", "network.advocate_contact", "subject.language"]
}

# An embassy of XX registered where it sits (NL), as the registry holds it since issue 21.
embassy_of(state) := object.union(fx.recipient("a-emb", "embassy"), {"represents_state": state})

embassy_return(recipient_doc, subject_patch) := json.patch(
	fx.request("return", recipient_doc, return_fields, [object.union(
		fx.consent("c-ret", "return", ["a-emb"], "relevant_portion", ["D1", "D2", "D20"]),
		{"countries": ["NL", "XX"]},
	)]),
	subject_patch,
)

asylum := [{"op": "replace", "path": "/subject/asylum_claimed", "value": true}]

# rules: SEC14 CR24
test_an_embassy_acts_for_the_state_it_represents_not_where_it_sits if {
	d := decide(embassy_return(embassy_of("XX"), asylum))
	d.allow == false
	"country_of_origin_asylum_block" in d.reasons
	d.permitted_fields == []
	other := decide(object.union(embassy_return(embassy_of("XX"), []), {"purpose": "data_sharing"}))
	"country_of_origin_requires_return_consent" in other.reasons
	decide(embassy_return(embassy_of("XX"), [])).allow == true
}

# rules: SEC14 CR24
test_an_embassy_whose_state_is_not_recorded_may_be_the_country_of_origin if {
	no_state := fx.recipient("a-emb", "embassy")
	d := decide(embassy_return(no_state, asylum))
	"country_of_origin_asylum_block" in d.reasons
	another := decide(embassy_return(embassy_of("YY"), asylum))
	not "country_of_origin_asylum_block" in another.reasons
}

# rules: SEC14
test_an_asylum_seeker_with_no_recorded_origin_reaches_no_foreign_authority if {
	unrecorded := array.concat(asylum, [{"op": "replace", "path": "/subject/country_of_origin", "value": null}])
	decide(embassy_return(embassy_of("YY"), unrecorded)).allow == false
	"country_of_origin_asylum_block" in decide(embassy_return(embassy_of("YY"), unrecorded)).reasons
	liaison := object.union(fx.recipient("a-emb", "police"), {"represents_state": "YY"})
	"country_of_origin_asylum_block" in decide(embassy_return(liaison, unrecorded)).reasons
	abroad := object.union(fx.recipient("a-emb", "police"), {"jurisdiction": "YY"})
	"country_of_origin_asylum_block" in decide(embassy_return(abroad, unrecorded)).reasons
	home_police := fx.recipient("a-emb", "police")
	not "country_of_origin_asylum_block" in decide(embassy_return(home_police, unrecorded)).reasons
}

# rules: SEC14 CH1
test_a_mistyped_safety_flag_fails_closed if {
	every value in ["false", 0, "", "no", [], {}] {
		d := decide(embassy_return(embassy_of("XX"), [{"op": "replace", "path": "/subject/asylum_claimed", "value": value}]))
		"country_of_origin_asylum_block" in d.reasons
	}
	decide(embassy_return(embassy_of("XX"), [{"op": "replace", "path": "/subject/asylum_claimed", "value": null}])).allow
}

# rules: CR24
test_the_country_of_origin_receives_only_on_a_return_consent_naming_it if {
	named := embassy_return(embassy_of("XX"), [])
	decide(named).allow == true
	by_kind := json.patch(named, [{"op": "replace", "path": "/consents/0/recipients", "value": ["kind:embassy"]}])
	"country_of_origin_requires_return_consent" in decide(by_kind).reasons
	decide(by_kind).permitted_fields == []
	grant := {
		"basis": "L1", "scenario": "imminent_harm", "grant_id": "g-1", "classes": ["D1"], "fields": [],
		"recipient_agency_id": "a-emb", "approved": true, "second_approver_id": "u-2",
		"expires_at": "2026-11-24T12:00:00Z",
	}
	under_grant := decide(object.union(named, {"exception": grant}))
	"country_of_origin_requires_return_consent" in under_grant.reasons
}

# ---------------------------------------------------------------- CR35 preferences, SEC18 narrative

preference_request(purpose) := fx.request(
	purpose,
	fx.recipient("a-ngo", "ngo"),
	["subject.interpreter_gender_preference", "subject.language", "subject.professional_gender_preference"],
	[fx.consent("c-ngo", purpose, ["a-ngo"], "full", ["D1", "D5"])],
)

# rules: CR35
test_preferences_go_where_a_meeting_is_arranged if {
	d := decide(preference_request("protection_support"))
	"subject.interpreter_gender_preference" in d.permitted_fields
	"subject.professional_gender_preference" in d.permitted_fields
}

# rules: CR35
test_preferences_never_go_with_general_data_sharing if {
	d := decide(preference_request("data_sharing"))
	"subject.language" in d.permitted_fields
	reason_of(d, "subject.interpreter_gender_preference") == "preference_scheduling_only"
	reason_of(d, "subject.professional_gender_preference") == "preference_scheduling_only"
}

narrative_request(requester_role, recipient_role) := object.union(
	fx.request(
		"protection_support",
		object.union(fx.recipient("a-ngo", "ngo"), {"user_role": recipient_role}),
		["history.trafficking_account", "subject.preferred_name"],
		[fx.consent("c-ngo", "protection_support", ["a-ngo"], "full", ["D1", "D11"])],
	),
	{"requester": object.union(fx.requester, {"user_role": requester_role})},
)

# rules: SEC18
test_the_trauma_narrative_goes_between_the_roles_that_work_with_it if {
	d := decide(narrative_request("caseworker", "advocate"))
	"history.trafficking_account" in d.permitted_fields
	d2 := decide(json.patch(narrative_request("advocate", null), [{"op": "remove", "path": "/recipient/user_role"}]))
	"history.trafficking_account" in d2.permitted_fields
}

# rules: SEC18
test_a_dpo_neither_sends_nor_reads_the_trauma_narrative if {
	d := decide(narrative_request("dpo", "advocate"))
	reason_of(d, "history.trafficking_account") == "trauma_narrative_role"
	"subject.preferred_name" in d.permitted_fields
	d2 := decide(narrative_request("caseworker", "dpo"))
	reason_of(d2, "history.trafficking_account") == "trauma_narrative_role"
}

# rules: CR34 SEC13
test_an_asylum_seeker_is_behind_the_immigration_firewall_like_anyone if {
	every flags in [{"asylum_claimed": false}, {"asylum_claimed": true}, {"possible_refugee": true}] {
		inp := object.union(
			immigration_request("protection_support", ["subject.first_name", "immigration.status"], ["D1", "D15"]),
			{"subject": object.union(fx.subject, flags)},
		)
		d := decide(inp)
		"immigration_firewall" in d.reasons
		d.permitted_fields == []
	}
}

# rules: CR34
test_an_asylum_claim_never_widens_what_goes if {
	plain := decide(fx.ngo_referral)
	every flags in [{"asylum_claimed": true}, {"possible_refugee": true}] {
		d := decide(object.union(fx.ngo_referral, {"subject": object.union(fx.subject, flags)}))
		every f in d.permitted_fields {
			f in plain.permitted_fields
		}
	}
}
