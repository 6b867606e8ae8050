# METADATA
# title: Minimisation
# description: |
#   Profile minimisation per (purpose, recipient kind) (CR18, digest 6.6), the three
#   scope tiers (CR6), the risk summary that travels with a referral to a receiving
#   service (T1, L9, L9b) and the preview obligation (CR18, CR19).
package gateway.minimisation

import rego.v1

# The default profile for this purpose and recipient kind, as sets (data.gateway_index):
# core = its classes (the relevant portion), extended = its classes and full_only,
# outside_limits = the fields its field_limits exclude. A missing one lets nothing through.
profile := p if {
	s := data.gateway.model.strings
	by_kind := data.gateway_index.profiles[s.purpose]
	p := by_kind[s.recipient_kind]
} else := {
	"core": {},
	"extended": {},
	"outside_limits": {},
}

# ---------------------------------------------------------------- CR6 scope tiers, CR18 profiles

# scope -> reach: the requested classes of the profile that a consent with this scope
# reaches (the relevant portion is the profile's classes; full adds full_only); tier: the
# requested classes its tier may carry (case_specific_no_personal_data strips every
# identifying class); classes: both, what such a consent may carry to this recipient.
# Computed for the scopes of the applicable consents only.
scope_classes := {scope: {"reach": reach, "tier": tier, "classes": reach & tier} |
	requested := data.gateway.model.request.requested_classes
	p := profile
	index := data.gateway_index
	some scope in {c.scope | some c in data.gateway.consent.applicable}
	spec := index.scopes[scope]
	reach := _part(spec.reach, requested, p, index)
	tier := _part(spec.tier, requested, p, index)
}

# The requested classes in a part of the profile (core, extended) or of a tier (all, non_identifying).
_part("core", requested, p, _) := {k | some k in requested; p.core[k]}

_part("extended", requested, p, _) := {k | some k in requested; p.extended[k]}

_part("all", requested, _, _) := requested

_part("non_identifying", requested, _, index) := {k |
	non_identifying := index.class_sets.non_identifying
	some k in requested
	non_identifying[k]
}

# field_limits narrows a class to named fields (e.g. the minimal identity subset).
within_limits := data.gateway.model.request.known_fields - object.keys(profile.outside_limits)

# ---------------------------------------------------------------- T1 / L9 risk summary

# A referral that is lawful on consent (not the no-personal-data tier), for a purpose that
# carries the risk summary, to a service provider: the risk summary goes with it.
risk_basis := [c |
	s := data.gateway.model.strings
	data.gateway_data.purposes.purposes[s.purpose].risk_summary == true
	data.gateway_data.roles.agency_kinds[s.recipient_kind].service_provider == true
	scopes := data.gateway_data.scopes.scopes
	some c in data.gateway.consent.applicable
	scopes[c.scope].strips_identifying == false
]

# The L9 basis covers the summary fields only: never narrative, health, therapy or location.
risk_fields := {f |
	count(risk_basis) > 0
	field_class := data.gateway.model.request.field_class
	some f, _ in data.gateway_index.field_sets.risk_summary
	field_class[f] == "D12"
}

# ---------------------------------------------------------------- CR18 preview

default referral_purpose(_) := false

# s is data.gateway.model.strings
referral_purpose(s) if data.gateway_data.purposes.purposes[s.purpose].referral == true

# ---------------------------------------------------------------- findings

findings := {
	"overall_reasons": set(),
	"hard_denials": {},
	"hard_class_denials": {},
	"diagnostics": {
		"not_in_profile": request.known_fields - within_limits,
		"risk_summary_narrative_excluded": {f |
			summary
			catalogue := data.gateway_data.fields.fields
			some f, k in request.field_class
			k == "D12"
			catalogue[f].risk_summary == false
		},
	},
	"class_diagnostics": {
		"not_in_profile": requested - _reach(applicable, scopes, requested),
		"scope_excludes_identifying": (data.gateway.consent.listed_classes & requested) - tier_reach,
		"risk_summary_narrative_excluded": {k |
			summary
			excluded := data.gateway_index.class_sets.risk_summary_excluded
			some k in requested
			excluded[k]
		},
	},
	"explanations": {"L9.risk_summary" | summary},
} if {
	request := data.gateway.model.request
	requested := request.requested_classes
	applicable := data.gateway.consent.applicable
	scopes := scope_classes
	tier_reach := {k |
		some c in applicable
		tier := scopes[c.scope].tier
		some k in c.data_classes
		k in tier
	}
	summary := count(risk_basis) > 0
}

# The classes the applicable consents reach; with none, what even a full consent could not reach.
_reach(applicable, scopes, _) := {k | some c in applicable; some k in scopes[c.scope].reach} if count(applicable) > 0

_reach(applicable, _, requested) := {k | p := profile; some k in requested; p.extended[k]} if count(applicable) == 0
