package gateway.contact_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

contact_fields := ["contact.email", "contact.phone", "contact.safe_to_contact", "subject.preferred_name"]

# The lead advocate, full scope: the one recipient whose profile carries contact details (D3).
advocate_request(safety) := object.union(
	fx.request(
		"protection_support",
		fx.recipient("a-adv", "independent_advocate"),
		contact_fields,
		[fx.consent("c-adv", "protection_support", ["a-adv"], "full", ["D1", "D3"])],
	),
	{"subject": object.union(fx.subject, {"contact_safety": safety})},
)

# rules: SEC12
test_contact_goes_when_verified_safe if {
	d := decide(advocate_request("verified_safe"))
	d.allow == true
	"contact.phone" in d.permitted_fields
	"contact.email" in d.permitted_fields
}

# rules: SEC12 S40
test_a_phone_a_third_party_may_read_is_withheld_and_the_flags_still_go if {
	d := decide(advocate_request("third_party_access"))
	reason_of(d, "contact.phone") == "contact_not_verified_safe"
	reason_of(d, "contact.email") == "contact_not_verified_safe"
	"contact.safe_to_contact" in d.permitted_fields
	"subject.preferred_name" in d.permitted_fields
}

# rules: SEC12
test_unverified_absent_or_mistyped_contact_safety_withholds_the_channels if {
	every safety in ["unverified", null, true, "VERIFIED_SAFE", ""] {
		d := decide(advocate_request(safety))
		reason_of(d, "contact.phone") == "contact_not_verified_safe"
	}
	d := decide(json.patch(advocate_request("x"), [{"op": "remove", "path": "/subject/contact_safety"}]))
	reason_of(d, "contact.phone") == "contact_not_verified_safe"
}

# A child allocated to a guardian advocate service, contact verified safe.
child_request(golden_day_until) := object.union(
	fx.request(
		"protection_support",
		fx.recipient("a-gas", "guardian_advocate_service"),
		["contact.correspondence_address", "contact.phone", "contact.social_media", "subject.preferred_name"],
		[fx.consent("c-gas", "protection_support", ["a-gas"], "full", ["D1", "D3"])],
	),
	{"subject": object.union(fx.subject, {
		"is_child": true,
		"guardian_advocate_id": "ga-1",
		"guardian_advocate_agency_id": "a-gas",
		"contact_safety": "verified_safe",
		"golden_day_until": golden_day_until,
	})},
)

# rules: SEC11
test_nothing_reaches_a_childs_device_during_the_golden_day if {
	d := decide(child_request(fx.later))
	reason_of(d, "contact.phone") == "child_golden_day_no_device_contact"
	reason_of(d, "contact.social_media") == "child_golden_day_no_device_contact"
	"contact.correspondence_address" in d.permitted_fields
	"subject.preferred_name" in d.permitted_fields
}

# rules: SEC11
test_after_the_golden_day_the_verified_channels_go if {
	d := decide(child_request(fx.earlier))
	"contact.phone" in d.permitted_fields
	d2 := decide(child_request(null))
	"contact.phone" in d2.permitted_fields
}

# rules: SEC11
test_the_golden_day_is_a_childs if {
	adult := json.patch(child_request(fx.later), [{"op": "replace", "path": "/subject/is_child", "value": false}])
	d := decide(adult)
	"contact.phone" in d.permitted_fields
}

# rules: T6
test_a_routine_referral_never_carries_the_contact_record if {
	d := decide(fx.request(
		"protection_support",
		fx.recipient("a-ngo", "ngo"),
		["contact.phone", "subject.preferred_name"],
		[fx.consent("c-ngo", "protection_support", ["a-ngo"], "full", ["D1", "D3"])],
	))
	reason_of(d, "contact.phone") == "not_in_profile"
	"contact.phone" in decide(advocate_request("verified_safe")).permitted_fields
}
