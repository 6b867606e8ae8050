"""Generated decision inputs: the children's rules and the reach of an exception grant (issue 21).

Each property compares two decisions of the same policy on inputs that differ in one respect, so
the truth needs no second implementation of the policy:

- consents that do not count for a child (a suspected guardian's, CH7; an incomplete one for a
  legal action, CH6, CH9) never add a permitted field: dropping them from the input permits at
  least as much;
- a valid exception grant adds only fields of its own classes (digest 4): whatever it permits
  beyond the decision without it lies within the grant's classes and the basis' fields, and the
  decision then names the basis and tells the person; it never switches off CH3, CH6 or CH7
  for the other classes;
- the return rule (CR24) looks at recipients: a country-of-origin authority never receives
  anything without a return (or post-return monitoring) consent that names it, whether the
  request rides on an exception grant or a ``kind:`` consent.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy import PolicyEngine, decide
from gateway.policy.flags import flag_set
from tests.policy import inputs as i
from tests.policy.strategies import _DOCS, CLASSES, FIELDS, KINDS, PURPOSES, consents, safety_flags

EXCEPTIONS = _DOCS["exceptions"]["exceptions"]
CLAIMABLE = sorted(b for b, v in EXCEPTIONS.items() if v["enabled"] and v["claim"] == "exception")
LEGAL = set(_DOCS["exceptions"]["children"]["legal_consequence_purposes"])
FIELD_CLASS = {f: spec["class"] for f, spec in _DOCS["fields"]["fields"].items()}
SCENARIO = "published"
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


PROFILES = _DOCS["profiles"]["profiles"]
PAIRS = sorted((purpose, kind) for purpose, kinds in PROFILES.items() for kind in kinds)


def _profile_fields(purpose: str, kind: str) -> list[str]:
    profile = PROFILES[purpose][kind]
    classes = set(profile["classes"]) | set(profile["full_only"])
    return sorted(f for f, k in FIELD_CLASS.items() if k in classes)


@st.composite
def child_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request about a child (sometimes an adult), with consents that often name the recipient,
    guardian flags in every state (mistyped ones too), and often a valid exception grant. Most
    requests stay within a profile, so that a consent that should not count would carry fields."""
    basis = draw(st.sampled_from(CLAIMABLE))
    spec = EXCEPTIONS[basis]
    with_grant = draw(st.booleans())
    pairs = [(p, k) for p, k in PAIRS if not with_grant
             or (k in spec["recipient_kinds"] and (not spec["purposes"] or p in spec["purposes"]))]
    if pairs and draw(st.integers(0, 4)) != 0:
        purpose, kind = draw(st.sampled_from(pairs))
        pool = _profile_fields(purpose, kind) or FIELDS
    else:
        kind = draw(st.sampled_from(spec["recipient_kinds"])) if with_grant else draw(st.sampled_from(KINDS))
        purpose = draw(st.sampled_from(spec["purposes"] or PURPOSES)) if with_grant else draw(st.sampled_from(PURPOSES))
        pool = FIELDS
    pool_classes = sorted({FIELD_CLASS[f] for f in pool})
    recipient = i.recipient("a-rcpt", kind)
    docs = draw(st.lists(consents(), min_size=0, max_size=4))
    for doc in docs:
        doc["subject_id"] = "s-1"
        if draw(st.integers(0, 3)) != 0:
            doc["purpose"] = purpose
            doc["recipients"] = [draw(st.sampled_from(["a-rcpt", f"kind:{kind}"]))]
            doc["expires_at"] = i.LATER
            doc["scope"] = draw(st.sampled_from(["full", "relevant_portion"]))
            doc["data_classes"] = draw(st.lists(st.sampled_from(pool_classes), max_size=4, unique=True))
            doc.pop("withdrawn_at", None)
        doc["guardian_suspected"] = draw(safety_flags())
    subject = i.subject(is_child=draw(st.one_of(st.just(True), st.just(True), safety_flags())),
                        guardian_advocate_id=draw(st.sampled_from([None, "ga-7", "ga-7"])),
                        best_interests_ref=draw(st.sampled_from([None, "bi-1"])))
    requester = i.requester(exception_policy={b: [SCENARIO] for b in CLAIMABLE})
    fields = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=10, unique=True))
    doc = i.request(purpose, recipient, fields, docs, subject=subject, requester=requester)
    if with_grant:
        classes = draw(st.lists(st.sampled_from(CLASSES), max_size=3, unique=True))
        doc["exception"] = i.grant(basis, SCENARIO, "a-rcpt", classes, expires_at="2026-11-24T11:00:00Z")
    return doc


def _counts_for_child(consent: dict[str, Any], purpose: str) -> bool:
    if flag_set(consent.get("guardian_suspected")):
        return False
    return purpose not in LEGAL or (consent.get("guardian_consent") is True
                                    and consent.get("child_views_recorded") is True)


def _grant_reach(doc: dict[str, Any]) -> set[str]:
    grant = doc["exception"]
    if not grant:
        return set()
    spec = EXCEPTIONS[grant["basis"]]
    return {f for f in doc["fields"]
            if FIELD_CLASS[f] in set(spec["classes"]) & set(grant["classes"])
            and (not spec["fields"] or f in spec["fields"])}


@pytest.mark.rule("CH7", "CH6", "CH9")
@PROPERTY
@given(doc=child_requests())
def test_consents_that_do_not_count_for_a_child_never_add_a_field(engine: PolicyEngine, doc: dict[str, Any]) -> None:
    pruned = copy.deepcopy(doc)
    if flag_set(doc["subject"]["is_child"]):
        pruned["consents"] = [c for c in doc["consents"] if _counts_for_child(c, doc["purpose"])]
    full = decide(engine, doc)
    without = decide(engine, pruned)
    assert set(full.permitted_fields) <= set(without.permitted_fields), (full, without)


@pytest.mark.rule("CH3", "CH6", "CH7", "L1")
@PROPERTY
@given(doc=child_requests())
def test_an_exception_grant_reaches_only_its_own_classes_and_is_recorded(
    engine: PolicyEngine, doc: dict[str, Any],
) -> None:
    with_grant = decide(engine, doc)
    without = decide(engine, {**doc, "exception": None})
    beyond = set(with_grant.permitted_fields) - set(without.permitted_fields)
    reach = _grant_reach(doc)
    used = bool(set(with_grant.permitted_fields) & reach)
    recorded = (not used or (with_grant.basis.exception == doc["exception"]["basis"]
                             and with_grant.obligations.notify_person))
    assert beyond <= reach and recorded, (with_grant, without, reach)


@pytest.mark.rule("CH3", "CH13")
@PROPERTY
@given(doc=child_requests())
def test_without_a_guardian_advocate_only_a_grant_or_child_protection_receives(
    engine: PolicyEngine, doc: dict[str, Any],
) -> None:
    doc["subject"]["is_child"] = True
    doc["subject"]["guardian_advocate_id"] = None
    decision = decide(engine, doc)
    exempt = doc["recipient"]["kind"] in _DOCS["exceptions"]["children"]["guardian_free_recipient_kinds"]
    assert exempt or set(decision.permitted_fields) <= _grant_reach(doc), decision


L6_FIELDS = set(EXCEPTIONS["L6"]["fields"])


@pytest.mark.rule("L6", "CH11")
@PROPERTY
@given(fields=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=12, unique=True),
       classes=st.lists(st.sampled_from(CLASSES), max_size=6, unique=True),
       kind=st.sampled_from(EXCEPTIONS["L6"]["recipient_kinds"]))
def test_family_tracing_releases_only_the_identity_needed_for_tracing(
    engine: PolicyEngine, fields: list[str], classes: list[str], kind: str,
) -> None:
    doc = i.request("data_sharing", i.recipient("a-trace", kind), fields, [],
                    subject=i.subject(is_child=True, guardian_advocate_id="ga-7"),
                    exception=i.grant("L6", "family_tracing_appeal", "a-trace", classes))
    decision = decide(engine, doc)
    assert set(decision.permitted_fields) <= L6_FIELDS, decision


@pytest.mark.rule("CH6", "CH9")
def test_an_asylum_or_residence_application_for_a_child_needs_guardian_and_views(engine: PolicyEngine) -> None:
    for purpose, kind in (("asylum_application", "unhcr"), ("residence_permit", "legal_aid")):
        def ask(flags: dict[str, Any], purpose: str = purpose, kind: str = kind) -> Any:
            return decide(engine, i.request(purpose, i.recipient("a-r", kind), ["subject.first_name"],
                                            [i.consent("c-a", purpose, ["a-r"], ["D1"], **flags)],
                                            subject=i.subject(is_child=True, guardian_advocate_id="ga-7")))
        missing = ask({"guardian_consent": True, "child_views_recorded": None})
        complete = ask({"guardian_consent": True, "child_views_recorded": True})
        assert "child_guardian_consent_and_views_required" in missing.reasons and not missing.allow, purpose
        assert complete.allow, complete


def _two_consents(engine: PolicyEngine, purpose: str, kind: str, fields: list[str],
                  first: dict[str, Any], second: dict[str, Any]) -> Any:
    """A child's request on two consents: ``first`` lists D1 and D2, ``second`` lists D5 only."""
    return decide(engine, i.request(purpose, i.recipient("a-r", kind), fields, [
        i.consent("c-1", purpose, ["a-r"], ["D1", "D2"], scope="full", **first),
        i.consent("c-2", purpose, ["a-r"], ["D5"], scope="full", **second),
    ], subject=i.subject(is_child=True, guardian_advocate_id="ga-7")))


@pytest.mark.rule("CH6", "CH9")
def test_an_incomplete_child_consent_never_counts_beside_a_complete_one(engine: PolicyEngine) -> None:
    complete = {"guardian_consent": True, "child_views_recorded": True}
    fields = ["subject.first_name", "subject.language"]
    mixed = _two_consents(engine, "nrm_referral", "competent_authority", fields,
                          {"guardian_consent": True, "child_views_recorded": False}, complete)
    both = _two_consents(engine, "nrm_referral", "competent_authority", fields, complete, complete)
    assert "subject.first_name" not in mixed.permitted_fields and "subject.first_name" in both.permitted_fields, (
        mixed, both)


@pytest.mark.rule("CH7")
def test_a_suspected_guardians_consent_counts_only_on_its_own_merits(engine: PolicyEngine) -> None:
    fields = ["subject.preferred_name", "subject.language"]
    void = _two_consents(engine, "shelter", "shelter", fields, {"guardian_suspected": True}, {})
    clean = _two_consents(engine, "shelter", "shelter", fields, {}, {})
    name = "subject.preferred_name"
    assert name not in void.permitted_fields and name in clean.permitted_fields, (void, clean)


@pytest.mark.rule("CH3", "L1")
def test_a_grant_for_a_child_without_guardian_advocate_carries_its_classes_and_nothing_else(
    engine: PolicyEngine,
) -> None:
    def ask(classes: list[str]) -> Any:
        return decide(engine, i.request(
            "healthcare", i.recipient("a-clinic", "healthcare"),
            ["subject.first_name", "risk.level", "subject.language"],
            [i.consent("c-h", "healthcare", ["a-clinic"], ["D1", "D5", "D12"], scope="full")],
            subject=i.subject(is_child=True), exception=i.grant("L1", "imminent_harm", "a-clinic", classes)))
    risk_only = ask(["D12"])
    other_class = ask(["D23"])
    assert (risk_only.allow and risk_only.permitted_fields == ("risk.level",) and risk_only.basis.exception == "L1"
            and risk_only.obligations.notify_person), risk_only
    assert not other_class.allow and "guardian_advocate_required" in other_class.reasons, other_class
