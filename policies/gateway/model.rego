# METADATA
# title: Input model and catalogue look-ups
# description: |
#   Normalises the decision input so that every value other packages read has a safe
#   default: an absent or mistyped object becomes {}, a string "", a list [] or set().
#   Because of this, no rule elsewhere needs `not f(<possibly undefined ref>)`, the
#   construct on which regorus and OPA disagree (deps-probe Q3).
#   Other packages refer to these rules by full path (data.gateway.model.x): regorus
#   evaluates a whole package when it is reached through an import alias.
#
#   Performance (bench/decision.py, policies/README.md): regorus evaluates every rule
#   afresh for each decision and pays about 4 µs per rule, 1.5 µs per function call and
#   about 1 µs per expression or loop step, whatever it does; an index chain (x[a][b])
#   costs over 10 µs. So each package reports its findings in one rule, computed with
#   local variables and helper functions (a boolean helper has `default f(_) := false`
#   so that it can be used as a value), rule values are bound to local variables before
#   a loop, and shapes that depend on the data documents only come pre-indexed in
#   data.gateway_index (gateway/policy/index.py, checked by model_test.rego).
#
#   Findings (every package's `findings` rule has these keys):
#     overall_reasons     set of reason codes that deny the whole request
#     hard_denials        reason code -> requested fields no basis opens
#     hard_class_denials  reason code -> requested classes no basis opens (all their fields)
#     diagnostics         reason code -> requested fields, why the consent path failed
#     class_diagnostics   reason code -> requested classes (all their fields), likewise
#     explanations        ids of rules that fired, reported on an allow
package gateway.model

import rego.v1

# Findings with nothing in them.
no_findings := {
	"overall_reasons": set(),
	"hard_denials": {},
	"hard_class_denials": {},
	"diagnostics": {},
	"class_diagnostics": {},
	"explanations": set(),
}

# ---------------------------------------------------------------- normalised input

requester := input.requester if is_object(input.requester) else := {}

recipient := input.recipient if is_object(input.recipient) else := {}

subject := input.subject if is_object(input.subject) else := {}

# {} when no exception is claimed (input.exception is null or absent).
exception := input.exception if is_object(input.exception) else := {}

# {} when no court order is given.
court_order := input.court_order if is_object(input.court_order) else := {}

consents := input.consents if is_array(input.consents) else := []

# Every string the policy reads from the input, "" when absent or not a string. The first
# body is the usual case (every value present and a string); the second handles the rest.
strings := s if {
	s := {
		"purpose": input.purpose,
		"requester_kind": input.requester.kind,
		"requester_jurisdiction": input.requester.jurisdiction,
		"requester_user_role": input.requester.user_role,
		"requester_user_id": input.requester.user_id,
		"recipient_agency_id": input.recipient.agency_id,
		"recipient_kind": input.recipient.kind,
		"recipient_jurisdiction": input.recipient.jurisdiction,
		"recipient_user_role": object.get(input, ["recipient", "user_role"], ""),
		"recipient_represents_state": text(input.recipient, "represents_state"),
		"subject_id": input.subject.id,
		"country_of_origin": input.subject.country_of_origin,
		"placement_agency_id": input.subject.placement_agency_id,
	}
	every v in s {
		is_string(v)
	}
} else := object.union(_no_strings, {name: value |
	some name, value in {
		"purpose": object.get(input, "purpose", null),
		"requester_kind": object.get(requester, "kind", null),
		"requester_jurisdiction": object.get(requester, "jurisdiction", null),
		"requester_user_role": object.get(requester, "user_role", null),
		"requester_user_id": object.get(requester, "user_id", null),
		"recipient_agency_id": object.get(recipient, "agency_id", null),
		"recipient_kind": object.get(recipient, "kind", null),
		"recipient_jurisdiction": object.get(recipient, "jurisdiction", null),
		"recipient_user_role": object.get(recipient, "user_role", null),
		"recipient_represents_state": text(recipient, "represents_state"),
		"subject_id": object.get(subject, "id", null),
		"country_of_origin": object.get(subject, "country_of_origin", null),
		"placement_agency_id": object.get(subject, "placement_agency_id", null),
	}
	is_string(value)
})

_no_strings := {
	"purpose": "",
	"requester_kind": "",
	"requester_jurisdiction": "",
	"requester_user_role": "",
	"requester_user_id": "",
	"recipient_agency_id": "",
	"recipient_kind": "",
	"recipient_jurisdiction": "",
	"recipient_user_role": "",
	"recipient_represents_state": "",
	"subject_id": "",
	"country_of_origin": "",
	"placement_agency_id": "",
}

# text(obj, key) is obj[key] when it is a string, "" otherwise.
text(obj, key) := obj[key] if is_string(obj[key]) else := ""

# ---------------------------------------------------------------- time

# RFC 3339 strings. A string that is not one makes both engines fail, which the
# gateway turns into a deny (policy_engine_error): fail closed, never "no expiry".
timestamp(s) := time.parse_rfc3339_ns(s) if is_string(s)

now_ns := timestamp(input.now)

# ---------------------------------------------------------------- fields

# The requested fields: field_class (field name -> data class, for every requested field
# in the catalogue), known_fields (its keys), requested_fields (every requested name that
# is a string), unknown_fields and requested_classes.
request := {
	"field_class": field_class,
	"known_fields": known,
	"requested_fields": requested,
	"unknown_fields": requested - known,
	"requested_classes": {k | some k in field_class},
} if {
	names := input.fields
	is_array(names)
	catalogue := data.gateway_data.fields.fields
	field_class := {f: catalogue[f].class | some f in names}
	known := object.keys(field_class)

	# When every name is a distinct catalogue field, nothing else needs checking.
	requested := known | {f | count(known) != count(names); some f in names; not field_class[f]; is_string(f)}
} else := {
	"field_class": {},
	"known_fields": set(),
	"requested_fields": set(),
	"unknown_fields": set(),
	"requested_classes": set(),
}

# ---------------------------------------------------------------- recipient

# The recipient is registered with a verified key (digest 8.2 item 2).
default recipient_verified(_) := false

recipient_verified(recipient_doc) if {
	recipient_doc.registered == true
	recipient_doc.key_verified == true
}

# A safety flag (is_child, age_disputed, asylum_claimed, possible_refugee, guardian_suspected)
# is set unless it is exactly false or null: a mistyped value ("false", 0, "no") fails closed.
# gateway/policy/flags.py is the same rule in Python.
default flag(_) := false

flag(v) if {
	v != false
	v != null
}

# The subject's safety flag `name` (absent: not set).
subject_flag(name) := flag(object.get(subject, name, null))

# The state the recipient acts for: the one it represents (an embassy, consulate or police
# liaison of XX sits in NL but acts for XX), else the one it is registered in. s is `strings`.
recipient_state(s) := s.recipient_represents_state if {
	s.recipient_represents_state != ""
} else := s.recipient_jurisdiction

# An authority of the subject's country of origin (digest 8.2 item 14, CR24), for every way
# one can be registered: the kind country_of_origin_authority; the state it represents, or
# the jurisdiction it sits in, equal to the recorded country of origin; a state-representing
# kind that does not say which state (it may be that one); and, when the country of origin is
# not recorded, any recipient acting for a foreign state. s is `strings`.
default recipient_in_country_of_origin(_) := false

recipient_in_country_of_origin(s) if s.recipient_kind == "country_of_origin_authority"

recipient_in_country_of_origin(s) if {
	s.country_of_origin != ""
	s.recipient_jurisdiction == s.country_of_origin
}

recipient_in_country_of_origin(s) if {
	s.country_of_origin != ""
	s.recipient_represents_state == s.country_of_origin
}

recipient_in_country_of_origin(s) if {
	s.recipient_represents_state == ""
	s.recipient_kind in data.gateway_data.firewalls.firewalls.country_of_origin.state_representing_kinds
}

recipient_in_country_of_origin(s) if {
	s.country_of_origin == ""
	s.recipient_represents_state != ""
	s.recipient_represents_state != s.requester_jurisdiction
}

# Item 14 for a person who claimed asylum or may be a refugee: never any authority of a state
# the person may have fled. Beyond the country of origin above: when that country is not
# recorded, a state authority acting for a state other than the requester's. s is `strings`.
default recipient_of_state_possibly_fled(_) := false

recipient_of_state_possibly_fled(s) if recipient_in_country_of_origin(s)

recipient_of_state_possibly_fled(s) if {
	s.country_of_origin == ""
	data.gateway_data.roles.agency_kinds[s.recipient_kind].state_authority == true
	recipient_state(s) != s.requester_jurisdiction
}

# Requester and recipient are in different jurisdictions. s is `strings`.
cross_border(s) := s.requester_jurisdiction != s.recipient_jurisdiction

# ---------------------------------------------------------------- input validity

# s is `strings`.
default input_valid(_) := false

input_valid(s) if {
	now_ns
	is_array(input.fields)
	is_array(input.consents)
	s.subject_id != ""
	s.requester_kind != ""
	s.requester_jurisdiction != ""
	roles := data.gateway_data.roles.user_roles
	roles[s.requester_user_role]
	s.recipient_agency_id != ""
	s.recipient_jurisdiction != ""
	_recipient_user_role_ok(s.recipient_user_role, roles)
}

_recipient_user_role_ok(role, _) if role == ""

_recipient_user_role_ok(role, roles) if roles[role]

findings := {
	"overall_reasons": ({"input_invalid" | not input_valid(s)} | {"unknown_purpose" | not purposes[s.purpose]}) | {"unknown_recipient_role" | not kinds[s.recipient_kind]},
	"hard_denials": {"unknown_field": request.unknown_fields},
	"hard_class_denials": {},
	"diagnostics": {},
	"class_diagnostics": {},
	"explanations": set(),
} if {
	s := strings
	purposes := data.gateway_data.purposes.purposes
	kinds := data.gateway_data.roles.agency_kinds
}
