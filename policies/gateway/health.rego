# METADATA
# title: Health, therapy and forensic data
# description: |
#   Health classes D6-D8 go to health services only, under a healthcare consent
#   (forensic for the examiner) (CR20); therapy records only with consent or a court
#   order, and session content never leaves the therapy service (CR23, L8); forensic
#   findings only while a forensic consent is in force (CR22).
package gateway.health

import rego.v1

# Purposes under which health classes may travel to a health service.
health_purposes := {"healthcare", "forensic"}

# Recipient kinds a consent may open the therapy record (D9) to.
therapy_record_kinds := {"therapy", "court", "prosecutor"}

# s is data.gateway.model.strings
default health_channel(_) := false

health_channel(s) if {
	data.gateway_data.roles.agency_kinds[s.recipient_kind].health == true
	s.purpose in health_purposes
}

default therapy_channel(_) := false

therapy_channel(s) if s.recipient_kind in therapy_record_kinds

# The requested classes closed to consent: health classes outside the health channel,
# the therapy record (D9) outside the therapy channel.
_closed := {
	"health": {k | not health_channel(s); health := data.gateway_index.class_sets.health; some k in requested; health[k]},
	"therapy": {"D9" | not therapy_channel(s)},
} if {
	s := data.gateway.model.strings
	requested := data.gateway.model.request.requested_classes
}

# Hook used by the decision: the requested classes a consent may carry, as far as CR20/CR23 go.
consent_classes := (data.gateway.model.request.requested_classes - closed.health) - closed.therapy if {
	closed := _closed
}

findings := object.union(data.gateway.model.no_findings, {
	"hard_denials": hard_denials(data.gateway.model.strings, request.field_class),
	"class_diagnostics": {
		"health_requires_healthcare_consent": _closed.health,
		"therapy_requires_consent_or_court_order": request.requested_classes & {"D9"},
	},
}) if {
	request := data.gateway.model.request
}

# reason code -> requested fields no basis opens: therapy session content never leaves the
# therapy service (CR23); forensic findings go only while a forensic consent is in force
# (CR22; asked only when forensic findings are requested).
hard_denials(s, field_class) := {
	"therapy_content_confined": {f |
		s.recipient_kind != "therapy"
		some f, _ in data.gateway_index.field_sets.therapy_confined
		field_class[f]
	},
	"forensic_requires_consent": {f |
		forensic := {x | some x, _ in data.gateway_index.field_sets.forensic; field_class[x]}
		count(forensic) > 0
		not data.gateway.consent.purpose_in_force("forensic")
		some f in forensic
	},
}
