package gateway.model_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

test_deny_an_empty_input if {
	d := decide({})
	d.allow == false
	"input_invalid" in d.reasons
	"unknown_purpose" in d.reasons
	"unknown_recipient_role" in d.reasons
}

test_deny_without_a_valid_time if {
	d := decide(object.union(fx.ngo_referral, {"now": 17}))
	d.allow == false
	"input_invalid" in d.reasons
}

test_deny_without_a_subject_id if {
	d := decide(json.patch(fx.ngo_referral, [{"op": "remove", "path": "/subject/id"}]))
	d.allow == false
	"input_invalid" in d.reasons
}

test_deny_an_unknown_requester_user_role if {
	d := decide(json.patch(fx.ngo_referral, [{"op": "replace", "path": "/requester/user_role", "value": "intern"}]))
	d.reasons == ["input_invalid"]
}

test_deny_an_unknown_purpose if {
	d := decide(object.union(fx.ngo_referral, {"purpose": "marketing"}))
	"unknown_purpose" in d.reasons
	d.allow == false
}

test_deny_an_unknown_recipient_kind if {
	d := decide(json.patch(fx.ngo_referral, [{"op": "replace", "path": "/recipient/kind", "value": "tabloid"}]))
	"unknown_recipient_role" in d.reasons
}

test_unknown_field_is_denied_and_the_rest_still_decided if {
	d := decide(object.union(fx.ngo_referral, {"fields": ["subject.preferred_name", "subject.shoe_size"]}))
	d.allow == true
	d.permitted_fields == ["subject.preferred_name"]
	reason_of(d, "subject.shoe_size") == "unknown_field"
}

test_every_denied_reason_is_a_documented_code if {
	every _, inp in fx.corpus {
		d := decide(inp)
		every r in d.reasons {
			data.gateway_data.reasons.reasons[r]
		}
		every x in d.denied_fields {
			data.gateway_data.reasons.reasons[x.reason]
		}
	}
}
