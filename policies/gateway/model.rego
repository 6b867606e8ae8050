# METADATA
# title: Input model and catalogue look-ups
# description: |
#   Normalises the decision input so that every value other packages read has a safe
#   default: an absent or mistyped object becomes {}, a string "", a list [] or set().
#   Because of this, no rule elsewhere needs `not f(<possibly undefined ref>)`, the
#   construct on which regorus and OPA disagree (deps-probe Q3).
#   Other packages refer to these rules by full path (data.gateway.model.x): regorus
#   evaluates a whole package when it is reached through an import alias.
package gateway.model

import rego.v1

# ---------------------------------------------------------------- data documents

classes := data.gateway_data.classes.classes

fields := data.gateway_data.fields.fields

kinds := data.gateway_data.roles.agency_kinds

user_roles := data.gateway_data.roles.user_roles

purposes := data.gateway_data.purposes.purposes

profiles := data.gateway_data.profiles.profiles

scopes := data.gateway_data.scopes.scopes

exception_bases := data.gateway_data.exceptions.exceptions

firewalls := data.gateway_data.firewalls.firewalls

reasons := data.gateway_data.reasons.reasons

# ---------------------------------------------------------------- normalised input

requester := input.requester if is_object(input.requester) else := {}

recipient := input.recipient if is_object(input.recipient) else := {}

subject := input.subject if is_object(input.subject) else := {}

# {} when no exception is claimed (input.exception is null or absent).
exception := input.exception if is_object(input.exception) else := {}

# {} when no court order is given.
court_order := input.court_order if is_object(input.court_order) else := {}

consents := input.consents if is_array(input.consents) else := []

# Every string the policy reads from the input, "" when absent or not a string. One object
# rather than one rule per value: regorus pays a few microseconds for every rule it evaluates.
strings := {name: value |
	some name, path in {
		"purpose": ["purpose"],
		"requester_kind": ["requester", "kind"],
		"requester_jurisdiction": ["requester", "jurisdiction"],
		"requester_user_role": ["requester", "user_role"],
		"requester_user_id": ["requester", "user_id"],
		"recipient_agency_id": ["recipient", "agency_id"],
		"recipient_kind": ["recipient", "kind"],
		"recipient_jurisdiction": ["recipient", "jurisdiction"],
		"recipient_user_role": ["recipient", "user_role"],
		"subject_id": ["subject", "id"],
		"country_of_origin": ["subject", "country_of_origin"],
		"placement_agency_id": ["subject", "placement_agency_id"],
	}
	value := concat("", [v | v := object.get(input, path, null); is_string(v)])
}

# text(obj, key) is obj[key] when it is a string, "" otherwise.
text(obj, key) := obj[key] if is_string(obj[key]) else := ""

# ---------------------------------------------------------------- time

# RFC 3339 strings. A string that is not one makes both engines fail, which the
# gateway turns into a deny (policy_engine_error): fail closed, never "no expiry".
timestamp(s) := time.parse_rfc3339_ns(s) if is_string(s)

now_ns := timestamp(input.now)

# ---------------------------------------------------------------- fields

requested_fields := {f | some f in input.fields; is_string(f)} if is_array(input.fields) else := set()

# field name -> data class, for every requested field in the catalogue
field_class := {f: fields[f].class | some f in requested_fields}

known_fields := {f | some f, _ in field_class}

unknown_fields := requested_fields - known_fields

requested_classes := {k | some k in field_class}

# ---------------------------------------------------------------- roles and purposes

known_purpose if purposes[strings.purpose]

known_recipient_kind if kinds[strings.recipient_kind]

recipient_role := kinds[strings.recipient_kind]

recipient_is_service_provider if recipient_role.service_provider == true

recipient_is_health if recipient_role.health == true

recipient_is_public if recipient_role.public == true

recipient_verified if {
	recipient.registered == true
	recipient.key_verified == true
}

# An authority of the subject's country of origin: by kind, or by jurisdiction
# (an embassy's jurisdiction is the state it represents).
recipient_in_country_of_origin if strings.recipient_kind == "country_of_origin_authority"

recipient_in_country_of_origin if {
	strings.country_of_origin != ""
	strings.recipient_jurisdiction == strings.country_of_origin
}

cross_border if strings.requester_jurisdiction != strings.recipient_jurisdiction

_recipient_user_role_ok if strings.recipient_user_role == ""

_recipient_user_role_ok if user_roles[strings.recipient_user_role]

# ---------------------------------------------------------------- input validity

input_valid if {
	now_ns
	is_array(input.fields)
	is_array(input.consents)
	strings.subject_id != ""
	strings.requester_kind != ""
	strings.requester_jurisdiction != ""
	user_roles[strings.requester_user_role]
	strings.recipient_agency_id != ""
	strings.recipient_jurisdiction != ""
	_recipient_user_role_ok
}

overall_reasons contains "input_invalid" if not input_valid

overall_reasons contains "unknown_purpose" if not known_purpose

overall_reasons contains "unknown_recipient_role" if not known_recipient_kind

hard_denials contains [f, "unknown_field"] if some f in unknown_fields
