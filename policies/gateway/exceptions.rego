# METADATA
# title: Lawful exceptions and court orders
# description: |
#   Validates a claimed exception grant against data.gateway_data.exceptions (digest 4):
#   it must be an enabled basis, published in advance by the requesting agency for
#   that scenario (L1, S35), approved by a second approver who is not the requester
#   (digest 8.2 item 6), unexpired and not longer-lived than the basis allows, for the
#   named recipient, within the basis' recipient kinds, purposes and classes (e.g. L3:
#   allergies and medication to healthcare only). A court order reference is the L8
#   basis for the minimal therapy record (CR23, S24). Single use is enforced by the gateway.
package gateway.exceptions

import rego.v1

# What the decision and children.rego read. Most requests claim neither an exception nor a
# court order: then nothing here applies.
findings := object.union(data.gateway.model.no_findings, {
	"granted_fields": set(),
	"court_order_fields": set(),
	"valid": false,
	"claimed_basis": "",
	"basis_available": false,
}) if {
	not claimed
	not court_order_claimed
} else := {
	"overall_reasons": overall_reasons,
	"hard_denials": {},
	"hard_class_denials": {},
	"diagnostics": diagnostics,
	"class_diagnostics": {},
	"explanations": explanations,
	"granted_fields": granted_fields,
	"court_order_fields": court_order_fields,
	"valid": valid,
	"claimed_basis": claimed_basis,
	"basis_available": basis_available,
}

claimed if {
	x := input.exception
	is_object(x)
	count(x) > 0
}

claimed_basis := data.gateway.model.text(data.gateway.model.exception, "basis")

basis := data.gateway_data.exceptions.exceptions[claimed_basis]

known_basis if basis

_claimable if {
	basis.enabled == true
	basis.claim == "exception"
}

_approved if data.gateway.model.exception.approved == true

_second_approver_ok if {
	approver := data.gateway.model.text(data.gateway.model.exception, "second_approver_id")
	approver != ""
	approver != data.gateway.model.strings.requester_user_id
}

_expires_ns := data.gateway.model.timestamp(data.gateway.model.exception.expires_at)

_max_validity_ns := ((basis.max_validity_hours * 3600) * 1000000000)

_unexpired if {
	_expires_ns > data.gateway.model.now_ns
	_expires_ns - data.gateway.model.now_ns <= _max_validity_ns
}

_recipient_matches if data.gateway.model.text(data.gateway.model.exception, "recipient_agency_id") == data.gateway.model.strings.recipient_agency_id

_recipient_kind_allowed if data.gateway.model.strings.recipient_kind in basis.recipient_kinds

_purpose_allowed if count(basis.purposes) == 0

_purpose_allowed if data.gateway.model.strings.purpose in basis.purposes

# L1: the requesting agency published this basis and scenario in advance.
_published if {
	policy := data.gateway.model.requester.exception_policy
	is_object(policy)
	scenarios := policy[claimed_basis]
	is_array(scenarios)
	data.gateway.model.text(data.gateway.model.exception, "scenario") in scenarios
}

_child_ok if basis.child_only == false

_child_ok if data.gateway.children.is_child

exception_reasons contains "exception_unknown_basis" if {
	claimed
	not known_basis
}

exception_reasons contains "exception_basis_not_enabled" if {
	claimed
	known_basis
	not _claimable
}

exception_reasons contains "exception_not_approved" if {
	claimed
	not _approved
}

exception_reasons contains "exception_second_approver_missing" if {
	claimed
	not _second_approver_ok
}

exception_reasons contains "exception_expired" if {
	claimed
	not _unexpired
}

exception_reasons contains "exception_recipient_mismatch" if {
	claimed
	not _recipient_matches
}

exception_reasons contains "exception_recipient_role_not_allowed" if {
	claimed
	known_basis
	not _recipient_kind_allowed
}

exception_reasons contains "exception_purpose_not_allowed" if {
	claimed
	known_basis
	not _purpose_allowed
}

exception_reasons contains "exception_not_in_agency_policy" if {
	claimed
	not _published
}

exception_reasons contains "exception_requires_child" if {
	claimed
	known_basis
	not _child_ok
}

# Telling the person later (digest 7.5, open question 9): only for a reason and no longer than
# data.gateway_data.exceptions.deferral allows (settings pending legal sign-off, changed without code).
_deferral := data.gateway_data.exceptions.deferral

_deferring if not is_null(object.get(data.gateway.model.exception, "defer_until", null))

_deferral_ok if not _deferring

_deferral_ok if {
	_deferring
	data.gateway.model.text(data.gateway.model.exception, "defer_reason") in _deferral.reasons
	until_ns := data.gateway.model.timestamp(data.gateway.model.exception.defer_until)
	until_ns - data.gateway.model.now_ns <= ((_deferral.legal_max_days * 86400) * 1000000000)
}

exception_reasons contains "exception_deferral_not_allowed" if {
	claimed
	not _deferral_ok
}

default valid := false

valid if {
	claimed
	count(exception_reasons) == 0
}

_grant_classes := x if {
	x := data.gateway.model.exception.classes
	is_array(x)
} else := []

# Optional: the grant may name fields; otherwise every field of its classes.
_grant_fields := x if {
	x := data.gateway.model.exception.fields
	is_array(x)
} else := []

_field_in_grant(_) if count(_grant_fields) == 0

_field_in_grant(f) if f in _grant_fields

_field_in_basis(_) if count(basis.fields) == 0

_field_in_basis(f) if f in basis.fields

granted_fields contains f if {
	valid
	some f, k in data.gateway.model.request.field_class
	k in basis.classes
	k in _grant_classes
	_field_in_basis(f)
	_field_in_grant(f)
	not _consent_only(f)
}

# CR37: the person's own views and requests go only on their consent, never under a grant.
default _consent_only(_) := false

_consent_only(f) if f in data.gateway_data.firewalls.firewalls.own_views.fields

# reason code -> requested fields it explains
diagnostics := {"exception_scope": {f |
	valid
	granted := granted_fields
	some f in data.gateway.model.request.known_fields
	not f in granted
}}

# ---------------------------------------------------------------- L8 court order

court_order_claimed if {
	x := input.court_order
	is_object(x)
	count(x) > 0
}

court_order_valid if trim_space(data.gateway.model.text(data.gateway.model.court_order, "reference")) != ""

court_order_reasons contains "court_order_invalid" if {
	court_order_claimed
	not court_order_valid
}

court_order_fields contains f if {
	court_order_claimed
	court_order_valid
	l8 := data.gateway_data.exceptions.exceptions.L8
	l8.enabled == true
	data.gateway.model.strings.recipient_kind in l8.recipient_kinds
	some f, k in data.gateway.model.request.field_class
	k in l8.classes
	f in l8.fields
	data.gateway_data.fields.fields[f].court_disclosable == true
}

# The exception checks run only when an exception is claimed (most requests claim none).
overall_reasons := exception_reasons | court_order_reasons if claimed

overall_reasons := court_order_reasons if not claimed

# An exception or court order that actually covers a requested field stands in for consent.
default basis_available := false

basis_available if some _ in granted_fields

basis_available if some _ in court_order_fields

explanations contains concat(".", ["exception", claimed_basis]) if some _ in granted_fields
