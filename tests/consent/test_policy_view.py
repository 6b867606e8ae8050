"""The policy engine's input fragments: exactly the agreed shape, only consents in force."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from consent import Subject, consents_fragment, subject_fragment
from consent.clock import FixedClock
from consent.policy_view import consent_documents, subject_document
from consent.service import (
    consent_documents_in_force,
    consent_statuses,
    consents_in_force,
    get_subject_for_agency,
)
from gateway.context import GatewayContext
from gateway.registry.models import AgencyKind
from tests.conftest import register

SUBJECT_KEYS = {"id", "is_child", "age_disputed", "asylum_claimed", "possible_refugee", "country_of_origin",
                "declined_nrm", "placement_agency_id", "guardian_advocate_id", "guardian_advocate_agency_id",
                "guardian_suspected", "open_cases",
                "cj_role", "contact_safety", "golden_day_until"}
CONSENT_KEYS = {"id", "purpose", "recipients", "scope", "data_classes", "cj_option", "expires_at",
                "guardian_consent", "child_views_recorded",
                # required by policies/input.schema.json (consent.rego: subject check, CR25 countries)
                "subject_id", "countries"}


@pytest.mark.rule("CH1", "CR17")
def test_subject_fragment_has_exactly_the_agreed_keys(ctx: GatewayContext, new_subject: Callable[..., str]) -> None:
    sid = new_subject(age_band="16-17", asylum_claimed=True, country_of_origin="er", guardian_advocate_id="ga-1",
                      open_cases=[{"recipient_agency_id": "police"}], cj_role="witness", placement_agency_id="shelter")
    with ctx.sessions() as session:
        subject = session.get(Subject, sid)
        assert subject is not None
        # The row holds a keyed reference only; the gateway, which holds the key, names the recipient
        # as the placement when it is (gateway.exchange.state), and the fragment carries that.
        assert subject.placement_ref is not None and "shelter" not in subject.placement_ref
        fragment = subject_fragment(subject, ctx.clock.now(), placement_agency_id="shelter")
        assert subject_document(subject, ctx.clock.now(), placement_agency_id="shelter") == fragment
        assert subject_fragment(subject, ctx.clock.now())["placement_agency_id"] is None
        assert get_subject_for_agency(session, sid, "shelter") is None
    assert set(fragment) == SUBJECT_KEYS
    assert fragment == {
        "id": sid, "is_child": True, "age_disputed": False, "asylum_claimed": True, "possible_refugee": False,
        "country_of_origin": "ER", "declined_nrm": False, "placement_agency_id": "shelter",
        "guardian_advocate_id": "ga-1", "guardian_advocate_agency_id": None, "guardian_suspected": False,
        "open_cases": [{"recipient_agency_id": "police"}], "cj_role": "witness",
        "contact_safety": None, "golden_day_until": None,
    }


@pytest.mark.rule("CR14", "CH6", "CH9")
def test_consents_fragment_lists_only_consents_in_force(
    ctx: GatewayContext, client: Any, auth: Any, new_subject: Callable[..., str],
    grant: Callable[..., dict[str, Any]], clock: FixedClock
) -> None:
    adult = new_subject()
    kept = grant(adult, purpose="criminal_justice", recipients=[{"agency_id": "police"}, {"agency_id": "iom"}],
                 cj_option="anonymous_intelligence_only", scope="case_specific_no_personal_data",
                 data_classes=["D23", "D5"])["consent"]
    gone = grant(adult, purpose="healthcare", recipients=[{"agency_id": "clinic"}])["consent"]
    client.post(f"/v1/consents/{gone['id']}/withdraw", headers=auth("ngo"),
                json={"channel": "portal"})
    short = grant(adult, purpose="shelter", expires_at=(clock.now() + timedelta(minutes=5)).isoformat())["consent"]
    with ctx.sessions() as session:
        now = clock.now()
        records = consents_in_force(session, adult, at=now)
        assert {r.id for r in records} == {kept["id"], short["id"]}
        later = now + timedelta(minutes=5)
        fragment = consents_fragment(records, later)
        assert consent_documents(consents_in_force(session, adult, at=later)) == fragment
        # The decision's single-statement read gives the same fragments as the ORM objects.
        for moment in (now, later):
            assert consent_documents_in_force(session, adult, at=moment) == consent_documents(
                consents_in_force(session, adult, at=moment))
        statuses = consent_statuses(session, [kept["id"], gone["id"], short["id"], "cns_nope"], at=later)
    assert statuses == {kept["id"]: "in_force", gone["id"]: "withdrawn", short["id"]: "expired",
                        "cns_nope": "unknown"}
    assert fragment == [{
        "id": kept["id"], "subject_id": adult, "countries": [], "purpose": "criminal_justice",
        "recipients": ["iom", "police"],
        "scope": "case_specific_no_personal_data", "data_classes": ["D5", "D23"],
        "cj_option": "anonymous_intelligence_only", "expires_at": "2027-02-22T10:00:00Z",
        "guardian_consent": None, "child_views_recorded": None,
    }]
    assert all(set(c) == CONSENT_KEYS for c in fragment)


@pytest.mark.rule("CH6", "CH9")
def test_child_flags_are_false_when_recorded_for_a_child_without_them(
    ctx: GatewayContext, new_subject: Callable[..., str], grant: Callable[..., dict[str, Any]]
) -> None:
    child = new_subject(age_band="12-15", parental_guardian_id="guard-1")
    shelter = grant(child, purpose="shelter")["consent"]["id"]
    legal = grant(child, purpose="nrm_referral", recipients=[{"agency_id": "iom"}],
                  guardian_consent={"guardian_id": "guard-1", "given_at": "2026-11-24T09:00:00Z"},
                  child_views={"recorded": True, "recorded_at": "2026-11-24T09:00:00Z",
                               "reference": "ref-1"})["consent"]["id"]
    with ctx.sessions() as session:
        by_id = {c["id"]: c for c in consents_fragment(consents_in_force(session, child, at=ctx.clock.now()),
                                                       ctx.clock.now())}
        assert consent_documents_in_force(session, child, at=ctx.clock.now()) == list(by_id.values())
    assert (by_id[shelter]["guardian_consent"], by_id[shelter]["child_views_recorded"]) == (False, False)
    assert (by_id[legal]["guardian_consent"], by_id[legal]["child_views_recorded"]) == (True, True)


@pytest.mark.rule("CR25")
def test_cr25_countries_named_for_cross_border_recipients(ctx: GatewayContext, new_subject: Callable[..., str],
                                                          grant: Callable[..., dict[str, Any]]) -> None:
    register(ctx, "iom-ua", AgencyKind.IOM, jurisdiction="UA")
    sid = new_subject()
    grant(sid, purpose="return", recipients=[{"agency_id": "iom-ua", "country": "UA", "organisation": "iom-ua agency"},
                                             {"agency_id": "iom"}])
    with ctx.sessions() as session:
        (fragment,) = consents_fragment(consents_in_force(session, sid, at=ctx.clock.now()), ctx.clock.now())
        assert consent_documents_in_force(session, sid, at=ctx.clock.now()) == [fragment]
    assert (fragment["recipients"], fragment["countries"]) == (["iom", "iom-ua"], ["UA"])
