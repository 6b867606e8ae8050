# METADATA
# title: Consent records
# description: |
#   Which consent records count for this request (CR1, CR2, CR25, CR30) and why none
#   does. Purpose-agnostic: nothing here reads criminal-justice co-operation (CR17);
#   that lives in criminal_justice.rego alone.
package gateway.consent

import rego.v1

# A consent record in force for this subject now, that the policy can reason about.
# The gateway passes only consents in force; a withdrawal stamp still voids one (CR14),
# and an expired one never counts. ctx is _context: the values every check compares with,
# looked up once per decision rather than once per consent.
in_force(c, ctx) if {
	c.subject_id == ctx.subject_id
	is_string(c.id)
	is_array(c.recipients)
	is_array(c.data_classes)
	ctx.scopes[c.scope]
	object.get(c, "withdrawn_at", null) == null
	is_string(c.expires_at)
	expires_ns := time.parse_rfc3339_ns(c.expires_at)
	some now in ctx.now
	expires_ns > now
}

# now: [now_ns], or [] when input.now is not a time (then no consent is in force, but every
# expiry is still read, so a malformed one still fails the decision).
_context := {
	"subject_id": data.gateway.model.strings.subject_id,
	"scopes": data.gateway_data.scopes.scopes,
	"now": [n | n := data.gateway.model.now_ns],
}

# A consent of the given purpose is in force (used for filming and forensic consents).
# The embedded engine's adapter passes regorus only the consents whose purpose is the
# request's or one of these (gateway/policy/_regorus.py, PURPOSES_ALWAYS_READ).
purpose_in_force(p) if {
	ctx := _context
	some c in data.gateway.model.consents
	c.purpose == p
	in_force(c, ctx)
	not lapsed_guardian_consent(c)
}

# CH22: a consent a guardian gave for a child lapses when the person is an adult; their own
# consent governs from then on (filming and forensic consents included).
lapsed_guardian_consent(c) if {
	c.guardian_consent == true
	not data.gateway.children.is_child
}

# CR2: consent to one purpose never implies another.
for_purpose := [c |
	consents := input.consents
	is_array(consents)
	purpose := data.gateway.model.strings.purpose
	ctx := _context
	some c in consents
	c.purpose == purpose
	in_force(c, ctx)
]

# CR1: the consents that cover this purpose and name this recipient.
named := [c |
	naming := _naming(data.gateway.model.strings)
	some c in for_purpose
	names_recipient(c, naming)
]

# ... and that count: all of them for an adult; for a child, children.rego decides (a suspected
# guardian's consent never counts, CH7; a legal action counts only complete consents, CH6, CH9;
# none before a guardian advocate is appointed, CH3). Every basis reads this list.
applicable := data.gateway.children.counting

# Data classes listed by at least one applicable consent.
listed_classes := {k | some c in applicable; some k in c.data_classes}

# ---------------------------------------------------------------- naming the recipient

# CR30: between IOM and UNHCR (one of them requests, the other receives) the consent must
# name the other agency itself. s is data.gateway.model.strings.
iom_unhcr_pair(s) := {s.requester_kind, s.recipient_kind} == {"iom", "unhcr"}

# How a consent must name this recipient: domestic_names are the names by which a consent
# may name a recipient in this country, the agency itself or its kind ("kind:shelter") where
# naming the agency is not required (not between IOM and UNHCR).
_naming(s) := {
	"cross_border": data.gateway.model.cross_border(s),
	"domestic_names": {s.recipient_agency_id} | {name |
		not iom_unhcr_pair(s)
		name := concat(":", ["kind", s.recipient_kind])
	},
	"agency_id": s.recipient_agency_id,
	"jurisdiction": s.recipient_jurisdiction,
}

names_recipient(c, naming) if {
	not naming.cross_border
	some name in c.recipients
	name in naming.domestic_names
}

# CR25: a recipient in another country is named, with its country; never by its kind.
names_recipient(c, naming) if {
	naming.cross_border
	naming.agency_id in c.recipients
	countries := object.get(c, "countries", [])
	is_array(countries)
	naming.jurisdiction in countries
}

# ---------------------------------------------------------------- reasons

# Why no consent counts (reported unless an exception or court order is the basis).
missing_reasons := set() if count(named) > 0 else := {code |
	s := data.gateway.model.strings
	some code, applies in {
		"no_consent": true,
		"purpose_not_consented": count(for_purpose) == 0,
		"recipient_not_named": count(for_purpose) > 0,
		"iom_unhcr_consent_must_name_agency": iom_unhcr_pair(s),
		"cross_border_consent_must_name_recipient": data.gateway.model.cross_border(s),
	}
	applies
}

# Without an applicable consent every requested field has no consent; with one, a class
# that no applicable consent lists is not consented.
findings := {
	"overall_reasons": set(),
	"hard_denials": {},
	"hard_class_denials": {},
	"diagnostics": {},
	"class_diagnostics": _class_diagnostics(count(applicable) > 0, data.gateway.model.request.requested_classes),
	"explanations": set(),
}

_class_diagnostics(true, requested) := {"class_not_consented": requested - listed_classes}

_class_diagnostics(false, requested) := {"no_consent": requested}
