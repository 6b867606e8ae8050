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

default is_cj_purpose := false

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
consent_classes(_) := data.gateway.model.request.requested_classes if not is_cj_purpose

consent_classes(c) := tiers[option(c)] if is_cj_purpose

# ---------------------------------------------------------------- findings

findings := {
	"overall_reasons": set(),
	"hard_denials": hard_denials(cj, film),
	"hard_class_denials": {},
	"diagnostics": {},
	"class_diagnostics": _police_tier(cj, request.requested_classes, applicable),
	"explanations": {concat(".", ["police_tier", option(c)]) | cj; some c in applicable},
} if {
	cj := is_cj_purpose
	request := data.gateway.model.request
	applicable := data.gateway.consent.applicable
	field_class := request.field_class
	film := {f | some f, _ in data.gateway_index.field_sets.criminal_justice_only; field_class[f]}
}

# CR36: the requested classes no applicable consent's police tier reaches.
_police_tier(false, _, _) := {}

_police_tier(true, requested, applicable) := {"police_tier": requested - {k | some c in applicable; some k in tiers[option(c)]}}

# CR21: a filmed interview is used for criminal justice only, and only while the filming
# consent is in force (asked only when a filmed interview is requested).
hard_denials(false, film) := {"film_criminal_justice_only": film}

hard_denials(true, film) := {"film_requires_filming_consent": film} if {
	count(film) > 0
	not data.gateway.consent.purpose_in_force("filming")
} else := {"film_requires_filming_consent": set()}
