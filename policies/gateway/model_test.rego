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

# The pre-indexed data (data.gateway_index, gateway/policy/index.py) restates the data
# documents exactly: recomputed here the slow way, on both engines.
test_the_index_restates_the_data_documents if _restates(data.gateway_index, data.gateway_data)

test_the_index_check_notices_a_wrong_index if {
	not _restates(json.patch(data.gateway_index, [{"op": "replace", "path": "/class_sets/location", "value": {}}]), data.gateway_data)
	not _restates(json.patch(data.gateway_index, [{"op": "remove", "path": "/field_sets/forensic/medico_legal.forensic_findings"}]), data.gateway_data)
	not _restates(json.patch(data.gateway_index, [{"op": "replace", "path": "/profiles/protection_support/ngo/outside_limits", "value": {}}]), data.gateway_data)
	not _restates(json.patch(data.gateway_index, [{"op": "replace", "path": "/scopes/full/reach", "value": "core"}]), data.gateway_data)
}

_restates(index, docs) if {
	classes := docs.classes.classes
	fields := docs.fields.fields
	every flag in ["identifying", "health", "location", "risk_summary_excluded"] {
		index.class_sets[flag] == {k: true | some k, spec in classes; spec[flag] == true}
	}
	index.class_sets.non_identifying == {k: true | some k, spec in classes; spec.identifying == false}
	index.class_sets.level_4 == {k: true | some k, spec in classes; spec.level >= 4}
	every flag in ["risk_summary", "criminal_justice_only", "therapy_confined", "court_disclosable", "forensic"] {
		index.field_sets[flag] == {f: true | some f, spec in fields; spec[flag] == true}
	}
	{purpose: object.keys(by_kind) | some purpose, by_kind in index.profiles} == {purpose: object.keys(by_kind) | some purpose, by_kind in docs.profiles.profiles}
	every purpose, by_kind in docs.profiles.profiles {
		every kind, profile in by_kind {
			indexed := object.get(index.profiles, [purpose, kind], null)
			indexed.core == {k: true | some k in profile.classes}
			indexed.extended == {k: true | some k in array.concat(profile.classes, profile.full_only)}
			indexed.outside_limits == {f: true |
				some f, spec in fields
				limits := profile.field_limits[spec.class]
				not f in limits
			}
		}
	}
	object.keys(index.scopes) == object.keys(docs.scopes.scopes)
	every scope, spec in docs.scopes.scopes {
		object.get(index.scopes[scope], "reach", null) == object.get({true: "extended", false: "core"}, spec.extended_profile, null)
		object.get(index.scopes[scope], "tier", null) == object.get({true: "non_identifying", false: "all"}, spec.strips_identifying, null)
	}
}
