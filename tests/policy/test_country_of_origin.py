"""The country-of-origin firewall holds for every way an authority of a state can be registered.

Digest 8.2 item 14 (seed 002 line 119): "States should not contact the diplomatic representation
of the country of origin ... if a person has applied for asylum, or if there is reason to believe
that a person is a refugee." CR24: otherwise a country-of-origin authority receives data only for
return or post-return monitoring.

The registrations are generated: every agency kind, every jurisdiction it may sit in, every state
it may represent, passed through the registry's own validation (``represented_state``), or left
without ``represents_state`` as rows registered before the column existed. Each becomes the
policy input's recipient exactly as the gateway builds it (``gateway.exchange.inputs``), under the
most generous consents one could hold (for the request's purpose, naming the recipient by id and
by kind, with its countries, every class, full scope) and sometimes an exception grant; the
asylum flags and the recorded or unrecorded country of origin vary, mistyped flags included.
The truth the decision is compared with is written here, independently of the policy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.errors import Unprocessable
from gateway.exchange.inputs import policy_input
from gateway.policy import PolicyEngine, decide
from gateway.policy.flags import flag_set
from gateway.registry.models import STATE_REPRESENTING_KINDS, Agency, AgencyKind
from gateway.registry.service import represented_state
from tests.policy import inputs as i
from tests.policy.strategies import _DOCS, CLASSES, MISTYPED_FLAGS, PURPOSES

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HOME = "NL"  # where the requester works and the person claimed asylum
ORIGIN = "XX"
STATES = [HOME, ORIGIN, "YY", "BE"]
RECIPIENT_KINDS = [k for k in AgencyKind if k is not AgencyKind.GATEWAY_OPERATOR]
STATE_AUTHORITY = {k for k, v in _DOCS["roles"]["agency_kinds"].items() if v["state_authority"]}
RETURN_PURPOSES = {p for p, v in _DOCS["purposes"]["purposes"].items() if v["country_of_origin_allowed"]}
FIELDS = ["subject.first_name", "subject.nationality", "documents.travel_document", "risk.level", "status.nrm_stage"]
ENGINE_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def registrations(draw: st.DrawFn) -> Agency:
    """An agency as the registry would hold it (or as a row from before ``represents_state``)."""
    kind = draw(st.sampled_from(RECIPIENT_KINDS))
    jurisdiction = draw(st.sampled_from(STATES))
    claimed = draw(st.one_of(st.none(), st.sampled_from(STATES), st.sampled_from([s.lower() for s in STATES])))
    legacy = draw(st.integers(0, 5)) == 0
    state: str | None = None
    if not legacy:  # (a legacy row was registered before the column existed: no state recorded)
        try:
            state = represented_state(str(kind), jurisdiction, claimed)
        except Unprocessable:  # the registry insists: an embassy names a state other than its seat
            state = draw(st.sampled_from([s for s in STATES if s != jurisdiction]))
    return Agency(id="a-rcpt", name="recipient", kind=str(kind), jurisdiction=jurisdiction, represents_state=state,
                  vetting_status="vetted")


def _acts_for(agency: Agency, state: str) -> bool:
    """The recipient is an authority (or organisation) of ``state``, however it was registered."""
    return (agency.kind == AgencyKind.COUNTRY_OF_ORIGIN_AUTHORITY
            or agency.represents_state == state
            or agency.jurisdiction == state
            or (agency.kind in STATE_REPRESENTING_KINDS and agency.represents_state is None))


def _authority_of_another_state(agency: Agency) -> bool:
    """With no recorded country of origin: any authority acting for a state other than the home state."""
    if agency.kind == AgencyKind.COUNTRY_OF_ORIGIN_AUTHORITY:
        return True
    if agency.kind in STATE_REPRESENTING_KINDS and agency.represents_state is None:
        return True
    if agency.represents_state is not None and agency.represents_state != HOME:
        return True
    return agency.kind in STATE_AUTHORITY and (agency.represents_state or agency.jurisdiction) != HOME


def _generous_request(agency: Agency, purpose: str, subject: dict[str, Any], grant: bool) -> dict[str, Any]:
    countries = sorted({agency.jurisdiction, *( [agency.represents_state] if agency.represents_state else [])})
    # Complete for a child (CH6, CH9); for an adult the person's own (a guardian's lapses at 18, CH22).
    child = flag_set(subject.get("is_child")) or flag_set(subject.get("age_disputed"))
    consents = [
        i.consent("c-id", purpose, [agency.id], list(CLASSES), scope="full", countries=countries,
                  guardian_consent=True if child else None, child_views_recorded=True if child else None),
        i.consent("c-kind", purpose, [f"kind:{agency.kind}"], list(CLASSES), scope="full", countries=countries),
    ]
    doc = policy_input(now=NOW, requester=Agency(id="a-iom", kind="iom", jurisdiction=HOME, vetting_status="vetted"),
                       recipient=agency, recipient_id=agency.id, recipient_key_verified=True, purpose=purpose,
                       fields=FIELDS, subject=subject, consents=consents, user_role="caseworker",
                       user_id="u-1")
    doc["requester"]["exception_policy"] = i.EXCEPTION_POLICY
    if grant:
        doc["exception"] = i.grant("L1", "imminent_harm", agency.id, list(CLASSES))
    return doc


@pytest.mark.rule("CR24", "SEC14")
@ENGINE_SETTINGS
@given(agency=registrations(), purpose=st.sampled_from(PURPOSES), grant=st.booleans(),
       origin=st.sampled_from([ORIGIN, None, ""]),
       asylum=st.one_of(st.just(True), st.sampled_from(MISTYPED_FLAGS)), which=st.sampled_from(
           ["asylum_claimed", "possible_refugee"]))
def test_no_authority_of_a_state_an_asylum_seeker_may_have_fled_receives_anything(
    engine: PolicyEngine, agency: Agency, purpose: str, grant: bool, origin: str | None, asylum: Any, which: str,
) -> None:
    assert flag_set(asylum)
    subject = i.subject(country_of_origin=origin, **{which: asylum})
    decision = decide(engine, _generous_request(agency, purpose, subject, grant))
    fled = _acts_for(agency, origin) if origin else _authority_of_another_state(agency)
    blocked = (not decision.allow and decision.permitted_fields == ()
               and "country_of_origin_asylum_block" in decision.reasons)
    # One assertion, so that hypothesis reports one failure (a mutation test counts on it).
    assert blocked if fled else "country_of_origin_asylum_block" not in decision.reasons, decision


_AUTHORITY = Agency(id="a-rcpt", name="recipient", kind=str(AgencyKind.COUNTRY_OF_ORIGIN_AUTHORITY),
                    jurisdiction=ORIGIN, represents_state=ORIGIN, vetting_status="vetted")
_RETURN = sorted(RETURN_PURPOSES)[0]


@pytest.mark.rule("CR24")
@ENGINE_SETTINGS
@given(agency=registrations(), purpose=st.sampled_from(PURPOSES), grant=st.booleans(),
       origin=st.sampled_from([ORIGIN, None]), by_kind_only=st.booleans())
# Always tried, whatever the draw: a return purpose under a grant, and on a kind: consent only.
@example(agency=_AUTHORITY, purpose=_RETURN, grant=True, origin=ORIGIN, by_kind_only=False)
@example(agency=_AUTHORITY, purpose=_RETURN, grant=False, origin=ORIGIN, by_kind_only=True)
def test_a_country_of_origin_authority_receives_only_on_a_return_consent_naming_it(
    engine: PolicyEngine, agency: Agency, purpose: str, grant: bool, origin: str | None, by_kind_only: bool,
) -> None:
    """Return or post-return monitoring, on a consent that names the authority itself: never on a
    ``kind:`` consent, never under an exception grant (CR24 checks recipients, not only purpose)."""
    subject = i.subject(country_of_origin=origin)
    doc = _generous_request(agency, purpose, subject, grant)
    if by_kind_only:
        doc["consents"] = [c for c in doc["consents"] if c["id"] == "c-kind"]
    decision = decide(engine, doc)
    in_origin = (_acts_for(agency, origin) if origin
                 else agency.represents_state not in (None, HOME)
                 or agency.kind == AgencyKind.COUNTRY_OF_ORIGIN_AUTHORITY
                 or (agency.kind in STATE_REPRESENTING_KINDS and agency.represents_state is None))
    requires_return = "country_of_origin_requires_return_consent" in decision.reasons
    expected = in_origin and (purpose not in RETURN_PURPOSES or grant or by_kind_only)
    assert ("country_of_origin_asylum_block" not in decision.reasons and requires_return == expected
            and not (expected and decision.allow)), decision


@pytest.mark.rule("CR24", "SEC14")
def test_an_embassy_registered_where_it_sits_is_still_its_states_authority(engine: PolicyEngine) -> None:
    """The issue's reproduction: an embassy of XX in NL, return consent, person claimed asylum."""
    embassy = Agency(id="a-emb", name="Embassy of XX", kind="embassy", jurisdiction=HOME,
                     represents_state=represented_state("embassy", HOME, "xx"), vetting_status="vetted")
    assert embassy.represents_state == ORIGIN
    subject = i.subject(country_of_origin=ORIGIN, asylum_claimed=True)
    doc = _generous_request(embassy, "return", subject, grant=False)
    assert doc["recipient"]["represents_state"] == ORIGIN and doc["recipient"]["jurisdiction"] == HOME
    denied = decide(engine, doc)
    assert not denied.allow and "country_of_origin_asylum_block" in denied.reasons
    # Without the asylum claim, a return with return consent is what CR24 allows.
    allowed = decide(engine, _generous_request(embassy, "return", i.subject(country_of_origin=ORIGIN), grant=False))
    assert allowed.allow, allowed.reasons


@pytest.mark.rule("SEC14")
def test_an_embassy_registered_before_its_state_was_recorded_counts_as_the_country_of_origin(
        engine: PolicyEngine) -> None:
    """Fail closed: an embassy whose represented state is unknown (registered before the column
    existed) may be the person's state, so only a return consent that names it opens it."""
    embassy = Agency(id="a-emb-old", name="Embassy, state unrecorded", kind="embassy", jurisdiction=HOME,
                     represents_state=None, vetting_status="vetted")
    subject = i.subject(country_of_origin=ORIGIN)
    support = decide(engine, _generous_request(embassy, "protection_support", subject, grant=False))
    assert not support.allow and "country_of_origin_requires_return_consent" in support.reasons
    fled = decide(engine, _generous_request(embassy, "return", i.subject(country_of_origin=ORIGIN,
                                                                          asylum_claimed=True), grant=False))
    assert not fled.allow and "country_of_origin_asylum_block" in fled.reasons


def test_the_registry_refuses_a_state_representing_kind_without_its_state() -> None:
    for kind in STATE_REPRESENTING_KINDS:
        with pytest.raises(Unprocessable) as missing:
            represented_state(str(kind), HOME, None)
        assert missing.value.reason == "represents_state_required"
    with pytest.raises(Unprocessable) as home:
        represented_state("embassy", HOME, "nl")
    assert home.value.reason == "represents_state_invalid"
    assert represented_state("country_of_origin_authority", ORIGIN, "xx") == ORIGIN  # a ministry at home
    assert represented_state("police", HOME, None) is None
    assert represented_state("police", HOME, "xx") == ORIGIN  # a foreign police liaison officer
    with pytest.raises(Unprocessable):
        represented_state("police", HOME, "X1")
