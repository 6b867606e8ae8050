# METADATA
# title: Minimisation
# description: |
#   Profile minimisation per (purpose, recipient kind) (CR18, digest 6.6), the three
#   scope tiers (CR6), the risk summary that travels with a referral to a receiving
#   service (T1, L9, L9b) and the preview obligation (CR18, CR19).
package gateway.minimisation

import rego.v1

# The default profile for this purpose and recipient kind; a missing one lets nothing through.
profile := p if {
	p := data.gateway.model.profiles[data.gateway.model.strings.purpose][data.gateway.model.strings.recipient_kind]
} else := {
	"classes": [],
	"full_only": [],
	"field_limits": {},
}

_requested := data.gateway.model.requested_classes

_core := {k | some k in profile.classes} & _requested

_extended := _core | ({k | some k in profile.full_only} & _requested)

# ---------------------------------------------------------------- CR6 scope tiers

# case_specific_no_personal_data strips every identifying class.
_non_identifying := {k | some k in _requested; data.gateway.model.classes[k].identifying == false}

tier_classes(scope) := _requested if data.gateway.model.scopes[scope].strips_identifying == false

tier_classes(scope) := _non_identifying if data.gateway.model.scopes[scope].strips_identifying == true

# ---------------------------------------------------------------- CR18 profiles

# The relevant portion is profile.classes; a consent with scope full may add full_only.
reachable_classes(scope) := _extended if data.gateway.model.scopes[scope].extended_profile == true

reachable_classes(scope) := _core if data.gateway.model.scopes[scope].extended_profile == false

# The classes a consent with this scope may carry to this recipient for this purpose.
scope_classes(scope) := reachable_classes(scope) & tier_classes(scope)

# field_limits narrows a class to named fields (e.g. the minimal identity subset).
within_limits := {f |
	some f, k in data.gateway.model.field_class
	not profile.field_limits[k]
} | {f |
	some f, k in data.gateway.model.field_class
	f in profile.field_limits[k]
}

_applicable_scopes := {c.scope | some c in data.gateway.consent.applicable}

_reach_by_consents := {k | some scope in _applicable_scopes; some k in reachable_classes(scope)}

# With no applicable consent, report what even a full consent could not reach.
_reach := _reach_by_consents if data.gateway.consent.has_applicable else := _extended

diagnostics contains [f, "not_in_profile"] if {
	some f, k in data.gateway.model.field_class
	not k in _reach
}

diagnostics contains [f, "not_in_profile"] if {
	some f in data.gateway.model.known_fields
	not f in within_limits
}

_tier_reach := {k |
	some scope in _applicable_scopes
	tiered := tier_classes(scope)
	some c in data.gateway.consent.applicable
	c.scope == scope
	some k in c.data_classes
	k in tiered
}

diagnostics contains [f, "scope_excludes_identifying"] if {
	some f, k in data.gateway.model.field_class
	k in data.gateway.consent.listed_classes
	not k in _tier_reach
}

# ---------------------------------------------------------------- T1 / L9 risk summary

# A referral that is lawful on consent (not the no-personal-data tier), for a purpose that
# carries the risk summary, to a service provider: the risk summary goes with it.
risk_basis := [c |
	data.gateway.model.purposes[data.gateway.model.strings.purpose].risk_summary == true
	data.gateway.model.recipient_is_service_provider
	some c in data.gateway.consent.applicable
	data.gateway.model.scopes[c.scope].strips_identifying == false
]

risk_summary_applies if count(risk_basis) > 0

# The L9 basis covers the summary fields only: never narrative, health, therapy or location.
risk_fields := {f |
	risk_summary_applies
	some f, k in data.gateway.model.field_class
	k == "D12"
	data.gateway.model.fields[f].risk_summary == true
}

diagnostics contains [f, "risk_summary_narrative_excluded"] if {
	risk_summary_applies
	some f, k in data.gateway.model.field_class
	data.gateway.model.classes[k].risk_summary_excluded == true
}

diagnostics contains [f, "risk_summary_narrative_excluded"] if {
	risk_summary_applies
	some f, k in data.gateway.model.field_class
	k == "D12"
	data.gateway.model.fields[f].risk_summary == false
}

# ---------------------------------------------------------------- CR18 preview

referral_purpose if data.gateway.model.purposes[data.gateway.model.strings.purpose].referral == true

explanations contains "L9.risk_summary" if risk_summary_applies
