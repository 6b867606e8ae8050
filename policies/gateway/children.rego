# METADATA
# title: Children
# description: |
#   Digest 5 in policy: the presumption of minority (CH1, CH1b); a guardian advocate
#   before anything leaves intake (CH3); a suspected guardian's consent does not count
#   (CH7); legal-consequence purposes need the guardian's consent and the child's recorded
#   views (CH6, CH9); return needs a best-interests decision (CH19); a child's identity is
#   never made public except for family tracing with a second approver (CH11, L6, S18).
#   At 18 (CH22) a consent the guardian gave while the person was a child stops counting: the
#   young adult's own consent governs from then on.
#   Lawful exceptions (e.g. L3 emergency, L5c indicators) are not held up by CH3: a child
#   is never refused emergency help because no guardian advocate is appointed yet.
package gateway.children

import rego.v1

# CH1, CH1b: treated as a child while under 18 or while the age is disputed; the gateway
# keeps age_disputed set until an adult outcome is recorded and appeals are exhausted.
default is_child := false

is_child if data.gateway.model.subject_flag("is_child")

is_child if data.gateway.model.subject_flag("age_disputed")

# Nothing here applies to an adult. The children's consent rules (CH3, CH6, CH7, CH9) deny the
# request unless a valid exception grant covers a requested field; even then they close the
# consent route: the grant reaches only its own classes (digest 4), and the other fields are
# denied with the children's reason.
findings := _adult_findings if not is_child else := object.union(data.gateway.model.no_findings, {
	"overall_reasons": overall_reasons,
	"hard_denials": hard_denials,
	"diagnostics": diagnostics,
})

# The consents that count (data.gateway.consent.applicable): for a child, none while CH3 closes
# the route, else those whose guardian is not suspected (CH7) and, for a legal action, only the
# complete ones: the guardian's consent with the child's recorded views (CH6, CH9).
counting := _child_counting if is_child else := _adult_counting

_child_counting := [] if _guardian_advocate_missing else := [c | some c in data.gateway.consent.named; _counts(c)]

default _counts(_) := false

_counts(c) if {
	not _legal_action
	not _void_consent(c)
}

_counts(c) if _complete(c)

_legal_action if data.gateway.model.strings.purpose in legal_consequence_purposes

# The children's consent-route reasons (each explained below).
_ch3_reasons := {"guardian_advocate_required" | _guardian_advocate_missing}

consent_route_reasons := ((_ch3_reasons | {"guardian_suspected_consent_void" |
	count(data.gateway.consent.named) > 0
	count(_not_void) == 0
}) | {"child_guardian_consent_and_views_required" |
	_legal_action
	count(_not_void) > 0
	count([c | some c in _not_void; _complete(c)]) == 0
}) if is_child else := set()

# An exception grant that covers a requested field (not merely a valid one: digest 4).
default _exception_grants := false

_exception_grants if some _ in _exceptions.granted_fields

overall_reasons := (consent_route_reasons | _other_reasons) if not _exception_grants else := _other_reasons

# Under a grant, each field it does not cover is denied with the children's reason.
diagnostics := {r: fields |
	_exception_grants
	fields := data.gateway.model.request.known_fields - _exceptions.granted_fields
	some r in consent_route_reasons
}

_exceptions := data.gateway.exceptions.findings

_family_tracing := _exceptions.granted_fields if _exceptions.claimed_basis == "L6" else := set()

# reason code -> requested fields no basis opens
hard_denials := {"child_identity_public": {f |
	is_child
	data.gateway_data.roles.agency_kinds[data.gateway.model.strings.recipient_kind].public == true
	identifying := data.gateway_index.class_sets.identifying
	family_tracing := _family_tracing
	some f, k in data.gateway.model.request.field_class
	identifying[k]
	not f in family_tracing
}}

# ---------------------------------------------------------------- CH3 guardian advocate

# Recipients that appoint or are the guardian advocate, or protect the child (CH13): a child's
# case reaches them before a guardian advocate exists.
guardian_free_kinds := {k | some k in data.gateway_data.exceptions.children.guardian_free_recipient_kinds}

_has_guardian_advocate if {
	x := data.gateway.model.subject.guardian_advocate_id
	is_string(x)
	trim_space(x) != ""
}

_exempt_from_ch3 if data.gateway.model.strings.recipient_kind in guardian_free_kinds

_guardian_advocate_missing if {
	is_child
	not _has_guardian_advocate
	not _exempt_from_ch3
}

# ---------------------------------------------------------------- CH4 allocated children only

# A guardian advocate service sees the children allocated to it, and only those: another
# service (or one the child was moved away from) gets nothing, whatever the consent says.
_allocated_to_recipient if {
	x := data.gateway.model.subject.guardian_advocate_agency_id
	is_string(x)
	x != ""
	x == data.gateway.model.strings.recipient_agency_id
}

_other_reasons contains "guardian_advocate_service_not_allocated" if {
	is_child
	data.gateway.model.strings.recipient_kind == "guardian_advocate_service"
	not _allocated_to_recipient
}

# ---------------------------------------------------------------- CH7 suspected guardian

# A consent given by a guardian who is now suspected does not count (the gateway marks such
# consents guardian_suspected: true when the consent's guardian is the suspected one).
_void_consent(c) if data.gateway.model.flag(object.get(c, "guardian_suspected", null))

_not_void := [c | some c in data.gateway.consent.named; not _void_consent(c)]

# ---------------------------------------------------------------- CH6, CH9 legal consequences

legal_consequence_purposes := {p | some p in data.gateway_data.exceptions.children.legal_consequence_purposes}

_complete(c) if {
	c.guardian_consent == true
	c.child_views_recorded == true
	not _void_consent(c)
}

# ---------------------------------------------------------------- CH19 return

return_purposes := {p | some p in data.gateway_data.exceptions.children.return_purposes}

_best_interests_recorded if {
	x := data.gateway.model.subject.best_interests_ref
	is_string(x)
	trim_space(x) != ""
}

_best_interests_recorded if {
	x := data.gateway.model.exception.best_interests_ref
	is_string(x)
	trim_space(x) != ""
}

_other_reasons contains "child_return_requires_best_interests" if {
	is_child
	data.gateway.model.strings.purpose in return_purposes
	not _best_interests_recorded
}

# ---------------------------------------------------------------- CH22 coming of age

# For an adult, the consents that count are the named ones the guardian did not give: a
# guardian's consent for a child (guardian_consent: true) lapses when the person turns 18, and
# the young adult's own consent governs the handover and everything after it.
_adult_counting := [c | some c in data.gateway.consent.named; not _guardian_given(c)]

default _guardian_given(_) := false

_guardian_given(c) if c.guardian_consent == true

_adult_findings := object.union(data.gateway.model.no_findings, {"overall_reasons": {"adult_own_consent_required" |
	some _ in data.gateway.consent.named
	count(_adult_counting) == 0
	not _exception_grants
}})
