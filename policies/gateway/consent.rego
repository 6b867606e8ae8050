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
# and an expired one never counts.
in_force(c) if {
	c.subject_id == data.gateway.model.strings.subject_id
	is_string(c.id)
	is_array(c.recipients)
	is_array(c.data_classes)
	data.gateway.model.scopes[c.scope]
	object.get(c, "withdrawn_at", null) == null
	data.gateway.model.timestamp(c.expires_at) > data.gateway.model.now_ns
}

# A consent of the given purpose is in force (used for filming and forensic consents).
purpose_in_force(p) if {
	some c in data.gateway.model.consents
	c.purpose == p
	in_force(c)
}

# CR2: consent to one purpose never implies another.
for_purpose := [c |
	purpose := data.gateway.model.strings.purpose
	some c in data.gateway.model.consents
	c.purpose == purpose
	in_force(c)
]

# CR1: the consents that cover this purpose and name this recipient.
applicable := [c | some c in for_purpose; names_recipient(c)]

has_applicable if count(applicable) > 0

# Data classes listed by at least one applicable consent.
listed_classes := {k | some c in applicable; some k in c.data_classes}

# ---------------------------------------------------------------- naming the recipient

# CR30: between IOM and UNHCR the consent must name the other agency itself.
iom_unhcr_pair if {
	data.gateway.model.strings.requester_kind == "iom"
	data.gateway.model.strings.recipient_kind == "unhcr"
}

iom_unhcr_pair if {
	data.gateway.model.strings.requester_kind == "unhcr"
	data.gateway.model.strings.recipient_kind == "iom"
}

explicit_naming_required if data.gateway.model.cross_border

explicit_naming_required if iom_unhcr_pair

_kind_name := concat(":", ["kind", data.gateway.model.strings.recipient_kind])

# A consent may name a kind of recipient ("kind:shelter") where naming the agency is not required.
names_recipient(c) if {
	not explicit_naming_required
	_kind_name in c.recipients
}

names_recipient(c) if {
	not data.gateway.model.cross_border
	data.gateway.model.strings.recipient_agency_id in c.recipients
}

# CR25: a recipient in another country is named, with its country.
names_recipient(c) if {
	data.gateway.model.cross_border
	data.gateway.model.strings.recipient_agency_id in c.recipients
	countries := object.get(c, "countries", [])
	is_array(countries)
	data.gateway.model.strings.recipient_jurisdiction in countries
}

# ---------------------------------------------------------------- reasons

# Why no consent counts (reported unless an exception or court order is the basis).
missing_reasons contains "no_consent" if not has_applicable

missing_reasons contains "purpose_not_consented" if {
	not has_applicable
	count(for_purpose) == 0
}

missing_reasons contains "recipient_not_named" if {
	not has_applicable
	count(for_purpose) > 0
}

missing_reasons contains "iom_unhcr_consent_must_name_agency" if {
	not has_applicable
	iom_unhcr_pair
}

missing_reasons contains "cross_border_consent_must_name_recipient" if {
	not has_applicable
	data.gateway.model.cross_border
}

diagnostics contains [f, "no_consent"] if {
	not has_applicable
	some f in data.gateway.model.known_fields
}

diagnostics contains [f, "class_not_consented"] if {
	has_applicable
	some f, k in data.gateway.model.field_class
	not k in listed_classes
}
