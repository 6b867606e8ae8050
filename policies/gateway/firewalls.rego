# METADATA
# title: Firewalls
# description: |
#   Hard limits no consent or exception opens (digest 8.2): verified recipients only
#   (item 2, S12), shelter location to the accommodation provider only (item 4, CR26),
#   volunteers never see S3/S4 (item 8, S27), the immigration firewall (item 13, S26)
#   and the country-of-origin rules (item 14, CR24).
package gateway.firewalls

import rego.v1

immigration := data.gateway.model.firewalls.immigration

law_enforcement_status := data.gateway.model.firewalls.immigration_status_to_law_enforcement

# ---------------------------------------------------------------- item 2: verified recipients

overall_reasons contains "recipient_unverified" if not data.gateway.model.recipient_verified

# ---------------------------------------------------------------- item 13: immigration

immigration_recipient if data.gateway.model.strings.recipient_kind in immigration.recipient_kinds

_immigration_purpose if data.gateway.model.strings.purpose in immigration.purposes

overall_reasons contains "immigration_firewall" if {
	immigration_recipient
	not _immigration_purpose
}

hard_denials contains [f, "immigration_firewall"] if {
	immigration_recipient
	some f, k in data.gateway.model.field_class
	not k in immigration.classes
}

# Service-derived immigration status never reaches law enforcement (digest 1.1).
hard_denials contains [f, "immigration_firewall"] if {
	data.gateway.model.strings.recipient_kind in law_enforcement_status.recipient_kinds
	some f, k in data.gateway.model.field_class
	k in law_enforcement_status.classes
}

# ---------------------------------------------------------------- item 14, CR24: country of origin

asylum_or_refugee if data.gateway.model.subject.asylum_claimed == true

asylum_or_refugee if data.gateway.model.subject.possible_refugee == true

overall_reasons contains "country_of_origin_asylum_block" if {
	data.gateway.model.recipient_in_country_of_origin
	asylum_or_refugee
}

_country_of_origin_purpose if data.gateway.model.purposes[data.gateway.model.strings.purpose].country_of_origin_allowed == true

overall_reasons contains "country_of_origin_requires_return_consent" if {
	data.gateway.model.recipient_in_country_of_origin
	not _country_of_origin_purpose
}

# ---------------------------------------------------------------- item 4, CR26: shelter location

placement_recipient if {
	data.gateway.model.strings.placement_agency_id != ""
	data.gateway.model.strings.placement_agency_id == data.gateway.model.strings.recipient_agency_id
}

hard_denials contains [f, "shelter_location_accommodation_only"] if {
	not placement_recipient
	some f, k in data.gateway.model.field_class
	data.gateway.model.classes[k].location == true
}

# ---------------------------------------------------------------- item 8: volunteers

_volunteer if data.gateway.model.strings.requester_user_role in data.gateway.model.firewalls.volunteer.user_roles

_volunteer if data.gateway.model.strings.recipient_user_role in data.gateway.model.firewalls.volunteer.user_roles

# The lowest max_level among the users involved.
_max_level := min({
	data.gateway.model.user_roles[data.gateway.model.strings.requester_user_role].max_level,
	object.get(data.gateway.model.user_roles, [data.gateway.model.strings.recipient_user_role, "max_level"], 4),
})

hard_denials contains [f, "volunteer_sensitive_class"] if {
	_volunteer
	some f, k in data.gateway.model.field_class
	data.gateway.model.classes[k].level > _max_level
}
