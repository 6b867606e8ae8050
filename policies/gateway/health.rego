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

health_channel if {
	data.gateway.model.recipient_is_health
	data.gateway.model.strings.purpose in health_purposes
}

therapy_channel if data.gateway.model.strings.recipient_kind in therapy_record_kinds

_health_classes := {k | some k in data.gateway.model.requested_classes; data.gateway.model.classes[k].health == true}

_closed_health := set() if health_channel else := _health_classes

_closed_therapy := set() if therapy_channel else := {"D9"}

# Hook used by the decision: the requested classes a consent may carry, as far as CR20/CR23 go.
consent_classes := (data.gateway.model.requested_classes - _closed_health) - _closed_therapy

diagnostics contains [f, "health_requires_healthcare_consent"] if {
	some f, k in data.gateway.model.field_class
	k in _closed_health
}

diagnostics contains [f, "therapy_requires_consent_or_court_order"] if {
	some f, k in data.gateway.model.field_class
	k == "D9"
}

hard_denials contains [f, "therapy_content_confined"] if {
	data.gateway.model.strings.recipient_kind != "therapy"
	some f in data.gateway.model.known_fields
	data.gateway.model.fields[f].therapy_confined == true
}

hard_denials contains [f, "forensic_requires_consent"] if {
	some f in data.gateway.model.known_fields
	data.gateway.model.fields[f].forensic == true
	not data.gateway.consent.purpose_in_force("forensic")
}
