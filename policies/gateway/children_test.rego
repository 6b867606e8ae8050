package gateway.children_test

import rego.v1

import data.gateway.fixtures_test as fx

decide(inp) := d if {
	d := data.gateway.decision with input as inp
}

reason_of(d, f) := [x.reason | some x in d.denied_fields; x.field == f][0]

media := fx.recipient("a-news", "media")

media_request(subject_patch, exception) := json.patch(
	object.union(
		fx.request("data_sharing", media, ["subject.first_name", "child.school_contact", "statistics.aggregate"], []),
		{"exception": exception},
	),
	subject_patch,
)

child := [{"op": "replace", "path": "/subject/is_child", "value": true}]

l6_grant := {
	"basis": "L6",
	"scenario": "family_tracing_appeal",
	"grant_id": "g-6",
	"classes": ["D1"],
	"fields": ["subject.first_name"],
	"recipient_agency_id": "a-news",
	"approved": true,
	"second_approver_id": "u-2",
	"expires_at": "2026-11-25T10:00:00Z",
}

# rules: CH11 S18
test_deny_child_identity_to_media if {
	d := decide(media_request(child, null))
	d.allow == false
	reason_of(d, "subject.first_name") == "child_identity_public"
	reason_of(d, "child.school_contact") == "child_identity_public"
}

# rules: CH1 CH1b CH11
test_age_disputed_is_treated_as_a_child if {
	d := decide(media_request([{"op": "replace", "path": "/subject/age_disputed", "value": true}], null))
	reason_of(d, "subject.first_name") == "child_identity_public"
}

# rules: CH11 L6 S18
test_family_tracing_with_a_second_approver_releases_the_named_identity if {
	d := decide(media_request(child, l6_grant))
	d.allow == true
	d.permitted_fields == ["subject.first_name"]
	reason_of(d, "child.school_contact") == "child_identity_public"
	d.basis.exception == "L6"
	d.obligations.second_approver_required == true
	d.obligations.notify_person == true
	d.obligations.expires_at == "2026-11-25T10:00:00Z"
}

# rules: CH11 L6 SEC6
test_family_tracing_without_a_second_approver_is_refused if {
	d := decide(media_request(child, object.union(l6_grant, {"second_approver_id": null})))
	d.allow == false
	"exception_second_approver_missing" in d.reasons
}

# rules: L6
test_family_tracing_is_for_children_only if {
	d := decide(media_request([], l6_grant))
	"exception_requires_child" in d.reasons
}

# ---------------------------------------------------------------- issue 9

guardian := [
	{"op": "replace", "path": "/subject/is_child", "value": true},
	{"op": "replace", "path": "/subject/guardian_advocate_id", "value": "ga-7"},
]

shelter_referral := fx.request(
	"shelter",
	fx.recipient("a-shelter", "shelter"),
	["subject.preferred_name", "subject.language"],
	[fx.consent("c-sh", "shelter", ["a-shelter"], "relevant_portion", ["D1", "D5"])],
)

# rules: CH3 CH20 S29
test_a_childs_case_needs_a_guardian_advocate_before_anything_leaves_intake if {
	d := decide(json.patch(shelter_referral, child))
	d.allow == false
	"guardian_advocate_required" in d.reasons
	ok := decide(json.patch(shelter_referral, guardian))
	ok.allow == true
}

allocated_to(service) := array.concat(guardian, [{"op": "replace", "path": "/subject/guardian_advocate_agency_id", "value": service}])

# rules: CH4
test_a_guardian_advocate_service_receives_only_the_children_allocated_to_it if {
	inp := fx.request(
		"protection_support",
		fx.recipient("a-ga", "guardian_advocate_service"),
		["subject.preferred_name"],
		[fx.consent("c-ga", "protection_support", ["a-ga"], "relevant_portion", ["D1"])],
	)
	decide(json.patch(inp, allocated_to("a-ga"))).allow == true
	other := decide(json.patch(inp, allocated_to("a-ga-2")))
	other.allow == false
	"guardian_advocate_service_not_allocated" in other.reasons
	unallocated := decide(json.patch(inp, guardian))
	"guardian_advocate_service_not_allocated" in unallocated.reasons
	adult := decide(inp)
	not "guardian_advocate_service_not_allocated" in adult.reasons
}

# rules: CH3 CH13
test_child_protection_is_reached_before_a_guardian_advocate_exists if {
	inp := fx.request(
		"protection_support",
		fx.recipient("a-cp", "child_protection"),
		["subject.preferred_name"],
		[fx.consent("c-cp", "protection_support", ["a-cp"], "relevant_portion", ["D1"])],
	)
	d := decide(json.patch(inp, child))
	not "guardian_advocate_required" in d.reasons
}

nrm_child(flags) := json.patch(
	fx.request(
		"nrm_referral",
		fx.recipient("a-ca", "competent_authority"),
		["subject.first_name"],
		[object.union(fx.consent("c-nrm", "nrm_referral", ["a-ca"], "full", ["D1", "D11"]), flags)],
	),
	guardian,
)

# rules: CH6 CH9 S16
test_a_legal_action_for_a_child_needs_the_guardians_consent_and_the_childs_views if {
	none := decide(nrm_child({"guardian_consent": false, "child_views_recorded": false}))
	"child_guardian_consent_and_views_required" in none.reasons
	no_views := decide(nrm_child({"guardian_consent": true, "child_views_recorded": false}))
	"child_guardian_consent_and_views_required" in no_views.reasons
	both := decide(nrm_child({"guardian_consent": true, "child_views_recorded": true}))
	not "child_guardian_consent_and_views_required" in both.reasons
	both.allow == true
}

# rules: CH6
test_the_guardian_and_views_rule_is_for_children_only if {
	adult := json.patch(nrm_child({"guardian_consent": null, "child_views_recorded": null}), [
		{"op": "replace", "path": "/subject/is_child", "value": false},
	])
	d := decide(adult)
	not "child_guardian_consent_and_views_required" in d.reasons
}

# rules: CH7 T5
test_a_suspected_guardians_consent_does_not_count if {
	suspect := {"guardian_consent": true, "child_views_recorded": true, "guardian_suspected": true}
	d := decide(json.patch(nrm_child(suspect), [{"op": "replace", "path": "/subject/guardian_suspected", "value": true}]))
	d.allow == false
	"guardian_suspected_consent_void" in d.reasons
}

return_child(patch) := json.patch(
	fx.request(
		"return",
		fx.recipient("a-iom2", "iom"),
		["subject.first_name"],
		[object.union(
			fx.consent("c-ret", "return", ["a-iom2"], "full", ["D1"]),
			{"guardian_consent": true, "child_views_recorded": true},
		)],
	),
	array.concat(guardian, patch),
)

# rules: CH19 CH2
test_return_of_a_child_needs_a_best_interests_decision if {
	d := decide(return_child([]))
	"child_return_requires_best_interests" in d.reasons
	ok := decide(return_child([{"op": "add", "path": "/subject/best_interests_ref", "value": "bid-2026-4"}]))
	not "child_return_requires_best_interests" in ok.reasons
}

# rules: CH23 S39
test_an_adults_consent_does_not_cover_a_dependant_child if {
	adults := object.union(fx.consent("c-adult", "shelter", ["a-shelter"], "relevant_portion", ["D1", "D5"]), {"subject_id": "s-adult"})
	d := decide(json.patch(object.union(shelter_referral, {"consents": [adults]}), guardian))
	d.allow == false
	"no_consent" in d.reasons
}

l5c_grant(recipient_id) := {
	"basis": "L5c",
	"scenario": "child_trafficking_indicators",
	"grant_id": "g-5c",
	"classes": ["D1", "D26"],
	"fields": [],
	"recipient_agency_id": recipient_id,
	"approved": true,
	"second_approver_id": "u-2",
	"expires_at": "2026-11-24T11:00:00Z",
}

l5c_request(kind, patch) := json.patch(
	object.union(
		fx.request(
			"protection_support",
			fx.recipient("a-x", kind),
			["routing.iom_indicator", "needs.categories", "subject.first_name", "history.trafficking_account"],
			[],
		),
		{
			"exception": l5c_grant("a-x"),
			"requester": object.union(fx.requester, {"exception_policy": {"L5c": ["child_trafficking_indicators"]}}),
		},
	),
	patch,
)

# rules: L5c S19 CH3 CH15
test_child_indicators_go_to_police_as_an_indicator_record_without_consent if {
	every kind in ["police", "missing_persons", "child_protection"] {
		d := decide(l5c_request(kind, child))
		d.allow == true
		d.basis.exception == "L5c"
		not "history.trafficking_account" in d.permitted_fields
		"routing.iom_indicator" in d.permitted_fields
		d.obligations.notify_person == true
	}
}

# rules: L5c S19
test_l5c_is_for_children_and_indicator_recipients_only if {
	adult := decide(l5c_request("police", []))
	"exception_requires_child" in adult.reasons
	media := decide(l5c_request("media", child))
	"exception_recipient_role_not_allowed" in media.reasons
}

# Issue 21: a consent that does not count never carries a field, whatever else is applicable.
two_consents(first, second) := json.patch(object.union(shelter_referral, {"consents": [
	object.union(fx.consent("c-void", "shelter", ["a-shelter"], "relevant_portion", ["D1", "D5"]), first),
	object.union(fx.consent("c-other", "shelter", ["a-shelter"], "relevant_portion", []), second),
]}), guardian)

# rules: CH7
test_a_suspected_guardians_consent_counts_only_on_its_own_merits if {
	d := decide(two_consents({"guardian_suspected": true}, {}))
	d.allow == false
	d.permitted_fields == []
	reason_of(d, "subject.preferred_name") != "not_permitted"
	mistyped := decide(two_consents({"guardian_suspected": "yes"}, {}))
	mistyped.permitted_fields == []
	decide(two_consents({}, {})).allow == true
}

nrm_two(first, second) := json.patch(
	fx.request(
		"nrm_referral",
		fx.recipient("a-ca", "competent_authority"),
		["subject.first_name", "subject.gender"],
		[
			object.union(fx.consent("c-inc", "nrm_referral", ["a-ca"], "full", ["D1"]), first),
			object.union(fx.consent("c-com", "nrm_referral", ["a-ca"], "full", ["D2"]), second),
		],
	),
	guardian,
)

complete := {"guardian_consent": true, "child_views_recorded": true}

# rules: CH6 CH9
test_an_incomplete_child_consent_never_counts_beside_a_complete_one if {
	d := decide(nrm_two({"guardian_consent": true, "child_views_recorded": false}, complete))
	not "subject.first_name" in d.permitted_fields
	both := decide(nrm_two(complete, complete))
	"subject.first_name" in both.permitted_fields
}

# rules: CH6 CH9
test_an_asylum_or_residence_application_for_a_child_is_a_legal_action if {
	every purpose in ["asylum_application", "residence_permit"] {
		purpose in data.gateway.children.legal_consequence_purposes
	}
}

l1_grant(classes) := {
	"basis": "L1", "scenario": "imminent_harm", "grant_id": "g-1", "classes": classes, "fields": [],
	"recipient_agency_id": "a-clinic", "approved": true, "second_approver_id": "u-2",
	"expires_at": "2026-11-24T12:00:00Z",
}

clinic_child(grant) := json.patch(
	object.union(
		fx.request(
			"healthcare",
			fx.recipient("a-clinic", "healthcare"),
			["subject.first_name", "risk.level", "subject.language"],
			[fx.consent("c-h", "healthcare", ["a-clinic"], "full", ["D1", "D5", "D12"])],
		),
		{"exception": grant},
	),
	child,
)

# rules: CH3 L1
test_an_exception_grant_reaches_only_its_classes_for_a_child_without_guardian_advocate if {
	d := decide(clinic_child(l1_grant(["D12"])))
	d.allow == true
	d.permitted_fields == ["risk.level"]
	d.basis.exception == "L1"
	d.obligations.notify_person == true
	reason_of(d, "subject.language") != "not_permitted"
	nothing := decide(clinic_child(l1_grant(["D23"])))
	nothing.allow == false
	"guardian_advocate_required" in nothing.reasons
}

# rules: L6 CH11
test_family_tracing_releases_only_the_identity_needed_for_tracing if {
	wide := object.union(l6_grant, {"classes": ["D1", "D13", "D14"], "fields": []})
	inp := json.patch(media_request(child, wide), [{"op": "replace", "path": "/fields", "value": [
		"subject.first_name", "subject.religion", "family.partner", "child.school_contact",
		"status.unaccompanied_or_separated",
	]}])
	d := decide(inp)
	d.permitted_fields == ["status.unaccompanied_or_separated", "subject.first_name"]
	reason_of(d, "family.partner") != "not_permitted"
	reason_of(d, "subject.religion") == "child_identity_public"
}

# ---------------------------------------------------------------- CH22 coming of age

# A young adult: the NGO consent the guardian gave while they were a child, and (optionally)
# their own.
young_adult(consents) := fx.request(
	"protection_support",
	fx.recipient("a-ngo", "ngo"),
	["subject.preferred_name"],
	consents,
)

guardian_given := object.union(
	fx.consent("c-guardian", "protection_support", ["a-ngo"], "relevant_portion", ["D1"]),
	{"guardian_consent": true, "child_views_recorded": true},
)

own_consent := object.union(
	fx.consent("c-own", "protection_support", ["a-ngo"], "relevant_portion", ["D1"]),
	{"guardian_consent": false, "child_views_recorded": false},
)

# rules: CH22
test_at_18_the_guardians_consent_lapses if {
	d := decide(young_adult([guardian_given]))
	d.allow == false
	"adult_own_consent_required" in d.reasons
	d.permitted_fields == []
}

# rules: CH22
test_at_18_the_young_persons_own_consent_governs if {
	d := decide(young_adult([guardian_given, own_consent]))
	d.allow == true
	d.basis.consent_ids == ["c-own"]
	d2 := decide(young_adult([fx.consent("c-adult", "protection_support", ["a-ngo"], "relevant_portion", ["D1"])]))
	d2.allow == true
}

# rules: CH22
test_a_child_still_relies_on_the_guardians_consent if {
	child := object.union(young_adult([guardian_given]), {"subject": object.union(fx.subject, {
		"is_child": true,
		"guardian_advocate_id": "ga-1",
	})})
	d := decide(child)
	d.allow == true
	d.basis.consent_ids == ["c-guardian"]
}

# ---------------------------------------------------------------- CR37 the person's own views

views_request(consents) := object.union(
	fx.request("data_sharing", fx.recipient("a-news", "ngo"), ["child.views_record", "subject.first_name"], consents),
	{
		"exception": object.union(l6_grant, {"classes": ["D1", "D14"], "fields": ["child.views_record", "subject.first_name"]}),
		"subject": object.union(fx.subject, {"is_child": true}),
	},
)

# rules: CR37 CH9
test_a_grant_never_carries_the_childs_recorded_views if {
	d := decide(views_request([]))
	"subject.first_name" in d.permitted_fields
	not "child.views_record" in d.permitted_fields
	reason_of(d, "child.views_record") == "exception_scope"
}
