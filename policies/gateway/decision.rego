# METADATA
# title: Gateway decision
# description: |
#   The one entry point, data.gateway.decision. A field is permitted when some basis
#   grants it (a consent, the L9 risk summary, a valid exception grant or a court order)
#   and no hard rule denies it, and nothing denies the request as a whole. Everything
#   else is denied, each field with the most telling reason (reasons.json priority).
#   Deny by default: if this document cannot be built, the default is a deny with
#   reason policy_undefined.
# entrypoint: true
package gateway

import rego.v1

default decision := {
	"allow": false,
	"permitted_fields": [],
	"denied_fields": [],
	"reasons": ["policy_undefined"],
	"basis": {"consent_ids": [], "exception": null},
	"obligations": {
		"include_risk_summary": false,
		"person_preview_required": false,
		"notify_person": false,
		"second_approver_required": false,
		"expires_at": null,
	},
	"policy_version": "unversioned",
	"explanation": [],
}

decision := {
	"allow": allow,
	"permitted_fields": sort(permitted_fields),
	"denied_fields": denied_fields,
	"reasons": sort(reasons),
	"basis": {"consent_ids": sort(basis_consent_ids), "exception": basis_exception},
	"obligations": obligations,
	"policy_version": policy_version,
	"explanation": sort(explanation),
}

# Set by the bundle loader (gateway/policy/bundle.py). A bundle without a version never
# decides: the decision falls back to the default deny.
policy_version := data.gateway_meta.version if is_string(data.gateway_meta.version)

# ---------------------------------------------------------------- bases

# For every applicable consent, the requested classes it may carry: what it lists, within
# the profile and scope tier (CR6, CR18), the police tier (CR36) and the health rules (CR20, CR23).
consent_grants := [{"consent": c, "classes": g} |
	some c in data.gateway.consent.applicable
	listed := {k | some k in c.data_classes}
	g := ((listed & data.gateway.minimisation.scope_classes(c.scope)) & data.gateway.cj.consent_classes(c)) & data.gateway.health.consent_classes
	count(g) > 0
]

_consent_classes := {k | some g in consent_grants; some k in g.classes}

consent_granted_fields := {f | some f, k in data.gateway.model.field_class; k in _consent_classes} & data.gateway.minimisation.within_limits

granted_fields := ((consent_granted_fields | data.gateway.minimisation.risk_fields) | data.gateway.exceptions.granted_fields) | data.gateway.exceptions.court_order_fields

# ---------------------------------------------------------------- denials

hard_denials := (((data.gateway.model.hard_denials | data.gateway.firewalls.hard_denials) | data.gateway.cj.hard_denials) | data.gateway.health.hard_denials) | data.gateway.children.hard_denials

hard_denied_fields := {d[0] | some d in hard_denials}

# Consent-side reasons give way when an exception or court order covers the request.
consent_reasons := set() if data.gateway.exceptions.basis_available else := data.gateway.consent.missing_reasons

global_reasons := (((data.gateway.model.overall_reasons | data.gateway.firewalls.overall_reasons) | data.gateway.exceptions.overall_reasons) | data.gateway.children.overall_reasons) | consent_reasons

permitted_fields := set() if count(global_reasons) > 0 else := (granted_fields & data.gateway.model.known_fields) - hard_denied_fields

final_reasons contains "no_fields_requested" if count(data.gateway.model.requested_fields) == 0

final_reasons contains "no_permitted_fields" if {
	count(data.gateway.model.requested_fields) > 0
	count(global_reasons) == 0
	count(permitted_fields) == 0
}

reasons := global_reasons | final_reasons

default allow := false

allow if count(reasons) == 0

# ---------------------------------------------------------------- per-field reasons

# Explanations of the consent path that failed; they matter only for denied fields.
diagnostics := (((data.gateway.consent.diagnostics | data.gateway.minimisation.diagnostics) | data.gateway.cj.diagnostics) | data.gateway.health.diagnostics) | data.gateway.exceptions.diagnostics

_denied := data.gateway.model.requested_fields - permitted_fields

_pairs := hard_denials | diagnostics

# For each denied field, the most telling of its reasons (lowest priority number).
_chosen := {f: ranked[0][1] |
	some f in _denied
	codes := {d[1] | some d in _pairs; d[0] == f} | global_reasons
	ranked := sort([[data.gateway_data.reasons.reasons[c].priority, c] | some c in codes])
	count(ranked) > 0
}

denied_fields := [{"field": f, "reason": object.get(_chosen, f, "not_permitted")} | some f in sort(_denied)]

# ---------------------------------------------------------------- basis

_permitted_by_consent := consent_granted_fields & permitted_fields

_basis_consents := {g.consent |
	some g in consent_grants
	some f in _permitted_by_consent
	data.gateway.model.field_class[f] in g.classes
} | {c |
	count(data.gateway.minimisation.risk_fields & permitted_fields) > 0
	some c in data.gateway.minimisation.risk_basis
}

basis_consent_ids := {c.id | some c in _basis_consents}

basis_exception := data.gateway.exceptions.claimed_basis if {
	count(data.gateway.exceptions.granted_fields & permitted_fields) > 0
} else := "L8" if {
	count(data.gateway.exceptions.court_order_fields & permitted_fields) > 0
} else := null

exception_used if basis_exception != null

# ---------------------------------------------------------------- obligations

default include_risk_summary := false

include_risk_summary if {
	allow
	data.gateway.minimisation.risk_summary_applies
}

# CR18, CR19: the person (or their advocate) previews a referral made on consent.
default person_preview_required := false

person_preview_required if {
	allow
	data.gateway.minimisation.referral_purpose
	count(basis_consent_ids) > 0
}

# The person and their advocate are told afterwards of an exception or court order.
default notify_person := false

notify_person if {
	allow
	exception_used
}

# Four eyes (digest 8.2 item 6): any S4 class released, and any exception.
default second_approver_required := false

second_approver_required if {
	allow
	some f in permitted_fields
	data.gateway.model.classes[data.gateway.model.field_class[f]].level >= 4
}

second_approver_required if {
	allow
	exception_used
}

_expiries contains [data.gateway.model.timestamp(c.expires_at), c.expires_at] if some c in _basis_consents

_expiries contains [data.gateway.model.timestamp(x.expires_at), x.expires_at] if {
	count(data.gateway.exceptions.granted_fields & permitted_fields) > 0
	x := data.gateway.model.exception
}

expires_at := sort(_expiries)[0][1] if {
	allow
	count(_expiries) > 0
} else := null

obligations := {
	"include_risk_summary": include_risk_summary,
	"person_preview_required": person_preview_required,
	"notify_person": notify_person,
	"second_approver_required": second_approver_required,
	"expires_at": expires_at,
}

# ---------------------------------------------------------------- explanation

_positive contains "CR1.consent" if count(basis_consent_ids) > 0

_positive contains "L8.court_order" if basis_exception == "L8"

_positive contains "CR18.preview" if person_preview_required

_positive contains "SEC6.four_eyes" if second_approver_required

_positive contains x if {
	allow
	some x in (data.gateway.minimisation.explanations | data.gateway.cj.explanations) | data.gateway.exceptions.explanations
}

explanation := ({data.gateway.model.reasons[r].explain | some r in reasons} | {data.gateway.model.reasons[d.reason].explain | some d in denied_fields}) | _positive
