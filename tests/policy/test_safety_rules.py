"""The last planned rules of the catalogue that live in the policy (issue 21), on both engines.

- SEC12, S40: a contact channel (phone, e-mail, social media, postal address) goes only when the
  person's contact is recorded as verified safe (``contact.rego``);
- SEC11: during a child's Golden Day no channel that reaches the child's own device goes;
- CR35: preferences (the gender of the interpreter or professional) go only where a meeting with
  the person is arranged (``firewalls.rego``);
- SEC18: the trauma narrative goes only between the roles that work with it;
- CH22: at 18 a consent the guardian gave stops counting; the young adult's own consent governs;
- CR34: nothing about a person's immigration or asylum situation ever widens what goes.

Each rule has worked examples on both engines, and a property over generated decision inputs
(embedded engine) that states the rule for every input.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy import PolicyEngine, decide
from tests.policy import inputs as i
from tests.policy.strategies import _DOCS, decision_inputs, safety_flags

FIREWALLS = _DOCS["firewalls"]["firewalls"]
CHANNELS = set(FIREWALLS["safe_contact"]["fields"])
DEVICE = set(FIREWALLS["golden_day"]["fields"])
PREFERENCES = FIREWALLS["preferences"]
NARRATIVE = FIREWALLS["trauma_narrative"]
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CONTACT_SAFETY = ["verified_safe", "unverified", "third_party_access", None, "", "VERIFIED_SAFE", True]
LATER, EARLIER = i.LATER, i.EARLIER


def _with_subject(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["subject"].update(changes)
    return out


def advocate_request(contact_safety: Any) -> dict[str, Any]:
    """To the lead advocate (the one profile that carries D3), full scope."""
    doc = i.request("protection_support", i.recipient("a-adv", "independent_advocate"),
                    ["contact.email", "contact.phone", "contact.safe_to_contact", "subject.preferred_name"],
                    [i.consent("c-adv", "protection_support", ["a-adv"], ["D1", "D3"], scope="full")])
    return _with_subject(doc, contact_safety=contact_safety)


def child_request(golden_day_until: str | None) -> dict[str, Any]:
    """A child allocated to a guardian advocate service, contact verified safe."""
    doc = i.request("protection_support", i.recipient("a-gas", "guardian_advocate_service"),
                    ["contact.correspondence_address", "contact.phone", "contact.social_media",
                     "subject.preferred_name"],
                    [i.consent("c-gas", "protection_support", ["a-gas"], ["D1", "D3"], scope="full")])
    return _with_subject(doc, is_child=True, guardian_advocate_id="ga-1", guardian_advocate_agency_id="a-gas",
                         contact_safety="verified_safe", golden_day_until=golden_day_until)


@st.composite
def safety_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """A generated decision input that often asks for contact channels, preferences or the
    narrative, with the subject's contact safety and Golden Day in every state."""
    doc = draw(decision_inputs())
    extra = draw(st.lists(st.sampled_from(sorted(CHANNELS | set(PREFERENCES["fields"]) | set(NARRATIVE["fields"]))),
                          max_size=4, unique=True))
    doc["fields"] = sorted(set(doc["fields"]) | set(extra))
    doc["subject"]["contact_safety"] = draw(st.sampled_from(CONTACT_SAFETY))
    doc["subject"]["golden_day_until"] = draw(st.sampled_from([None, LATER, EARLIER]))
    doc["subject"]["guardian_advocate_id"] = draw(st.sampled_from([None, "ga-1"]))
    return doc


# ---------------------------------------------------------------- SEC12, S40


@pytest.mark.rule("SEC12", "S40")
def test_a_contact_channel_goes_only_when_verified_safe(engine: PolicyEngine) -> None:
    safe = decide(engine, advocate_request("verified_safe"))
    assert {"contact.phone", "contact.email"} <= set(safe.permitted_fields)
    for unsafe in ("third_party_access", "unverified", None, "VERIFIED_SAFE", True, ""):
        decision = decide(engine, advocate_request(unsafe))
        assert i.reason_of(decision, "contact.phone") == "contact_not_verified_safe", unsafe
        assert i.reason_of(decision, "contact.email") == "contact_not_verified_safe", unsafe
        # The safe-contact flags are not a channel: they tell the advocate why.
        assert "contact.safe_to_contact" in decision.permitted_fields
    unrecorded = advocate_request(None)
    del unrecorded["subject"]["contact_safety"]
    assert i.reason_of(decide(engine, unrecorded), "contact.phone") == "contact_not_verified_safe"


@pytest.mark.rule("SEC12", "S40")
@PROPERTY
@given(doc=safety_inputs())
def test_no_channel_goes_unless_verified_safe_for_every_input(embedded: PolicyEngine, doc: dict[str, Any]) -> None:
    permitted = set(decide(embedded, doc).permitted_fields)
    if permitted & CHANNELS:
        assert doc["subject"]["contact_safety"] == "verified_safe"


# ---------------------------------------------------------------- SEC11


@pytest.mark.rule("SEC11")
def test_nothing_reaches_a_childs_device_during_the_golden_day(engine: PolicyEngine) -> None:
    during = decide(engine, child_request(LATER))
    assert i.reason_of(during, "contact.phone") == "child_golden_day_no_device_contact"
    assert i.reason_of(during, "contact.social_media") == "child_golden_day_no_device_contact"
    assert {"contact.correspondence_address", "subject.preferred_name"} <= set(during.permitted_fields)
    for after in (EARLIER, None):
        assert "contact.phone" in decide(engine, child_request(after)).permitted_fields
    adult = _with_subject(child_request(LATER), is_child=False)
    assert "contact.phone" in decide(engine, adult).permitted_fields


@pytest.mark.rule("SEC11")
@PROPERTY
@given(doc=safety_inputs())
def test_no_device_channel_goes_in_a_golden_day_for_every_input(embedded: PolicyEngine,
                                                                 doc: dict[str, Any]) -> None:
    subject = doc["subject"]
    child = any(subject[f] not in (False, None) for f in ("is_child", "age_disputed"))
    permitted = set(decide(embedded, doc).permitted_fields)
    if child and subject["golden_day_until"] == LATER:
        assert not permitted & DEVICE


# ---------------------------------------------------------------- CR35


def preference_request(purpose: str, kind: str = "ngo") -> dict[str, Any]:
    return i.request(purpose, i.recipient("a-x", kind),
                     ["subject.interpreter_gender_preference", "subject.language",
                      "subject.professional_gender_preference"],
                     [i.consent("c-x", purpose, ["a-x"], ["D1", "D5"], scope="full")])


@pytest.mark.rule("CR35")
def test_preferences_go_only_where_a_meeting_is_arranged(engine: PolicyEngine) -> None:
    meeting = decide(engine, preference_request("protection_support"))
    assert {"subject.interpreter_gender_preference", "subject.professional_gender_preference"} <= set(
        meeting.permitted_fields)
    sharing = decide(engine, preference_request("data_sharing"))
    assert "subject.language" in sharing.permitted_fields
    for field in PREFERENCES["fields"]:
        assert i.reason_of(sharing, field) == "preference_scheduling_only"


@pytest.mark.rule("CR35")
@PROPERTY
@given(doc=safety_inputs())
def test_preferences_never_go_beyond_scheduling_for_every_input(embedded: PolicyEngine,
                                                                doc: dict[str, Any]) -> None:
    permitted = set(decide(embedded, doc).permitted_fields)
    if permitted & set(PREFERENCES["fields"]):
        assert doc["recipient"]["kind"] in PREFERENCES["recipient_kinds"]
        assert doc["purpose"] in PREFERENCES["purposes"]


# ---------------------------------------------------------------- SEC18


def narrative_request(requester_role: str, recipient_role: str | None) -> dict[str, Any]:
    recipient = i.recipient("a-ngo", "ngo", **({"user_role": recipient_role} if recipient_role else {}))
    return i.request("protection_support", recipient, ["history.trafficking_account", "subject.preferred_name"],
                     [i.consent("c-ngo", "protection_support", ["a-ngo"], ["D1", "D11"], scope="full")],
                     requester=i.requester(user_role=requester_role))


@pytest.mark.rule("SEC18")
def test_the_trauma_narrative_stays_with_the_roles_that_work_with_it(engine: PolicyEngine) -> None:
    for sender, reader in (("caseworker", "advocate"), ("advocate", None), ("guardian_advocate", "caseworker")):
        assert "history.trafficking_account" in decide(engine, narrative_request(sender, reader)).permitted_fields
    for sender, reader in (("dpo", "advocate"), ("caseworker", "dpo"), ("dpo", None)):
        decision = decide(engine, narrative_request(sender, reader))
        assert i.reason_of(decision, "history.trafficking_account") == "trauma_narrative_role", (sender, reader)
        assert "subject.preferred_name" in decision.permitted_fields


@pytest.mark.rule("SEC18")
@PROPERTY
@given(doc=safety_inputs())
def test_the_narrative_never_reaches_another_role_for_every_input(embedded: PolicyEngine,
                                                                  doc: dict[str, Any]) -> None:
    permitted = set(decide(embedded, doc).permitted_fields)
    if permitted & set(NARRATIVE["fields"]):
        assert doc["requester"]["user_role"] in NARRATIVE["user_roles"]
        assert doc["recipient"].get("user_role") in (None, *NARRATIVE["user_roles"])


# ---------------------------------------------------------------- CH22


def young_adult(consents: list[dict[str, Any]]) -> dict[str, Any]:
    return i.request("protection_support", i.recipient("a-ngo", "ngo"), ["subject.preferred_name"], consents)


GUARDIAN_GIVEN = i.consent("c-guardian", "protection_support", ["a-ngo"], ["D1"], guardian_consent=True,
                           child_views_recorded=True)
OWN = i.consent("c-own", "protection_support", ["a-ngo"], ["D1"], guardian_consent=False, child_views_recorded=False)


@pytest.mark.rule("CH22")
def test_at_18_the_young_persons_own_consent_governs(engine: PolicyEngine) -> None:
    lapsed = decide(engine, young_adult([GUARDIAN_GIVEN]))
    assert not lapsed.allow
    assert "adult_own_consent_required" in lapsed.reasons
    own = decide(engine, young_adult([GUARDIAN_GIVEN, OWN]))
    assert own.allow and own.basis.consent_ids == ("c-own",)
    child = young_adult([GUARDIAN_GIVEN])
    child["subject"].update(is_child=True, guardian_advocate_id="ga-1")
    assert decide(engine, child).basis.consent_ids == ("c-guardian",)


@pytest.mark.rule("CH22")
@PROPERTY
@given(doc=decision_inputs())
def test_a_guardians_consent_adds_nothing_for_an_adult_for_every_input(embedded: PolicyEngine,
                                                                       doc: dict[str, Any]) -> None:
    doc["subject"].update(is_child=False, age_disputed=False)
    for c in doc["consents"]:
        c["guardian_consent"] = True
    without = copy.deepcopy(doc)
    without["consents"] = []
    decision = decide(embedded, doc)
    assert set(decision.permitted_fields) <= set(decide(embedded, without).permitted_fields)
    assert decision.basis.consent_ids == ()


# ---------------------------------------------------------------- CR34


def _immigration_status_cases() -> list[dict[str, Any]]:
    police = i.police_request([i.cj_consent("c-cj", ["a-police"], "formal_report_and_witness",
                                            ["D1", "D3", "D11", "D15", "D17"])])
    immigration = i.request("protection_support", i.recipient("a-imm", "immigration"),
                            ["subject.first_name", "immigration.status", "subject.preferred_name"],
                            [i.consent("c-imm", "protection_support", ["a-imm"], ["D1", "D15"], scope="full")])
    return [i.ngo_referral(), police, immigration, advocate_request("verified_safe")]


def _no_wider(engine: PolicyEngine, doc: dict[str, Any], **status: Any) -> None:
    """Setting immigration or asylum facts never permits a field that the same request without them denies."""
    plain = _with_subject(doc, asylum_claimed=False, possible_refugee=False)
    flagged = _with_subject(doc, **status)
    assert set(decide(engine, flagged).permitted_fields) <= set(decide(engine, plain).permitted_fields), status


@pytest.mark.rule("CR34")
def test_an_immigration_or_asylum_situation_never_widens_what_goes(engine: PolicyEngine) -> None:
    for doc in _immigration_status_cases():
        for status in ({"asylum_claimed": True}, {"possible_refugee": True},
                       {"asylum_claimed": True, "possible_refugee": True}):
            _no_wider(engine, doc, **status)
    # The immigration firewall holds for an asylum seeker as for anyone (digest 8.2 item 13).
    immigration = _immigration_status_cases()[2]
    for flags in ({"asylum_claimed": False}, {"asylum_claimed": True}, {"possible_refugee": True}):
        assert "immigration_firewall" in decide(engine, _with_subject(immigration, **flags)).reasons


@pytest.mark.rule("CR34")
@PROPERTY
@given(doc=safety_inputs(), asylum=safety_flags(), refugee=safety_flags())
def test_immigration_status_never_widens_what_goes_for_every_input(embedded: PolicyEngine, doc: dict[str, Any],
                                                                   asylum: Any, refugee: Any) -> None:
    _no_wider(embedded, doc, asylum_claimed=asylum, possible_refugee=refugee)


# ---------------------------------------------------------------- T2, SEC7


def _profile_request(agency_id: str, kind: str) -> dict[str, Any]:
    return i.request("protection_support", i.recipient(agency_id, kind),
                     ["subject.preferred_name", "welfare.subsistence"],
                     [i.consent("c-both", "protection_support", ["a-ngo", "a-shelter"], ["D1", "D19"])])


@pytest.mark.rule("T2", "CR18")
def test_each_recipient_sees_the_profile_of_its_role(engine: PolicyEngine) -> None:
    """T2: not "all the available information" but the profile of the recipient's role; more is
    asked for through an information request and a consent (tests/rules/test_information_requests.py)."""
    assert "welfare.subsistence" in decide(engine, _profile_request("a-ngo", "ngo")).permitted_fields
    shelter = decide(engine, _profile_request("a-shelter", "shelter"))
    assert i.reason_of(shelter, "welfare.subsistence") == "not_in_profile"
    assert "subject.preferred_name" in shelter.permitted_fields


@pytest.mark.rule("SEC7", "L9", "T1")
def test_the_receiving_staff_hear_of_the_risks(engine: PolicyEngine) -> None:
    """SEC7: the risk summary reaches the staff of a receiving service (it protects them too)."""
    decision = decide(engine, i.request("protection_support", i.recipient("a-shelter", "shelter"),
                                        ["risk.known_risks", "risk.level", "subject.preferred_name"],
                                        [i.consent("c-s", "protection_support", ["a-shelter"], ["D1"])]))
    assert decision.obligations.include_risk_summary
    assert {"risk.known_risks", "risk.level"} <= set(decision.permitted_fields)


# ---------------------------------------------------------------- CR37

OWN_VIEWS = set(FIREWALLS["own_views"]["fields"])
FIELD_CLASS = {f: spec["class"] for f, spec in _DOCS["fields"]["fields"].items()}


def _views_request(grant_fields: list[str], consents: list[dict[str, Any]]) -> dict[str, Any]:
    grant = i.grant("L6", "family_tracing_appeal", "a-trace", ["D1", "D14"], fields=grant_fields)
    doc = i.request("data_sharing", i.recipient("a-trace", "child_protection"),
                    ["child.views_record", "subject.first_name"], consents, exception=grant)
    return _with_subject(doc, is_child=True, guardian_advocate_id="ga-1")


@pytest.mark.rule("CR37", "CH9")
def test_the_persons_own_views_go_only_on_their_consent(engine: PolicyEngine) -> None:
    granted = decide(engine, _views_request(["child.views_record", "subject.first_name"], []))
    assert "subject.first_name" in granted.permitted_fields
    assert i.reason_of(granted, "child.views_record") == "exception_scope"
    consented = i.consent("c-views", "data_sharing", ["a-trace"], ["D1", "D14"], scope="full",
                          guardian_consent=True, child_views_recorded=True)
    doc = _views_request(["subject.first_name"], [consented])
    doc["exception"] = None
    assert "child.views_record" in decide(engine, doc).permitted_fields


@pytest.mark.rule("CR37")
@PROPERTY
@given(doc=safety_inputs(), views=st.lists(st.sampled_from(sorted(OWN_VIEWS)), min_size=1, unique=True))
def test_own_views_never_go_without_a_consent_listing_them_for_every_input(
        embedded: PolicyEngine, doc: dict[str, Any], views: list[str]) -> None:
    doc["fields"] = sorted(set(doc["fields"]) | set(views))
    if doc["exception"] is not None:
        doc["exception"]["fields"] = sorted(set(doc["exception"]["fields"]) | set(views))
    decision = decide(embedded, doc)
    relied_on = [c for c in doc["consents"] if c["id"] in decision.basis.consent_ids]
    for field in set(decision.permitted_fields) & OWN_VIEWS:
        assert any(FIELD_CLASS[field] in c["data_classes"] for c in relied_on), field


# ---------------------------------------------------------------- SEC5, T6: what the profiles keep back

PROFILES = _DOCS["profiles"]["profiles"]
ALL_CLASSES = sorted(_DOCS["classes"]["classes"], key=lambda k: int(k[1:]))


def _generous(purpose: str, kind: str, fields: list[str]) -> dict[str, Any]:
    consent = i.consent("c-all", purpose, ["a-x"], ALL_CLASSES, scope="full", guardian_consent=True,
                        child_views_recorded=True)
    if purpose == "criminal_justice":
        consent["cj_option"] = "formal_report_and_witness"
    return i.request(purpose, i.recipient("a-x", kind), fields, [consent])


@pytest.mark.rule("SEC5")
def test_no_court_or_prosecutor_ever_gets_a_staff_members_name(engine: PolicyEngine) -> None:
    """SEC5: court-related exchanges carry the organisation, never the referring professional's name."""
    pairs = [(p, k) for p, kinds in PROFILES.items() for k in kinds if k in ("court", "prosecutor")]
    assert pairs
    for purpose, kind in pairs:
        decision = decide(engine, _generous(purpose, kind, ["envelope.referring_professional"]))
        assert "envelope.referring_professional" not in decision.permitted_fields, (purpose, kind)


@pytest.mark.rule("T6")
def test_key_contact_details_are_not_part_of_routine_referrals(engine: PolicyEngine) -> None:
    """T6: the contact record stays with the lead advocate; no routine referral carries it, even
    verified safe and with a full consent to every class (release on a disappearance is L11)."""
    holders = {("criminal_justice", "police")} | {(p, k) for p in PROFILES for k in ("independent_advocate",
                                                                                     "guardian_advocate_service")}
    for purpose, kinds in PROFILES.items():
        for kind in kinds:
            permitted = decide(engine, _generous(purpose, kind, sorted(CHANNELS))).permitted_fields
            if (purpose, kind) not in holders:
                assert not set(permitted) & CHANNELS, (purpose, kind)
