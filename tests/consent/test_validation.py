"""Every consent rule, through the API on both databases: a precise 422 reason per failed rule.

A refused consent stores nothing but its audit entry (written in a transaction of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent import ConsentRecord
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.registry.models import AgencyKind
from tests.conftest import T0, Registry, register
from tests.consent.conftest import ALL_EXPLAINED, Auth, consent_body
from tests.support.pseudonyms import subject_of
from tests.support.staff import People

NewSubject = Callable[..., str]
Grant = Callable[..., dict[str, Any]]


def refused(client: TestClient, auth: Auth, body: dict[str, Any], agency: str = "ngo") -> dict[str, Any]:
    response = client.post("/v1/consents", headers=auth(agency), json=body)
    assert response.status_code == 422, response.text
    problem = dict(response.json())
    assert problem["reason"] == problem["failures"][0]["reason"]
    return problem


def reasons(problem: dict[str, Any]) -> list[str]:
    return [f["reason"] for f in problem["failures"]]


def count_records(ctx: GatewayContext) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ConsentRecord)) or 0)


# ---------------------------------------------------------------- CR5, CR11


@pytest.mark.rule("CR5")
@pytest.mark.parametrize("item", ALL_EXPLAINED)
def test_cr5_each_unexplained_item_is_refused(client: TestClient, auth: Auth, new_subject: NewSubject,
                                              ctx: GatewayContext, item: str) -> None:
    """CR5: reason, storage, access to the file, recipients, scope and duties to share must all be explained."""
    sid = new_subject()
    problem = refused(client, auth, consent_body(sid, explained_items=[i for i in ALL_EXPLAINED if i != item]))
    assert problem["failures"] == [{"reason": "explained_item_missing", "rule": "CR5",
                                    "field": f"explained_items.{item}"}]
    assert count_records(ctx) == 0


@pytest.mark.rule("CR5")
def test_cr5_a_consent_must_name_its_recipients(client: TestClient, auth: Auth, new_subject: NewSubject) -> None:
    """CR5: 'the identity of all persons and agencies who may use and receive the information'."""
    problem = refused(client, auth, consent_body(new_subject(), recipients=[]))
    assert problem["failures"] == [{"reason": "explained_item_missing", "rule": "CR5", "field": "recipients"}]


@pytest.mark.rule("CR11")
def test_cr11_notice_version_is_required(client: TestClient, auth: Auth, new_subject: NewSubject) -> None:
    """CR11: the record references the version of the information notice shown."""
    problem = refused(client, auth, consent_body(new_subject(), notice_version=None))
    assert reasons(problem) == ["notice_version_missing"]


def test_every_failed_rule_is_reported_in_order_and_the_refusal_audited_alone(
    client: TestClient, auth: Auth, new_subject: NewSubject, ctx: GatewayContext
) -> None:
    sid = new_subject(preferred_language="ti")
    body = consent_body(sid, explained_items=["reason"], notice_version=None, capacity="lacking",
                        recipients=[{"agency_id": "nobody"}], expires_at=(T0 - timedelta(days=1)).isoformat())
    problem = refused(client, auth, body)
    assert reasons(problem) == [
        "recipient_unknown", "explained_item_missing", "explained_item_missing", "explained_item_missing",
        "explained_item_missing", "explained_item_missing", "notice_version_missing", "interpreter_required",
        "capacity_lacking", "expiry_invalid",
    ]
    assert all(set(f) == {"reason", "rule", "field"} for f in problem["failures"])
    assert count_records(ctx) == 0
    with ctx.sessions() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent:record:refuse")).all()
    assert (entry.decision, entry.reason, subject_of(ctx, entry.subject_id), entry.purpose) == (
        "deny", "recipient_unknown", sid, "shelter")
    assert entry.details["failures"] == reasons(problem)


# ---------------------------------------------------------------- CR3 / S08


@pytest.mark.rule("CR3", "S08")
def test_s08_cr3_a_bundle_is_refused_and_split_into_one_draft_per_purpose(
    client: TestClient, auth: Auth, new_subject: NewSubject, ctx: GatewayContext
) -> None:
    """S08/CR3: nrm_referral + criminal_justice + data_sharing in one request -> refused, split offered."""
    sid = new_subject()
    body = consent_body(sid, purpose=None, purposes=["nrm_referral", "criminal_justice", "data_sharing"],
                        cj_option="formal_report_and_witness", recipients=[{"agency_id": "iom"}])
    problem = refused(client, auth, body)
    assert problem["reason"] == "bundled_purposes"
    assert problem["failures"][0] == {"reason": "bundled_purposes", "rule": "CR3", "field": "purposes"}
    assert count_records(ctx) == 0  # never accepted, not even in part
    split = problem["split"]
    assert [d["purpose"] for d in split] == ["nrm_referral", "criminal_justice", "data_sharing"]
    assert all("purposes" not in d for d in split)
    assert [("cj_option" in d) for d in split] == [False, True, False]
    # Each draft is confirmed on its own.
    for draft in split:
        response = client.post("/v1/consents", headers=auth("ngo"), json=draft)
        assert response.status_code == 201, response.text
    assert count_records(ctx) == 3


@pytest.mark.rule("CR3")
def test_cr3_purpose_plus_purposes_is_a_bundle_but_one_listed_purpose_is_not(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant
) -> None:
    sid = new_subject()
    problem = refused(client, auth, consent_body(sid, purpose="shelter", purposes=["healthcare"]))
    assert problem["reason"] == "bundled_purposes"
    single = grant(sid, purpose=None, purposes=["shelter"])
    assert single["consent"]["purpose"] == "shelter"
    nothing = refused(client, auth, consent_body(sid, purpose=None))
    assert reasons(nothing) == ["purpose_missing"]


# ---------------------------------------------------------------- CR9 / S06 / S07


@pytest.mark.rule("CR9", "S06")
def test_s06_cr9_consent_in_another_language_needs_an_interpreter(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant
) -> None:
    """S06: preferred Tigrinya, consent recorded in English with no interpreter -> interpreter_required."""
    sid = new_subject(preferred_language="ti")
    problem = refused(client, auth, consent_body(sid, language="en"))
    assert problem["failures"] == [{"reason": "interpreter_required", "rule": "CR9", "field": "interpreter"}]
    interpreter = {"interpreter_id": "int-9", "relationship": "professional", "vetted": True}
    recorded = grant(sid, language="en", interpreter=interpreter)["consent"]
    assert recorded["interpreter"] == interpreter
    # Same language, no interpreter needed; kept as language and script only (issue 17: no region).
    assert grant(sid, language="ti-ER")["consent"]["language"] == "ti"


@pytest.mark.rule("CR9")
def test_cr9_an_unvetted_interpreter_does_not_count(client: TestClient, auth: Auth, new_subject: NewSubject) -> None:
    sid = new_subject(preferred_language="ti")
    body = consent_body(sid, interpreter={"interpreter_id": "int-9", "relationship": "professional", "vetted": False})
    assert reasons(refused(client, auth, body)) == ["interpreter_not_vetted"]


@pytest.mark.rule("CR9", "S07", "SEC9")
@pytest.mark.parametrize("relationship", ["relative", "friend", "acquaintance", "associate", "other"])
def test_s07_a_relative_or_acquaintance_never_interprets(client: TestClient, auth: Auth, new_subject: NewSubject,
                                                         relationship: str) -> None:
    """S07: a relative or acquaintance as interpreter is rejected, even when vetted, even in the same language."""
    sid = new_subject(preferred_language="ti")
    interpreter = {"interpreter_id": "int-9", "relationship": relationship, "vetted": True}
    problem = refused(client, auth, consent_body(sid, language="en", interpreter=interpreter))
    assert problem["failures"][0] == {"reason": "interpreter_not_independent", "rule": "CR9",
                                      "field": "interpreter.relationship"}
    same_language = refused(client, auth, consent_body(sid, language="ti", interpreter=interpreter))
    assert reasons(same_language) == ["interpreter_not_independent"]


# ---------------------------------------------------------------- CR10


@pytest.mark.rule("CR10")
def test_cr10_capacity_lacking_for_criminal_justice_does_not_block_shelter(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant
) -> None:
    """CR10: capacity is assessed per decision; lacking for criminal justice blocks only criminal justice."""
    sid = new_subject(capacity={"criminal_justice": "lacking", "shelter": "has_capacity"})
    assert grant(sid, purpose="shelter")["consent"]["purpose"] == "shelter"
    problem = refused(client, auth, consent_body(sid, purpose="criminal_justice", recipients=[{"agency_id": "police"}],
                                                 cj_option="formal_report_and_witness"))
    assert problem["failures"] == [{"reason": "capacity_lacking", "rule": "CR10", "field": "capacity"}]
    # A finding recorded on the consent itself counts too.
    assert reasons(refused(client, auth, consent_body(sid, purpose="healthcare", capacity="lacking"))) == [
        "capacity_lacking"]


# ---------------------------------------------------------------- CR7


@pytest.mark.rule("CR7")
def test_cr7_duties_to_share_must_be_acknowledged(client: TestClient, auth: Auth, new_subject: NewSubject,
                                                  grant: Grant, ctx: GatewayContext, registry: Registry) -> None:
    """CR7: a recipient (or the recording agency) with statutory sharing duties needs the acknowledgement."""
    register(ctx, "labour-inspect", AgencyKind.COMPETENT_AUTHORITY, statutory_duties=("police", "immigration"))
    sid = new_subject()
    body = consent_body(sid, purpose="nrm_referral", recipients=[{"agency_id": "labour-inspect"}])
    problem = refused(client, auth, body)
    assert problem["failures"] == [{"reason": "duty_to_share_not_acknowledged", "rule": "CR7",
                                    "field": "duty_to_share_acknowledged"}]
    partly = refused(client, auth, {**body, "duty_to_share_acknowledged": ["police"]})
    assert reasons(partly) == ["duty_to_share_not_acknowledged"]
    ok = grant(sid, purpose="nrm_referral", recipients=[{"agency_id": "labour-inspect"}],
               duty_to_share_acknowledged=["immigration", "police"])
    assert ok["consent"]["duty_to_share_acknowledged"] == ["immigration", "police"]


@pytest.mark.rule("CR7")
def test_cr7_the_recording_agency_s_own_duties_count(client: TestClient, auth: Auth, ctx: GatewayContext,
                                                     registry: Registry) -> None:
    registry.keys["duty-ngo"], registry.key_ids["duty-ngo"] = register(
        ctx, "duty-ngo", AgencyKind.NGO, statutory_duties=("immigration",))
    sid = client.post("/v1/subjects", headers=auth("duty-ngo"), json={
                                                                     "attributes": {"age_band": "25-34"}}).json()["id"]
    problem = refused(client, auth, consent_body(sid), agency="duty-ngo")
    assert reasons(problem) == ["duty_to_share_not_acknowledged"]


# ---------------------------------------------------------------- CR8


@pytest.mark.rule("CR8", "S09")
def test_cr8_no_consent_before_the_mandated_reporter_notice(client: TestClient, auth: Auth, ctx: GatewayContext,
                                                            registry: Registry) -> None:
    """CR8: at a mandated reporter, a notice must precede the subject's first record."""
    registry.keys["mr-ngo"], registry.key_ids["mr-ngo"] = register(ctx, "mr-ngo", AgencyKind.NGO,
                                                                   mandated_reporter=True)
    body = {"attributes": {"age_band": "25-34"},
            "mandated_reporter_notice": {"given_at": "2026-11-24T09:30:00Z",
                                         "notice_version": "mr-v1", "language": "en"}}
    sid = client.post("/v1/subjects", headers=auth("mr-ngo"), json=body).json()["id"]
    before = refused(client, auth, consent_body(sid, obtained_at="2026-11-24T09:00:00Z"), agency="mr-ngo")
    assert before["failures"] == [{"reason": "mandated_reporter_notice_missing", "rule": "CR8",
                                   "field": "subject_id"}]
    after = client.post("/v1/consents", headers=auth("mr-ngo"), json=consent_body(sid))
    assert after.status_code == 201, after.text


# ---------------------------------------------------------------- CR25, recipients


@pytest.mark.rule("CR25", "S23")
def test_cr25_cross_border_recipients_name_country_and_organisation(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant, ctx: GatewayContext
) -> None:
    """CR25: a recipient in another jurisdiction is named with its country and organisation; no wildcards."""
    register(ctx, "iom-ua", AgencyKind.IOM, jurisdiction="UA")
    sid = new_subject()
    body = consent_body(sid, purpose="return", recipients=[{"agency_id": "iom-ua"}])
    assert refused(client, auth, body)["failures"] == [
        {"reason": "cross_border_recipient_unnamed", "rule": "CR25", "field": "recipients[0]"}]
    wrong_org = refused(client, auth, {**body, "recipients": [
        {"agency_id": "iom-ua", "country": "UA", "organisation": "Some agency in Ukraine"}]})
    assert reasons(wrong_org) == ["cross_border_recipient_unnamed"]
    wrong_country = refused(client, auth, {**body, "recipients": [
        {"agency_id": "iom-ua", "country": "PL", "organisation": "iom-ua agency"}]})
    assert reasons(wrong_country) == ["cross_border_recipient_unnamed"]
    wildcard = client.post("/v1/consents", headers=auth("ngo"), json={**body, "recipients": [{"agency_id": "*"}]})
    assert wildcard.status_code == 422
    ok = grant(sid, purpose="return",
               recipients=[{"agency_id": "iom-ua", "country": "ua", "organisation": "IOM-UA  Agency"}])
    assert ok["consent"]["recipients"][0]["country"] == "UA"


def test_unknown_recipients_and_the_operator_are_refused(client: TestClient, auth: Auth,
                                                         new_subject: NewSubject) -> None:
    sid = new_subject()
    for agency_id in ("nobody", "operator"):
        problem = refused(client, auth, consent_body(sid, recipients=[{"agency_id": agency_id}]))
        assert problem["failures"] == [
            {"reason": "recipient_unknown", "rule": "CR5", "field": "recipients[0].agency_id"}]


# ---------------------------------------------------------------- children: CH6, CH7, CH9


def _child(new_subject: NewSubject, **extra: Any) -> str:
    return new_subject(age_band="16-17", parental_guardian_id="guard-1", guardian_advocate_id="ga-1", **extra)


GUARDIAN = {"guardian_id": "guard-1", "given_at": "2026-11-24T09:00:00Z"}
VIEWS = {"recorded": True, "recorded_at": "2026-11-24T09:10:00Z", "reference": "bic-file-3"}


@pytest.mark.rule("CH6", "CH9", "S16")
def test_ch6_ch9_a_child_s_legal_consent_needs_the_guardian_and_the_child_s_views(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant, people: People
) -> None:
    """CH6/CH9/S16: guardian consent plus the record of the child's views, for purposes with legal consequences."""
    sid = _child(new_subject)
    body = consent_body(sid, purpose="nrm_referral", recipients=[{"agency_id": "iom"}])
    assert refused(client, auth, body)["failures"] == [
        {"reason": "guardian_consent_required", "rule": "CH6", "field": "guardian_consent"},
        {"reason": "child_views_required", "rule": "CH9", "field": "child_views"},
    ]
    # S16: the guardian consents but the child's views are not recorded -> still blocked.
    assert reasons(refused(client, auth, {**body, "guardian_consent": GUARDIAN})) == ["child_views_required"]
    wrong_guardian = refused(client, auth, {**body, "guardian_consent": {**GUARDIAN, "guardian_id": "someone"},
                                            "child_views": VIEWS})
    assert reasons(wrong_guardian) == ["guardian_consent_required"]
    ok = grant(sid, purpose="nrm_referral", recipients=[{"agency_id": "iom"}], guardian_consent=GUARDIAN,
               child_views=VIEWS)["consent"]
    assert ok["recorded_for_child"] is True
    assert ok["child_views"] == {"recorded": True, "recorded_by": people.default_id("ngo"),
                                 "recorded_at": "2026-11-24T09:10:00Z", "reference": "bic-file-3"}
    # Shelter and care never wait on a guardian (CH13, T5).
    assert grant(sid, purpose="shelter")["consent"]["guardian_consent"] is None


@pytest.mark.rule("CH1", "CH6")
def test_ch1_a_disputed_age_is_a_child_for_consent(client: TestClient, auth: Auth, new_subject: NewSubject) -> None:
    """CH1: age disputed, outcome pending -> the child rules apply although the band says adult."""
    sid = new_subject(age_band="18-24", age_disputed=True, age_assessment_outcome="pending",
                      parental_guardian_id="guard-1")
    body = consent_body(sid, purpose="data_sharing")
    assert reasons(refused(client, auth, body)) == ["guardian_consent_required", "child_views_required"]


@pytest.mark.rule("CH9")
def test_ch9_the_child_s_views_are_never_stored_as_text(client: TestClient, auth: Auth,
                                                        new_subject: NewSubject) -> None:
    sid = _child(new_subject)
    body = consent_body(sid, purpose="nrm_referral", guardian_consent=GUARDIAN,
                        child_views={**VIEWS, "text": "I want to stay with my aunt in Utrecht"})
    response = client.post("/v1/consents", headers=auth("ngo"), json=body)
    assert response.status_code == 422
    assert response.json()["reason"] == "unknown_field"
    assert "Utrecht" not in response.text


@pytest.mark.rule("CH7", "T5")
def test_ch7_a_suspected_guardian_s_consent_is_refused(client: TestClient, auth: Auth,
                                                       new_subject: NewSubject) -> None:
    """CH7: a guardian suspected of involvement has no consent authority."""
    sid = _child(new_subject, guardian_suspected=True)
    body = consent_body(sid, purpose="nrm_referral", guardian_consent=GUARDIAN, child_views=VIEWS)
    assert refused(client, auth, body)["failures"] == [
        {"reason": "guardian_suspended", "rule": "CH7", "field": "guardian_consent"}]


# ---------------------------------------------------------------- CR36, CR13, dates


@pytest.mark.rule("CR36")
def test_cr36_criminal_justice_takes_one_of_three_options(client: TestClient, auth: Auth, new_subject: NewSubject,
                                                          grant: Grant) -> None:
    """CR36: formal_report_and_witness | anonymous_intelligence_only (case-specific scope only) | none."""
    sid = new_subject()
    cj = {"purpose": "criminal_justice", "recipients": [{"agency_id": "police"}]}
    assert refused(client, auth, consent_body(sid, **cj))["failures"] == [
        {"reason": "cj_option_required", "rule": "CR36", "field": "cj_option"}]
    conflict = refused(client, auth, consent_body(sid, **cj, cj_option="anonymous_intelligence_only", scope="full"))
    assert conflict["failures"] == [{"reason": "scope_conflicts_with_cj_option", "rule": "CR36", "field": "scope"}]
    bad_value = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(sid, **cj, cj_option="maybe"))
    assert bad_value.status_code == 422
    not_cj = refused(client, auth, consent_body(sid, cj_option="none"))
    assert reasons(not_cj) == ["cj_option_not_applicable"]
    for option, scope in (("anonymous_intelligence_only", "case_specific_no_personal_data"),
                          ("formal_report_and_witness", "full"), ("none", "relevant_portion")):
        assert grant(sid, **cj, cj_option=option, scope=scope)["consent"]["cj_option"] == option


@pytest.mark.rule("CR13")
@pytest.mark.parametrize(("purpose", "channel", "flagged"), [
    ("criminal_justice", "phone", True), ("return", "phone", True), ("filming", "phone", True),
    ("shelter", "phone", False), ("criminal_justice", "in_person", False), ("filming", "video", False),
])
def test_cr13_phone_consent_for_high_impact_purposes_is_flagged(grant: Grant, new_subject: NewSubject,
                                                                purpose: str, channel: str, flagged: bool) -> None:
    """CR13: the channel is recorded; phone consent for criminal justice, return or filming needs confirmation."""
    extra: dict[str, Any] = {"cj_option": "formal_report_and_witness"} if purpose == "criminal_justice" else {}
    consent = grant(new_subject(), purpose=purpose, channel=channel, **extra)["consent"]
    assert consent["channel"] == channel
    assert consent["needs_confirmation"] is flagged


def test_expiry_is_required_and_after_now(client: TestClient, auth: Auth, new_subject: NewSubject) -> None:
    sid = new_subject()
    missing = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(sid, expires_at=None))
    assert missing.status_code == 422
    past = refused(client, auth, consent_body(sid, expires_at=T0.isoformat()))
    assert reasons(past) == ["expiry_invalid"]
    naive = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(sid, expires_at="2027-01-01T00:00:00"))
    assert naive.status_code == 422
    future = refused(client, auth, consent_body(sid, obtained_at=(T0 + timedelta(hours=1)).isoformat()))
    assert reasons(future) == ["obtained_at_in_future"]
