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
