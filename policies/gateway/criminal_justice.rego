# METADATA
# title: Criminal justice
# description: |
#   The ONLY package that reads criminal-justice consent or co-operation (CR17,
#   non-conditionality): the police tiers of digest 1.1 (CR36) and the film rule (CR21).
#   For every other purpose its hook is constant, so no decision about services,
#   shelter, identification, residence or return can depend on co-operation.
#   tests/policy/test_cr17_static.py checks that no other policy file mentions it.
package gateway.cj

import rego.v1

is_cj_purpose if data.gateway.model.strings.purpose == "criminal_justice"

# CR36: three options, and what each lets travel under the criminal_justice purpose.
tiers := {
	"formal_report_and_witness": {"D1", "D2", "D3", "D9", "D10", "D11", "D17", "D18", "D20", "D23"},
	"anonymous_intelligence_only": {"D23"},
	"none": set(),
}

# The option recorded on a consent; anything unrecognised counts as "none".
option(c) := c.cj_option if tiers[c.cj_option] else := "none"

# Hook used by the decision for every consent: every requested class outside criminal justice.
consent_classes(_) := data.gateway.model.requested_classes if not is_cj_purpose

consent_classes(c) := tiers[option(c)] if is_cj_purpose

_tier_reach := {k | some c in data.gateway.consent.applicable; some k in tiers[option(c)]}

diagnostics contains [f, "police_tier"] if {
	is_cj_purpose
	some f, k in data.gateway.model.field_class
	not k in _tier_reach
}

# ---------------------------------------------------------------- CR21 film

_film_fields := {f | some f in data.gateway.model.known_fields; data.gateway.model.fields[f].criminal_justice_only == true}

hard_denials contains [f, "film_criminal_justice_only"] if {
	not is_cj_purpose
	some f in _film_fields
}

hard_denials contains [f, "film_requires_filming_consent"] if {
	is_cj_purpose
	some f in _film_fields
	not data.gateway.consent.purpose_in_force("filming")
}

explanations contains concat(".", ["police_tier", option(c)]) if {
	is_cj_purpose
	some c in data.gateway.consent.applicable
}
