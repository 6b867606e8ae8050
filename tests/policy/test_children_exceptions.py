"""Issue 9 on both engines: child rules (CH3, CH6/CH9/S16, CH7, CH19, CH20, CH23/S39) and L5c (S19)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.policy import PolicyEngine, decide
from tests.policy import inputs as i

GUARDED = {"is_child": True, "guardian_advocate_id": "ga-7"}


def _nrm(flags: dict[str, Any], **subject: Any) -> dict[str, Any]:
    return i.request("nrm_referral", i.recipient("a-ca", "competent_authority"), ["subject.first_name"],
                     [i.consent("c-nrm", "nrm_referral", ["a-ca"], ["D1", "D11"], scope="full", **flags)],
                     subject=i.subject(**{**GUARDED, **subject}))


@pytest.mark.rule("S16", "CH6", "CH9")
def test_s16_a_childs_legal_action_waits_for_the_childs_views_beside_the_guardians_consent(
    engine: PolicyEngine,
) -> None:
    blocked = decide(engine, _nrm({"guardian_consent": True, "child_views_recorded": False}))
    assert not blocked.allow and "child_guardian_consent_and_views_required" in blocked.reasons
    allowed = decide(engine, _nrm({"guardian_consent": True, "child_views_recorded": True}))
    assert allowed.allow, allowed.reasons


@pytest.mark.rule("CH7")
def test_ch7_a_suspected_guardians_consent_does_not_count(engine: PolicyEngine) -> None:
    flags = {"guardian_consent": True, "child_views_recorded": True, "guardian_suspected": True}
    denied = decide(engine, _nrm(flags, guardian_suspected=True))
    assert not denied.allow and "guardian_suspected_consent_void" in denied.reasons


@pytest.mark.rule("CH4")
def test_ch4_a_guardian_advocate_service_receives_only_the_children_allocated_to_it(engine: PolicyEngine) -> None:
    request = i.request("protection_support", i.recipient("a-ga", "guardian_advocate_service"),
                        ["subject.preferred_name"], [i.consent("c-ga", "protection_support", ["a-ga"], ["D1"])])

    def for_child(service: str | None) -> dict[str, Any]:
        return {**request, "subject": i.subject(**GUARDED, guardian_advocate_agency_id=service)}

    assert decide(engine, for_child("a-ga")).allow
    for service in ("a-ga-2", None):  # allocated to another service, or to none yet
        denied = decide(engine, for_child(service))
        assert not denied.allow and "guardian_advocate_service_not_allocated" in denied.reasons
    assert decide(engine, request).allow  # an adult's case: no allocation involved


@pytest.mark.rule("CH3", "CH20", "S29", "CH1")
def test_ch3_ch20_the_same_referral_is_decided_under_the_child_rules_once_the_age_is_corrected(
    engine: PolicyEngine,
) -> None:
    adult = i.request("shelter", i.recipient("a-shelter", "shelter"), ["subject.preferred_name"],
                      [i.consent("c-sh", "shelter", ["a-shelter"], ["D1"])])
    assert decide(engine, adult).allow
    corrected = {**adult, "subject": i.subject(is_child=True)}
    denied = decide(engine, corrected)
    assert not denied.allow and "guardian_advocate_required" in denied.reasons
    guarded = {**adult, "subject": i.subject(**GUARDED)}
    assert decide(engine, guarded).allow


@pytest.mark.rule("CH19", "CH2")
def test_ch19_a_child_returns_only_on_a_recorded_best_interests_decision(engine: PolicyEngine) -> None:
    flags = {"guardian_consent": True, "child_views_recorded": True}
    request = i.request("return", i.recipient("a-iom2", "iom"), ["subject.first_name"],
                        [i.consent("c-ret", "return", ["a-iom2"], ["D1"], scope="full", **flags)],
                        subject=i.subject(**GUARDED))
    denied = decide(engine, request)
    assert "child_return_requires_best_interests" in denied.reasons
    recorded = decide(engine, {**request, "subject": i.subject(**GUARDED, best_interests_ref="bid-1")})
    assert "child_return_requires_best_interests" not in recorded.reasons


@pytest.mark.rule("CH23", "S39")
def test_s39_an_adults_consent_never_covers_a_dependant(engine: PolicyEngine) -> None:
    adults = i.consent("c-adult", "shelter", ["a-shelter"], ["D1"], subject_id="s-adult")
    request = i.request("shelter", i.recipient("a-shelter", "shelter"), ["subject.preferred_name"], [adults],
                        subject=i.subject(**GUARDED))
    denied = decide(engine, request)
    assert not denied.allow and "no_consent" in denied.reasons


@pytest.mark.rule("L5c", "S19", "CH3", "CH15")
@pytest.mark.parametrize("kind", ["police", "missing_persons", "child_protection"])
def test_s19_child_indicators_as_an_indicator_record_without_consent(engine: PolicyEngine, kind: str) -> None:
    request = i.request(
        "protection_support", i.recipient("a-x", kind),
        ["routing.iom_indicator", "needs.categories", "history.trafficking_account"], [],
        subject=i.subject(is_child=True),
        requester=i.requester(exception_policy={"L5c": ["child_trafficking_indicators"]}),
        exception=i.grant("L5c", "child_trafficking_indicators", "a-x", ["D1", "D26"]),
    )
    d = decide(engine, request)
    assert d.allow, d.reasons
    assert d.basis.exception == "L5c"
    assert set(d.permitted_fields) == {"routing.iom_indicator", "needs.categories"}
    assert d.obligations.notify_person and d.obligations.second_approver_required


@pytest.mark.rule("L5c", "S19")
def test_l5c_the_indicator_record_is_for_children_only(engine: PolicyEngine) -> None:
    def indicators(subject: dict[str, Any]) -> dict[str, Any]:
        return i.request(
            "protection_support", i.recipient("a-x", "police"), ["routing.iom_indicator", "needs.categories"], [],
            subject=subject, requester=i.requester(exception_policy={"L5c": ["child_trafficking_indicators"]}),
            exception=i.grant("L5c", "child_trafficking_indicators", "a-x", ["D1", "D26"]),
        )

    assert decide(engine, indicators(i.subject(is_child=True))).allow
    adult = decide(engine, indicators(i.subject()))
    assert not adult.allow and "exception_requires_child" in adult.reasons
