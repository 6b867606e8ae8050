# METADATA
# title: Contact channels
# description: |
#   The person's contact channels (digest 2, D3: phone, e-mail, social media, postal address)
#   leave only when reaching the person through them is safe. Digest 8.2 item 12 (SEC12, S40):
#   only when subject.contact_safety is "verified_safe"; unverified, absent or flagged as owned
#   by or accessible to a third party ("third_party_access") withholds them, whatever the
#   consent or exception says. Item 11 (SEC11): during a child's Golden Day
#   (subject.golden_day_until, set by the gateway) nothing that reaches the child's own device
#   is passed on.
package gateway.contact

import rego.v1

findings := object.union(data.gateway.model.no_findings, {"hard_denials": hard_denials}) if {
	some _ in requested_channels
} else := data.gateway.model.no_findings

# The requested contact-channel fields (usually none: then nothing else here is evaluated).
requested_channels := {f |
	channels := {x | some x in data.gateway_data.firewalls.firewalls.safe_contact.fields}
	some f in data.gateway.model.request.known_fields
	f in channels
}

# reason code -> requested fields no basis opens
hard_denials := {
	"contact_not_verified_safe": {f | not verified_safe; some f in requested_channels},
	"child_golden_day_no_device_contact": {f |
		golden_day
		device := {x | some x in data.gateway_data.firewalls.firewalls.golden_day.fields}
		some f in requested_channels
		f in device
	},
}

# SEC12: exactly the recorded value "verified_safe"; anything else (absent, null, mistyped,
# "unverified", "third_party_access") withholds the channels (fail closed).
default verified_safe := false

verified_safe if {
	data.gateway.model.text(data.gateway.model.subject, "contact_safety") == data.gateway_data.firewalls.firewalls.safe_contact.verified
}

# SEC11: a child (CH1) whose Golden Day has not ended. A golden_day_until that is not an
# RFC 3339 time makes the engines fail: a deny.
default golden_day := false

golden_day if {
	data.gateway.children.is_child
	until := data.gateway.model.subject.golden_day_until
	is_string(until)
	data.gateway.model.now_ns < data.gateway.model.timestamp(until)
}
