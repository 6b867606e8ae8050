"""Grant, amend, withdraw, expire: append-only records with immediate effect (CR14-CR17, CR32, CR33)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent import Actor, ConflictError, NotFoundError, notices_for, notify_consent_needed
from consent.clock import FixedClock
from consent.vocabulary import Channel
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from tests.consent.conftest import Auth
from tests.support.pseudonyms import subject_of
from tests.support.staff import People

NewSubject = Callable[..., str]
Grant = Callable[..., dict[str, Any]]
WITHDRAW = {"channel": "portal"}


def in_force(client: TestClient, auth: Auth, sid: str, **filters: str) -> list[str]:
    query = "&".join(f"{k}={v}" for k, v in {"in_force": "true", **filters}.items())
    response = client.get(f"/v1/subjects/{sid}/consents?{query}", headers=auth("ngo"))
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()]


def withdraw(client: TestClient, auth: Auth, consent_id: str, expect: int = 200) -> dict[str, Any]:
    response = client.post(f"/v1/consents/{consent_id}/withdraw", headers=auth("ngo"), json=WITHDRAW)
    assert response.status_code == expect, response.text
    return dict(response.json())


@pytest.mark.rule("CR14", "CR33", "S04")
def test_s04_cr14_withdrawal_takes_effect_for_the_very_next_lookup(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant, clock: FixedClock, service: Any
) -> None:
    """S04: active data_sharing consent to NGO X, withdrawn in one action; 1 ms later it is absent."""
    sid = new_subject()
    cid = grant(sid, purpose="data_sharing", recipients=[{"agency_id": "clinic"}])["consent"]["id"]
    with service() as svc:
        assert svc.in_force_ids(sid, "data_sharing", "clinic") == [cid]
    answer = withdraw(client, auth, cid)
    assert answer["consent"]["status"] == "withdrawn"
    assert answer["consent"]["ending"]["channel"] == "portal"
    assert answer["notices"][0] == {"kind": "withdrawal_effective", "rule": "CR14",
                                    "details": {"purpose": "data_sharing", "recipients": ["clinic"]}}
    clock.advance(timedelta(milliseconds=1))
    with service() as svc:
        assert svc.in_force_ids(sid, "data_sharing", "clinic") == []
    assert in_force(client, auth, sid) == []
    assert in_force(client, auth, sid, purpose="data_sharing", recipient="clinic") == []


@pytest.mark.rule("CR33")
def test_cr33_a_change_between_two_identical_lookups_changes_the_answer(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant
) -> None:
    """CR33: no standing authorisation; each lookup reads the current state."""
    sid = new_subject()
    assert in_force(client, auth, sid, purpose="healthcare", recipient="clinic") == []
    cid = grant(sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}])["consent"]["id"]
    assert in_force(client, auth, sid, purpose="healthcare", recipient="clinic") == [cid]
    withdraw(client, auth, cid)
    assert in_force(client, auth, sid, purpose="healthcare", recipient="clinic") == []


@pytest.mark.rule("CR15", "T3")
def test_cr15_withdrawal_warns_that_an_open_case_may_continue(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant, ctx: GatewayContext
) -> None:
    """CR15: the withdrawal answer lists the open-case recipients; the person's notices say so too."""
    sid = new_subject(open_cases=[{"recipient_agency_id": "police"}], cj_role="witness")
    cid = grant(sid, purpose="criminal_justice", recipients=[{"agency_id": "police"}],
                cj_option="formal_report_and_witness", scope="full")["consent"]["id"]
    notices = {n["kind"]: n for n in withdraw(client, auth, cid)["notices"]}
    assert notices["investigation_may_continue"] == {
        "kind": "investigation_may_continue", "rule": "CR15",
        "details": {"open_case_recipients": [{"agency_id": "police", "name": "police agency"}]}}
    with ctx.sessions() as session:
        kinds = [n.kind for n in notices_for(session, sid)]
    assert "investigation_may_continue" in kinds and "consent_withdrawn" in kinds


@pytest.mark.rule("CR15")
def test_cr15_no_open_case_no_warning(client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant) -> None:
    sid = new_subject(open_cases=[{"recipient_agency_id": "police"}])
    cid = grant(sid, purpose="shelter")["consent"]["id"]
    assert "investigation_may_continue" not in {n["kind"] for n in withdraw(client, auth, cid)["notices"]}


@pytest.mark.rule("CR16", "CR17")
def test_cr16_cr17_withdrawing_criminal_justice_changes_nothing_else(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant
) -> None:
    """CR16/CR17: placement, NRM status and every other consent stay exactly as they were."""
    sid = new_subject(placement_agency_id="shelter", declined_nrm=False, cj_role="witness")
    kept = [
        grant(sid, purpose="shelter")["consent"]["id"],
        grant(sid, purpose="nrm_referral", recipients=[{"agency_id": "iom"}])["consent"]["id"],
        grant(sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}])["consent"]["id"],
    ]
    cj = grant(sid, purpose="criminal_justice", recipients=[{"agency_id": "police"}],
               cj_option="formal_report_and_witness")["consent"]["id"]
    subject_before = client.get(f"/v1/subjects/{sid}", headers=auth("ngo")).json()
    history_before = client.get(f"/v1/subjects/{sid}/attribute-history", headers=auth("ngo")).json()
    answer = withdraw(client, auth, cj)
    assert {"kind": "services_unchanged", "rule": "CR16", "details": {}} in answer["notices"]
    assert client.get(f"/v1/subjects/{sid}", headers=auth("ngo")).json() == subject_before
    assert client.get(f"/v1/subjects/{sid}/attribute-history", headers=auth("ngo")).json() == history_before
    assert sorted(in_force(client, auth, sid)) == sorted(kept)


@pytest.mark.rule("CR29", "S33")
def test_s33_cr29_declining_nrm_still_allows_ngo_support(new_subject: NewSubject, grant: Grant,
                                                         client: TestClient, auth: Auth) -> None:
    """S33: a person who declined NRM referral still gets an NGO protection/support consent recorded."""
    sid = new_subject(declined_nrm=True)
    consent = grant(sid, purpose="protection_support", recipients=[{"agency_id": "ngo"}])["consent"]
    assert consent["status"] == "in_force"
    assert in_force(client, auth, sid, purpose="protection_support", recipient="ngo") == [consent["id"]]
    assert client.get(f"/v1/subjects/{sid}", headers=auth("ngo")).json()["declined_nrm"] is True


@pytest.mark.rule("CR32", "S34")
def test_s34_cr32_a_new_recipient_has_no_consent_until_one_names_it(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant, ctx: GatewayContext
) -> None:
    """CR32/S34: adding a recipient never extends an existing consent; an amendment names it and tells the person."""
    sid = new_subject()
    first = grant(sid, purpose="data_sharing", recipients=[{"agency_id": "shelter"}])["consent"]
    assert in_force(client, auth, sid, purpose="data_sharing", recipient="clinic") == []
    with ctx.sessions() as session, session.begin():
        notify_consent_needed(session, sid, purpose="data_sharing", recipient_agency_id="clinic",
                              now=ctx.clock.now())
    amended = grant(sid, purpose="data_sharing", supersedes=first["id"],
                    recipients=[{"agency_id": "shelter"}, {"agency_id": "clinic"}])
    assert amended["superseded"] == first["id"]
    second = amended["consent"]
    assert (second["version"], second["lineage_id"], second["supersedes"]) == (2, first["id"], first["id"])
    assert in_force(client, auth, sid, purpose="data_sharing", recipient="clinic") == [second["id"]]
    assert in_force(client, auth, sid, purpose="data_sharing", recipient="shelter") == [second["id"]]
    old = client.get(f"/v1/consents/{first['id']}", headers=auth("ngo")).json()
    assert old["status"] == "superseded"
    assert [r["agency_id"] for r in old["recipients"]] == ["shelter"]  # never rewritten
    assert old["ending"]["superseded_by"] == second["id"]
    with ctx.sessions() as session:
        notices = [(n.kind, n.details) for n in notices_for(session, sid)]
    assert ("consent_needed", {"purpose": "data_sharing", "recipient_agency_id": "clinic"}) in notices
    assert ("recipient_added", {"consent_id": second["id"], "purpose": "data_sharing", "recipients": ["clinic"]}) \
        in notices


def test_history_lists_every_version_and_receipt(client: TestClient, auth: Auth, new_subject: NewSubject,
                                                 grant: Grant) -> None:
    sid = new_subject()
    v1 = grant(sid)["consent"]["id"]
    v2 = grant(sid, supersedes=v1, data_classes=["D5"])["consent"]["id"]
    withdraw(client, auth, v2)
    history = client.get(f"/v1/consents/{v1}/history", headers=auth("ngo")).json()
    assert history == client.get(f"/v1/consents/{v2}/history", headers=auth("ngo")).json()
    assert [(v["id"], v["version"], v["status"]) for v in history["versions"]] == [
        (v1, 1, "superseded"), (v2, 2, "withdrawn")]
    assert [(r["consent_id"], r["kind"]) for r in history["receipts"]] == [
        (v1, "grant"), (v2, "grant"), (v2, "withdrawal")]


def test_ended_consents_cannot_be_withdrawn_or_amended_again(client: TestClient, auth: Auth,
                                                            new_subject: NewSubject, grant: Grant,
                                                            clock: FixedClock) -> None:
    sid = new_subject()
    cid = grant(sid)["consent"]["id"]
    withdraw(client, auth, cid)
    assert withdraw(client, auth, cid, expect=409)["reason"] == "consent_withdrawn"
    assert grant(sid, supersedes=cid, expect=409)["reason"] == "consent_withdrawn"
    short = grant(sid, expires_at=(clock.now() + timedelta(hours=1)).isoformat())["consent"]["id"]
    clock.advance(timedelta(hours=2))
    assert withdraw(client, auth, short, expect=409)["reason"] == "consent_expired"
    other_purpose = grant(sid, supersedes=grant(sid)["consent"]["id"], purpose="healthcare", expect=422)
    assert other_purpose["reason"] == "supersede_purpose_mismatch"


@pytest.mark.rule("CR14")
def test_expired_consent_counts_as_absent_and_expiry_is_observed_once(
    client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant, clock: FixedClock,
    service: Any, ctx: GatewayContext
) -> None:
    sid = new_subject()
    cid = grant(sid, expires_at=(clock.now() + timedelta(days=1)).isoformat())["consent"]["id"]
    clock.advance(timedelta(days=1))  # expires_at is exclusive
    assert in_force(client, auth, sid) == []
    assert client.get(f"/v1/consents/{cid}", headers=auth("ngo")).json()["status"] == "expired"
    with service() as svc:
        assert [e.consent_id for e in svc.record_expiries()] == [cid]
    with service() as svc:
        assert svc.record_expiries() == []
    with ctx.sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent:record:expire")).all()
    assert [(subject_of(ctx, e.subject_id), e.details["consent_id"]) for e in entries] == [(sid, cid)]
    assert client.get(f"/v1/consents/{cid}", headers=auth("ngo")).json()["ending"]["kind"] == "expired"


@pytest.mark.rule("CR14")
def test_cr14_the_person_or_the_advocate_can_withdraw(client: TestClient, auth: Auth, new_subject: NewSubject,
                                                     grant: Grant, service: Any) -> None:
    """CR14: a consent given through an advocate is withdrawn by the person (portal) or by the advocate."""
    sid = new_subject()
    other_sid = new_subject()
    by_person = grant(sid)["consent"]["id"]
    by_advocate = grant(sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}])["consent"]["id"]
    with pytest.raises(NotFoundError), service() as svc:
        svc.withdraw(by_person, actor=Actor.person(), channel=Channel.PORTAL, subject_id=other_sid)
    with pytest.raises(NotFoundError), service() as svc:
        svc.withdraw(by_person, actor=Actor.person(), channel=Channel.PORTAL)
    with service() as svc:
        result = svc.withdraw(by_person, actor=Actor.person(), channel=Channel.PORTAL, subject_id=sid)
        assert (result.ending.by_kind, result.ending.channel) == ("person", "portal")
    with pytest.raises(ConflictError), service() as svc:
        svc.withdraw(by_person, actor=Actor.person(), channel=Channel.PORTAL, subject_id=sid)
    assert withdraw(client, auth, by_advocate)["consent"]["ending"]["by"] == "agency"
    assert in_force(client, auth, sid) == []


def test_list_filters(client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant) -> None:
    sid = new_subject()
    shelter = grant(sid)["consent"]["id"]
    health = grant(sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}])["consent"]["id"]
    withdraw(client, auth, health)
    everything = client.get(f"/v1/subjects/{sid}/consents", headers=auth("ngo")).json()
    assert sorted(c["id"] for c in everything) == sorted([shelter, health])
    ended = client.get(f"/v1/subjects/{sid}/consents?in_force=false", headers=auth("ngo")).json()
    assert [c["id"] for c in ended] == [health]
    by_recipient = client.get(f"/v1/subjects/{sid}/consents?recipient=clinic", headers=auth("ngo")).json()
    assert [c["id"] for c in by_recipient] == [health]
    bad = client.get(f"/v1/subjects/{sid}/consents?purpose=everything", headers=auth("ngo"))
    assert bad.status_code == 422


def test_grant_is_audited_with_codes_only(client: TestClient, auth: Auth, new_subject: NewSubject, grant: Grant,
                                          ctx: GatewayContext, people: People) -> None:
    sid = new_subject(date_of_birth="1990-04-02", age_band=None)
    cid = grant(sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}])["consent"]["id"]
    with ctx.sessions() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent:record:grant")).all()
    assert (entry.decision, subject_of(ctx, entry.subject_id), entry.purpose, entry.recipient_agency_id) == (
        "allow", sid, "healthcare", "clinic")
    assert entry.classes_requested == ["D1", "D12", "D5"]
    assert entry.details["consent_id"] == cid
    assert entry.actor_agency_id == "ngo" and entry.actor_user == people.default_id("ngo")
    assert "1990" not in str(entry.details)
