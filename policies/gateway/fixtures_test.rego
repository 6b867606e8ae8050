# METADATA
# title: Shared test inputs
# description: |
#   Inputs reused by every _test.rego file, and `corpus`: named inputs that the Python
#   conformance test (tests/policy/test_conformance.py) also evaluates on every engine.
package gateway.fixtures_test

import rego.v1

now := "2026-11-24T10:00:00Z"

later := "2027-01-01T00:00:00Z"

earlier := "2026-11-01T00:00:00Z"

requester := {
	"agency_id": "a-iom",
	"kind": "iom",
	"jurisdiction": "NL",
	"user_role": "caseworker",
	"user_id": "u-1",
	"exception_policy": {
		"L3": ["unconscious_emergency"],
		"L4": ["suicide_risk_disclosed"],
		"L6": ["family_tracing_appeal"],
		"L1": ["imminent_harm"],
	},
}

subject := {
	"id": "s-1",
	"is_child": false,
	"age_disputed": false,
	"asylum_claimed": false,
	"possible_refugee": false,
	"country_of_origin": "XX",
	"declined_nrm": false,
	"placement_agency_id": "a-shelter",
	"guardian_advocate_id": null,
	"guardian_advocate_agency_id": null,
	"guardian_suspected": false,
	"contact_safety": "verified_safe",
	"open_cases": [],
	"cj_role": "none",
}

recipient(agency_id, kind) := {
	"agency_id": agency_id,
	"kind": kind,
	"jurisdiction": "NL",
	"registered": true,
	"key_verified": true,
}

consent(id, purpose, recipients, scope, classes) := {
	"id": id,
	"subject_id": "s-1",
	"purpose": purpose,
	"recipients": recipients,
	"scope": scope,
	"data_classes": classes,
	"cj_option": null,
	"expires_at": later,
	"guardian_consent": null,
	"child_views_recorded": null,
}

cj_consent(id, recipients, option, classes) := object.union(
	consent(id, "criminal_justice", recipients, "full", classes),
	{"cj_option": option},
)

# A fully formed request; tests change what they need with object.union / json.patch.
request(purpose, recipient_doc, fields, consents) := {
	"now": now,
	"requester": requester,
	"recipient": recipient_doc,
	"purpose": purpose,
	"fields": fields,
	"subject": subject,
	"consents": consents,
	"exception": null,
	"court_order": null,
}

ngo_fields := [
	"envelope.urgency",
	"history.trafficking_account",
	"location.shelter_address",
	"risk.known_risks",
	"risk.level",
	"subject.first_name",
	"subject.language",
	"subject.preferred_name",
]

# An NGO referral for protection and support with a relevant-portion consent.
ngo_referral := request(
	"protection_support",
	recipient("a-ngo", "ngo"),
	ngo_fields,
	[consent("c-ngo", "protection_support", ["a-ngo"], "relevant_portion", ["D1", "D5", "D11"])],
)

police_fields := [
	"cj.statement",
	"contact.phone",
	"documents.passport_number",
	"family.children",
	"history.trafficking_account",
	"intelligence.case_summary",
	"location.shelter_address",
	"subject.birthdate",
	"subject.first_name",
]

# The police ask for the case under criminal justice.
police_request(consents) := request("criminal_justice", recipient("a-police", "police"), police_fields, consents)

corpus := {
	"ngo_referral": ngo_referral,
	"police_no_consent": police_request([consent("c-nrm", "nrm_referral", ["kind:competent_authority"], "full", ["D1", "D11"])]),
	"police_formal": police_request([cj_consent("c-cj", ["a-police"], "formal_report_and_witness", ["D1", "D2", "D3", "D11", "D17", "D23"])]),
	"police_anonymous": police_request([cj_consent("c-cj", ["a-police"], "anonymous_intelligence_only", ["D1", "D11", "D23"])]),
	"police_none": police_request([cj_consent("c-cj", ["a-police"], "none", ["D1", "D23"])]),
	"shelter_placement": request(
		"shelter",
		recipient("a-shelter", "shelter"),
		["location.shelter_address", "risk.level", "subject.preferred_name", "subject.first_name"],
		[consent("c-sh", "shelter", ["a-shelter"], "relevant_portion", ["D1", "D4"])],
	),
	"unknown_everything": object.union(ngo_referral, {"purpose": "gossip", "recipient": recipient("a-x", "tabloid"), "fields": ["nope"]}),
	"empty_input": {},
	"wrong_shapes": {
		"now": now,
		"requester": "a-iom",
		"recipient": 5,
		"purpose": ["protection_support"],
		"fields": "subject.preferred_name",
		"subject": [],
		"consents": {"c-1": true},
		"exception": "L3",
		"court_order": 7,
	},
	"wrong_consent_shapes": object.union(ngo_referral, {"consents": [
		"c-1",
		7,
		null,
		{"id": 1, "subject_id": "s-1", "purpose": "protection_support", "recipients": "a-ngo", "scope": "full", "data_classes": "D1", "expires_at": later},
		{"id": "c-2", "subject_id": ["s-1"], "purpose": "protection_support", "recipients": ["a-ngo"], "scope": "full", "data_classes": ["D1"], "expires_at": later},
		{"id": "c-3", "subject_id": "s-1", "purpose": "protection_support", "recipients": ["a-ngo"], "scope": "full", "data_classes": ["D1"], "expires_at": 17},
	]}),
}
