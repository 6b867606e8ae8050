package gateway.exceptions_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

er := fx.recipient("a-er", "healthcare")

l3_grant := {
	"basis": "L3",
	"scenario": "unconscious_emergency",
	"grant_id": "g-1",
	"classes": ["D6", "D8"],
	"fields": [],
	"recipient_agency_id": "a-er",
	"approved": true,
	"second_approver_id": "u-2",
	"expires_at": "2026-11-24T12:00:00Z",
}

emergency(grant) := object.union(
	fx.request("healthcare", er, ["health.allergies", "health.medication", "health.conditions", "health.mental_health", "subject.first_name"], []),
	{"exception": grant},
)

# rules: L3
test_l3_releases_allergies_and_medication_only if {
	d := decide(emergency(l3_grant))
	d.allow == true
	d.permitted_fields == ["health.allergies", "health.medication"]
	reason_of(d, "health.conditions") == "exception_scope"
	reason_of(d, "health.mental_health") == "exception_scope"
	d.basis == {"consent_ids": [], "exception": "L3"}
	d.obligations.notify_person == true
	d.obligations.second_approver_required == true
	d.obligations.person_preview_required == false
	"exception.L3" in d.explanation
}

# rules: L3
test_l3_never_to_a_non_health_recipient if {
	inp := object.union(emergency(object.union(l3_grant, {"recipient_agency_id": "a-ngo"})), {"recipient": fx.recipient("a-ngo", "ngo")})
	d := decide(inp)
	d.allow == false
	"exception_recipient_role_not_allowed" in d.reasons
}

# rules: L3
test_l3_only_for_healthcare if {
	d := decide(object.union(emergency(l3_grant), {"purpose": "protection_support"}))
	"exception_purpose_not_allowed" in d.reasons
}

# rules: SEC6
test_exception_needs_a_second_approver_other_than_the_requester if {
	d := decide(emergency(object.union(l3_grant, {"second_approver_id": "u-1"})))
	d.allow == false
	"exception_second_approver_missing" in d.reasons
}

test_exception_must_be_approved if {
	d := decide(emergency(object.union(l3_grant, {"approved": false})))
	"exception_not_approved" in d.reasons
}

test_exception_expired if {
	d := decide(emergency(object.union(l3_grant, {"expires_at": fx.earlier})))
	"exception_expired" in d.reasons
}

test_exception_valid_longer_than_the_basis_allows if {
	d := decide(emergency(object.union(l3_grant, {"expires_at": fx.later})))
	"exception_expired" in d.reasons
}

test_exception_for_another_recipient if {
	d := decide(emergency(object.union(l3_grant, {"recipient_agency_id": "a-other"})))
	"exception_recipient_mismatch" in d.reasons
}

test_unknown_exception_basis if {
	d := decide(emergency(object.union(l3_grant, {"basis": "L99"})))
	"exception_unknown_basis" in d.reasons
}

test_exception_basis_not_enabled_yet if {
	d := decide(emergency(object.union(l3_grant, {"basis": "L13"})))
	"exception_basis_not_enabled" in d.reasons
}

# rules: L1
test_l1_safeguarding_override_covers_identity_and_risk_only_in_a_published_scenario if {
	grant := object.union(l3_grant, {"basis": "L1", "scenario": "imminent_harm", "classes": ["D1", "D12"]})
	inp := object.union(emergency(grant), {"fields": ["health.allergies", "risk.level", "subject.first_name"]})
	d := decide(inp)
	d.allow == true
	d.permitted_fields == ["risk.level", "subject.first_name"]
	reason_of(d, "health.allergies") == "exception_scope"
	d.basis == {"consent_ids": [], "exception": "L1"}
	d.obligations.notify_person == true
	unpublished := decide(object.union(inp, {"exception": object.union(grant, {"scenario": "staff_worried"})}))
	unpublished.allow == false
	"exception_not_in_agency_policy" in unpublished.reasons
	alone := decide(object.union(inp, {"exception": object.union(grant, {"approved": false})}))
	alone.allow == false
}

# A grant naming more classes than its basis allows reaches only the basis' own classes (L1
# names no fields, so its classes alone bound it).
# rules: L1
test_a_grant_never_reaches_beyond_the_classes_of_its_basis if {
	grant := object.union(l3_grant, {"basis": "L1", "scenario": "imminent_harm", "classes": ["D1", "D5", "D12"]})
	d := decide(object.union(emergency(grant), {"fields": ["risk.level", "subject.first_name", "subject.language"]}))
	d.allow == true
	d.permitted_fields == ["risk.level", "subject.first_name"]
	reason_of(d, "subject.language") == "exception_scope"
}

# rules: L1 S35
test_exception_scenario_not_published_by_the_agency if {
	d := decide(emergency(object.union(l3_grant, {"scenario": "staff_convenience"})))
	d.allow == false
	"exception_not_in_agency_policy" in d.reasons
}

# rules: L4 S21
test_l4_minimal_suicide_risk_notification_to_the_doctor if {
	grant := object.union(l3_grant, {"basis": "L4", "scenario": "suicide_risk_disclosed", "classes": ["D1", "D8"]})
	d := decide(object.union(emergency(grant), {"fields": ["health.suicide_risk", "health.mental_health", "subject.first_name"]}))
	d.permitted_fields == ["health.suicide_risk", "subject.first_name"]
	reason_of(d, "health.mental_health") == "exception_scope"
}

# rules: L3
test_exception_does_not_open_a_firewall if {
	d := decide(object.union(emergency(l3_grant), {"fields": ["health.allergies", "location.shelter_address"]}))
	d.permitted_fields == ["health.allergies"]
	reason_of(d, "location.shelter_address") == "shelter_location_accommodation_only"
}

# rules: L4b SEC6
test_l4b_imminent_intent_is_short_lived_and_minimal if {
	grant := object.union(l3_grant, {
		"basis": "L4b", "scenario": "imminent_intent", "classes": ["D1", "D8"],
		"expires_at": "2026-11-24T11:00:00Z",
	})
	inp := json.patch(
		object.union(emergency(grant), {"fields": ["health.suicide_risk", "contact.phone", "subject.first_name"]}),
		[{"op": "add", "path": "/requester/exception_policy/L4b", "value": ["imminent_intent"]}],
	)
	d := decide(inp)
	d.permitted_fields == ["health.suicide_risk", "subject.first_name"]
	reason_of(d, "contact.phone") == "exception_scope"
	d.obligations.second_approver_required == true
	long := decide(json.patch(inp, [{"op": "replace", "path": "/exception/expires_at", "value": "2026-11-24T13:00:00Z"}]))
	"exception_expired" in long.reasons
}

# rules: CR29
test_nrm_referral_needs_its_own_consent if {
	authority := fx.recipient("a-ca", "competent_authority")
	fields := ["subject.first_name", "history.trafficking_account"]
	support := fx.consent("c-s", "protection_support", ["a-ca"], "full", ["D1", "D11"])
	nrm := fx.consent("c-n", "nrm_referral", ["a-ca"], "relevant_portion", ["D1", "D11"])
	decide(fx.request("nrm_referral", authority, fields, [support])).allow == false
	decide(fx.request("nrm_referral", authority, fields, [nrm])).permitted_fields == sort(fields)
}

# rules: SEC6
test_a_deferral_is_a_covert_investigation_within_the_data_ceiling if {
	ceiling := data.gateway_data.exceptions.deferral.legal_max_days
	at_ceiling := time.format([time.add_date(time.parse_rfc3339_ns(fx.now), 0, 0, ceiling), "UTC", "2006-01-02T15:04:05Z07:00"])
	past_ceiling := time.format([time.add_date(time.parse_rfc3339_ns(fx.now), 0, 0, ceiling + 1), "UTC", "2006-01-02T15:04:05Z07:00"])
	covert := {"defer_reason": "covert_investigation"}
	decide(emergency(object.union(l3_grant, object.union(covert, {"defer_until": at_ceiling})))).allow == true
	beyond := decide(emergency(object.union(l3_grant, object.union(covert, {"defer_until": past_ceiling}))))
	beyond.allow == false
	"exception_deferral_not_allowed" in beyond.reasons
	other := decide(emergency(object.union(l3_grant, {"defer_until": at_ceiling, "defer_reason": "convenience"})))
	"exception_deferral_not_allowed" in other.reasons
	decide(emergency(object.union(l3_grant, {"defer_until": null, "defer_reason": null}))).allow == true
}
