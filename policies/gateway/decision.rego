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
	"allow": o.allow,
	"permitted_fields": sort(o.permitted),
	"denied_fields": denied_fields,
	"reasons": sort(o.reasons),
	"basis": {"consent_ids": sort(b.consent_ids), "exception": b.exception},
	"obligations": obligations,
	"policy_version": policy_version,
	"explanation": sort(explanation),
} if {
	o := outcome
	b := basis
}

# Set by the bundle loader (gateway/policy/bundle.py). A bundle without a version never
# decides: the decision falls back to the default deny.
policy_version := data.gateway_meta.version if is_string(data.gateway_meta.version)

# Performance: regorus pays about 4 µs for every rule it evaluates (see model.rego), so
# the decision is computed in few rules, each with named local steps.

# ---------------------------------------------------------------- bases

# For every applicable consent, the requested classes it may carry: what it lists, within
# the profile and scope tier (CR6, CR18), the police tier (CR36) and the health rules (CR20, CR23).
consent_grants := [{"consent": c, "classes": g} |
	scopes := data.gateway.minimisation.scope_classes
	health := data.gateway.health.consent_classes
	some c in data.gateway.consent.applicable
	listed := {k | some k in c.data_classes}
	scope := scopes[c.scope]
	g := ((listed & scope.classes) & data.gateway.cj.consent_classes(c)) & health
	count(g) > 0
]

# ---------------------------------------------------------------- the outcome

# Every package's findings (see model.rego for their keys).
_findings := [
	data.gateway.model.findings,
	data.gateway.consent.findings,
	data.gateway.minimisation.findings,
	data.gateway.cj.findings,
	data.gateway.health.findings,
	data.gateway.firewalls.findings,
	data.gateway.contact.findings,
	data.gateway.children.findings,
	data.gateway.exceptions.findings,
]

# by_consent: the requested fields an applicable consent grants. A field is permitted when
# some basis grants it (by_consent, the L9 risk summary, an exception grant, a court order),
# no hard rule denies it (hard_denials, or hard_class_denials of its class), and no global
# reason denies the whole request. Consent-side reasons give way when an exception or court
# order covers the request.
outcome := {
	"by_consent": by_consent,
	"global": global,
	"permitted": permitted,
	"reasons": reasons,
	"allow": count(reasons) == 0,
} if {
	request := data.gateway.model.request
	field_class := request.field_class
	exceptions := data.gateway.exceptions.findings
	found := _findings

	consent_classes := {k | some g in consent_grants; some k in g.classes}
	by_consent := {f |
		count(consent_classes) > 0
		some f, k in field_class
		k in consent_classes
	} & data.gateway.minimisation.within_limits
	granted := ((by_consent | data.gateway.minimisation.risk_fields) | exceptions.granted_fields) | exceptions.court_order_fields

	hard_classes := union({ks | some x in found; some ks in x.hard_class_denials})
	hard_denied := union({fs | some x in found; some fs in x.hard_denials}) | {f |
		count(hard_classes) > 0
		some f, k in field_class
		k in hard_classes
	}

	consent_reasons := {r | not exceptions.basis_available; some r in data.gateway.consent.missing_reasons}
	global := union({x.overall_reasons | some x in found}) | consent_reasons
	permitted := {f | count(global) == 0; some f in ((granted & request.known_fields) - hard_denied)}

	requested := count(request.requested_fields)
	final := {"no_fields_requested" | requested == 0} | {"no_permitted_fields" |
		requested > 0
		count(global) == 0
		count(permitted) == 0
	}
	reasons := global | final
}

# ---------------------------------------------------------------- per-field reasons

# Every denied field gets the most telling of its reasons (lowest priority number): the
# hard denials and diagnostics that name it or its class, and the global reasons.
denied_fields := [{"field": f, "reason": object.get(chosen, f, "not_permitted")} | some f in sort(denied)] if {
	o := outcome
	denied := data.gateway.model.request.requested_fields - o.permitted
	field_class := data.gateway.model.request.field_class
	found := _findings
	field_reasons := [[code, fs] |
		some x in found
		some kind in ["hard_denials", "diagnostics"]
		some code, fs in x[kind]
		fs != set()
	]
	class_reasons := [[code, ks] |
		some x in found
		some kind in ["hard_class_denials", "class_diagnostics"]
		some code, ks in x[kind]
		ks != set()
	]
	catalogue := data.gateway_data.reasons.reasons
	global := o.global
	chosen := {f: code |
		some f in denied
		codes := ({c | some [c, fs] in field_reasons; f in fs} | {c |
			k := field_class[f]
			some [c, ks] in class_reasons
			k in ks
		}) | global
		ranked := sort([[catalogue[c].priority, c] | some c in codes])
		first := ranked[0]
		[_, code] := first
	}
}

# ---------------------------------------------------------------- basis

# consents: those that carry a permitted field, and those the risk summary rides on;
# exception: the exception basis ("L8" for a court order) when it carries a permitted field.
# Nothing is permitted on a deny, so nothing is relied on.
basis := {"consents": consents, "consent_ids": {c.id | some c in consents}, "exception": _basis_exception(o.permitted)} if {
	o := outcome
	o.allow
	field_class := data.gateway.model.request.field_class
	classes := {field_class[f] | some f in (o.by_consent & o.permitted)}
	consents := {g.consent | some g in consent_grants; count(g.classes & classes) > 0} | {c |
		count(data.gateway.minimisation.risk_fields & o.permitted) > 0
		some c in data.gateway.minimisation.risk_basis
	}
} else := {"consents": set(), "consent_ids": set(), "exception": null}

_basis_exception(permitted) := exceptions.claimed_basis if {
	exceptions := data.gateway.exceptions.findings
	count(exceptions.granted_fields & permitted) > 0
} else := "L8" if {
	count(data.gateway.exceptions.findings.court_order_fields & permitted) > 0
} else := null

# ---------------------------------------------------------------- obligations

# Obligations are all false / null on a deny. The risk summary goes with a referral that
# carries it (T1, L9); the person and their advocate are told afterwards of an exception or
# court order; expires_at is the earliest expiry of the consents and grant relied on.
obligations := {
	"include_risk_summary": count(data.gateway.minimisation.risk_basis) > 0,
	"person_preview_required": person_preview_required(b),
	"notify_person": b.exception != null,
	"second_approver_required": second_approver_required(o.permitted, b),
	"expires_at": _earliest(expiries),
} if {
	o := outcome
	o.allow
	b := basis
	exceptions := data.gateway.exceptions.findings
	# (a consent relied on is in force, so its expires_at is an RFC 3339 string)
	expiries := {[time.parse_rfc3339_ns(c.expires_at), c.expires_at] | some c in b.consents} | {[data.gateway.model.timestamp(x.expires_at), x.expires_at] |
		count(exceptions.granted_fields & o.permitted) > 0
		x := data.gateway.model.exception
	}
} else := {
	"include_risk_summary": false,
	"person_preview_required": false,
	"notify_person": false,
	"second_approver_required": false,
	"expires_at": null,
}

_earliest(expiries) := x if {
	first := sort(expiries)[0]
	[_, x] := first
} else := null

# CR18, CR19: the person (or their advocate) previews a referral made on consent (b is basis).
default person_preview_required(_) := false

person_preview_required(b) if {
	data.gateway.minimisation.referral_purpose(data.gateway.model.strings)
	count(b.consent_ids) > 0
}

# Four eyes (digest 8.2 item 6): any exception, and any S4 class released (b is basis).
default second_approver_required(_, _) := false

second_approver_required(_, b) if b.exception != null

second_approver_required(permitted, _) if {
	field_class := data.gateway.model.request.field_class
	level_4 := data.gateway_index.class_sets.level_4
	some f in permitted
	k := field_class[f]
	level_4[k]
}

# ---------------------------------------------------------------- explanation

# The rules that fired: every reason's, every denied field's, and the positive ones.
explanation := (({catalogue[r].explain | some r in o.reasons} | {catalogue[d.reason].explain | some d in denied_fields}) | positive) if {
	o := outcome
	b := basis
	ob := obligations
	catalogue := data.gateway_data.reasons.reasons
	positive := (((({"CR1.consent" | count(b.consent_ids) > 0} | {"L8.court_order" | b.exception == "L8"}) | {"CR18.preview" | ob.person_preview_required}) | {"SEC6.four_eyes" | ob.second_approver_required}) | {id |
		o.allow
		some x in _findings
		some id in x.explanations
	})
}
