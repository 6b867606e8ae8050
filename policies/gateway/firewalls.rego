# METADATA
# title: Firewalls
# description: |
#   Hard limits no consent or exception opens (digest 8.2): verified recipients only
#   (item 2, S12), shelter location to the accommodation provider only (item 4, CR26),
#   volunteers never see S3/S4 (item 8, S27), the immigration firewall (item 13, S26)
#   the country-of-origin rules (item 14, CR24), preferences for scheduling only (CR35)
#   and the trauma narrative for the professional roles that work with it (item 18, SEC18).
package gateway.firewalls

import rego.v1

findings := {
	"overall_reasons": overall_reasons(s),
	"hard_denials": field_denials(s, data.gateway.model.request.known_fields),
	"hard_class_denials": hard_denials(s, data.gateway.model.request.requested_classes),
	"diagnostics": {},
	"class_diagnostics": {},
	"explanations": set(),
} if {
	s := data.gateway.model.strings
}

# In the functions below, s is data.gateway.model.strings.

# The reasons that deny the whole request: item 2, unverified recipients; item 13,
# immigration receives permit and R&R data only; item 14, CR24, the country of origin is
# never contacted about an asylum seeker or possible refugee, and otherwise only for return
# or post-return monitoring.
overall_reasons(s) := ((({"recipient_unverified" | not data.gateway.model.recipient_verified(object.get(input, "recipient", null))} | {"immigration_firewall" |
	immigration_recipient(s)
	not s.purpose in data.gateway_data.firewalls.firewalls.immigration.purposes
}) | {"country_of_origin_asylum_block" |
	data.gateway.model.recipient_of_state_possibly_fled(s)
	asylum_or_refugee
}) | {"country_of_origin_requires_return_consent" |
	in_country
	not _return_consent_names_recipient(s)
}) if {
	in_country := data.gateway.model.recipient_in_country_of_origin(s)
}

# reason code -> requested classes whose fields no basis opens: outside the immigration
# firewall (S26), and service-derived immigration status to law enforcement (digest 1.1);
# location outside the placement (CR26); S3/S4 for volunteers (S27).
hard_denials(s, requested) := {
	"immigration_firewall": {k |
		immigration_recipient(s)
		open := data.gateway_data.firewalls.firewalls.immigration.classes
		some k in requested
		not k in open
	} | {k |
		status := data.gateway_data.firewalls.firewalls.immigration_status_to_law_enforcement
		s.recipient_kind in status.recipient_kinds
		some k in requested
		k in status.classes
	},
	"shelter_location_accommodation_only": {k |
		not placement_recipient(s)
		location := data.gateway_index.class_sets.location
		some k in requested
		location[k]
	},
	"volunteer_sensitive_class": {k |
		_volunteer(s)
		max_level := _max_level(s)
		classes := data.gateway_data.classes.classes
		some k in requested
		classes[k].level > max_level
	},
}

# ---------------------------------------------------------------- item 13: immigration

default immigration_recipient(_) := false

immigration_recipient(s) if s.recipient_kind in data.gateway_data.firewalls.firewalls.immigration.recipient_kinds

# ---------------------------------------------------------------- item 14, CR24: country of origin

# A flag that is not exactly false or null counts as set (fail closed).
default asylum_or_refugee := false

asylum_or_refugee if data.gateway.model.subject_flag("asylum_claimed")

asylum_or_refugee if data.gateway.model.subject_flag("possible_refugee")

default _country_of_origin_purpose(_) := false

_country_of_origin_purpose(s) if data.gateway_data.purposes.purposes[s.purpose].country_of_origin_allowed == true

# CR24 checks the recipient, not only the purpose: a country-of-origin authority receives only
# on a return (or post-return monitoring) consent in force that names it by its id, never by a
# kind, and never under an exception grant.
default _return_consent_names_recipient(_) := false

_return_consent_names_recipient(s) if {
	_country_of_origin_purpose(s)
	not data.gateway.exceptions.claimed
	some c in data.gateway.consent.applicable
	s.recipient_agency_id in c.recipients
}

# ---------------------------------------------------------------- item 4, CR26: shelter location

default placement_recipient(_) := false

placement_recipient(s) if {
	s.placement_agency_id != ""
	s.placement_agency_id == s.recipient_agency_id
}

# ---------------------------------------------------------------- item 8: volunteers

default _volunteer(_) := false

_volunteer(s) if s.requester_user_role in data.gateway_data.firewalls.firewalls.volunteer.user_roles

_volunteer(s) if s.recipient_user_role in data.gateway_data.firewalls.firewalls.volunteer.user_roles

# The lowest max_level among the users involved.
_max_level(s) := min({
	data.gateway_data.roles.user_roles[s.requester_user_role].max_level,
	object.get(data.gateway_data.roles.user_roles, [s.recipient_user_role, "max_level"], 4),
})

# ---------------------------------------------------------------- CR35, item 18: single fields

# reason code -> requested fields no basis opens: preferences (the gender of the interpreter or
# professional) only where a meeting with the person is arranged (CR35); the trauma narrative
# only for the professional roles that work with it, on either side (SEC18).
field_denials(s, requested) := {
	"preference_scheduling_only": {f |
		not _schedules_meeting(s)
		preferences := {x | some x in data.gateway_data.firewalls.firewalls.preferences.fields}
		some f in requested
		f in preferences
	},
	"trauma_narrative_role": {f |
		not _narrative_roles(s)
		narrative := {x | some x in data.gateway_data.firewalls.firewalls.trauma_narrative.fields}
		some f in requested
		f in narrative
	},
}

default _schedules_meeting(_) := false

_schedules_meeting(s) if {
	preferences := data.gateway_data.firewalls.firewalls.preferences
	s.recipient_kind in preferences.recipient_kinds
	s.purpose in preferences.purposes
}

# Both the sending user and, when known, the reading user hold a role that works with the
# narrative (a recipient user role "" is not known: the recipient agency's own access rules apply).
default _narrative_roles(_) := false

_narrative_roles(s) if {
	roles := data.gateway_data.firewalls.firewalls.trauma_narrative.user_roles
	s.requester_user_role in roles
	_recipient_narrative_role(s, roles)
}

_recipient_narrative_role(s, _) if s.recipient_user_role == ""

_recipient_narrative_role(s, roles) if s.recipient_user_role in roles
