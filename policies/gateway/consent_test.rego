package gateway.consent_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

with_consents(consents) := object.union(fx.ngo_referral, {"consents": consents})

# rules: CR1
test_deny_no_consent if {
	d := decide(with_consents([]))
	d.allow == false
	"no_consent" in d.reasons
	every x in d.denied_fields {
		x.reason in {"no_consent", "unknown_field", "shelter_location_accommodation_only"}
	}
}

# rules: CR2
test_deny_consent_for_another_purpose if {
	d := decide(with_consents([fx.consent("c-1", "data_sharing", ["a-ngo"], "full", ["D1", "D5"])]))
	d.reasons == ["no_consent", "purpose_not_consented"]
}

# rules: CR1 CR32 S34
test_deny_recipient_not_named if {
	d := decide(with_consents([fx.consent("c-1", "protection_support", ["a-other-ngo"], "full", ["D1", "D5"])]))
	d.reasons == ["no_consent", "recipient_not_named"]
}

# rules: CR1
test_allow_consent_naming_the_recipient_kind if {
	d := decide(with_consents([fx.consent("c-1", "protection_support", ["kind:ngo"], "relevant_portion", ["D1", "D5"])]))
	d.allow == true
	d.basis.consent_ids == ["c-1"]
}

# rules: CR1
test_deny_class_not_consented if {
	d := decide(with_consents([fx.consent("c-1", "protection_support", ["a-ngo"], "relevant_portion", ["D5"])]))
	d.allow == true
	reason_of(d, "subject.preferred_name") == "class_not_consented"
}

# rules: CR14 S04
test_deny_withdrawn_consent if {
	c := object.union(fx.consent("c-1", "data_sharing", ["a-ngo"], "full", ["D1", "D5"]), {"withdrawn_at": "2026-11-24T09:59:59Z"})
	d := decide(object.union(fx.ngo_referral, {"purpose": "data_sharing", "consents": [c]}))
	d.allow == false
	"no_consent" in d.reasons
}

# rules: CR14 CR33 S04
test_allow_then_deny_once_the_consent_is_gone if {
	c := fx.consent("c-1", "data_sharing", ["a-ngo"], "full", ["D1", "D5"])
	before := decide(object.union(fx.ngo_referral, {"purpose": "data_sharing", "consents": [c]}))
	after := decide(object.union(fx.ngo_referral, {"purpose": "data_sharing", "consents": []}))
	before.allow == true
	after.allow == false
	"no_consent" in after.reasons
}

# rules: CR1
test_deny_expired_consent if {
	c := object.union(fx.consent("c-1", "protection_support", ["a-ngo"], "full", ["D1", "D5"]), {"expires_at": fx.earlier})
	d := decide(with_consents([c]))
	"no_consent" in d.reasons
}

test_deny_consent_for_another_subject if {
	c := object.union(fx.consent("c-1", "protection_support", ["a-ngo"], "full", ["D1", "D5"]), {"subject_id": "s-2"})
	d := decide(with_consents([c]))
	"no_consent" in d.reasons
}

test_ignore_malformed_consents if {
	d := decide(with_consents([
		"c-1",
		{"id": "c-2", "subject_id": "s-1", "purpose": "protection_support"},
		object.union(fx.consent("c-3", "protection_support", ["a-ngo"], "everything", ["D1"]), {}),
	]))
	"no_consent" in d.reasons
}

# rules: CR30
test_deny_iom_to_unhcr_with_a_consent_naming_only_the_kind if {
	inp := object.union(fx.ngo_referral, {
		"recipient": fx.recipient("a-unhcr", "unhcr"),
		"fields": ["subject.first_name", "subject.language"],
		"consents": [fx.consent("c-1", "protection_support", ["kind:unhcr"], "full", ["D1", "D5"])],
	})
	d := decide(inp)
	d.reasons == ["iom_unhcr_consent_must_name_agency", "no_consent", "recipient_not_named"]
}

# rules: CR30
test_allow_iom_to_unhcr_with_a_consent_naming_the_agency if {
	inp := object.union(fx.ngo_referral, {
		"recipient": fx.recipient("a-unhcr", "unhcr"),
		"fields": ["subject.first_name", "subject.language"],
		"consents": [fx.consent("c-1", "protection_support", ["a-unhcr"], "full", ["D1", "D5"])],
	})
	d := decide(inp)
	d.allow == true
	d.permitted_fields == ["subject.first_name", "subject.language"]
}

# rules: CR25
test_deny_cross_border_recipient_named_without_its_country if {
	inp := json.patch(fx.ngo_referral, [
		{"op": "replace", "path": "/recipient/jurisdiction", "value": "BE"},
		{"op": "replace", "path": "/consents/0/recipients", "value": ["a-ngo"]},
	])
	d := decide(inp)
	d.reasons == ["cross_border_consent_must_name_recipient", "no_consent", "recipient_not_named"]
}

# rules: CR25
test_deny_cross_border_recipient_named_by_kind if {
	inp := json.patch(fx.ngo_referral, [
		{"op": "replace", "path": "/recipient/jurisdiction", "value": "BE"},
		{"op": "replace", "path": "/consents/0/recipients", "value": ["kind:ngo"]},
		{"op": "add", "path": "/consents/0/countries", "value": ["BE"]},
	])
	d := decide(inp)
	"cross_border_consent_must_name_recipient" in d.reasons
}

# rules: CR25
test_allow_cross_border_recipient_named_with_its_country if {
	inp := json.patch(fx.ngo_referral, [
		{"op": "replace", "path": "/recipient/jurisdiction", "value": "BE"},
		{"op": "add", "path": "/consents/0/countries", "value": ["BE"]},
	])
	d := decide(inp)
	d.allow == true
}
