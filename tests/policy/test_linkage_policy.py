"""The record_linkage purpose on both engines (embedded regorus and real OPA over REST).

A linkage answer is decided twice, each time by ``data.gateway.decision`` for the one field
``linkage.possible_match`` (D22): may the asker learn about agency X (its subject's consent
names X), and may X's knowing the person be told to the asker (X's subject's consent names the
asker). Only assisting agencies have a profile for it.
"""

from __future__ import annotations

import pytest

from gateway.policy import PolicyEngine, decide
from tests.policy import inputs as i

FIELD = "linkage.possible_match"


def _ask(engine: PolicyEngine, recipient_kind: str, consents: list[dict[str, object]], **extra: object):  # type: ignore[no-untyped-def]
    return decide(engine, i.request("record_linkage", i.recipient("a-x", recipient_kind), [FIELD], consents,
                                    **extra))


@pytest.mark.parametrize("kind", ["shelter", "ngo", "iom", "unhcr", "healthcare", "competent_authority"])
def test_a_consent_naming_the_agency_lets_it_be_named(engine: PolicyEngine, kind: str) -> None:
    consent = i.consent("c-1", "record_linkage", ["a-x"], ["D22"])
    decision = _ask(engine, kind, [consent])
    assert decision.allow, decision
    assert decision.permitted_fields == (FIELD,)
    assert decision.basis.consent_ids == ("c-1",)


@pytest.mark.parametrize("kind", ["police", "prosecutor", "immigration", "embassy", "media", "police_focal_point"])
def test_enforcement_embassies_and_media_never_learn_a_match_even_with_a_consent(engine: PolicyEngine,
                                                                                 kind: str) -> None:
    consent = i.consent("c-1", "record_linkage", ["a-x"], ["D22"])
    decision = _ask(engine, kind, [consent])
    assert not decision.allow
    assert decision.permitted_fields == ()


def test_no_consent_for_the_purpose_means_no_answer(engine: PolicyEngine) -> None:
    other_purpose = i.consent("c-1", "shelter", ["a-x"], ["D1", "D22"])
    decision = _ask(engine, "shelter", [other_purpose])
    assert not decision.allow
    assert "no_consent" in decision.reasons


def test_a_consent_naming_another_agency_does_not_count(engine: PolicyEngine) -> None:
    decision = _ask(engine, "shelter", [i.consent("c-1", "record_linkage", ["a-other"], ["D22"])])
    assert not decision.allow


def test_a_withdrawn_consent_does_not_count(engine: PolicyEngine) -> None:
    withdrawn = i.consent("c-1", "record_linkage", ["a-x"], ["D22"], withdrawn_at=i.EARLIER)
    assert not _ask(engine, "shelter", [withdrawn]).allow


def test_the_country_of_origin_is_never_told(engine: PolicyEngine) -> None:
    consent = i.consent("c-1", "record_linkage", ["a-x"], ["D22"])
    decision = decide(engine, i.request(
        "record_linkage", i.recipient("a-x", "iom", jurisdiction="XX"), [FIELD], [consent],
        subject=i.subject(asylum_claimed=True, country_of_origin="XX")))
    assert not decision.allow
