"""What the person sees: consents in force with one button to withdraw, history, who received
what (and deferred entries), the exceptions that apply, notices, requests and their routing,
and their language. Through plain HTTP, as a browser without JavaScript would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.clock import FixedClock
from crypto.errors import DecryptionFailed
from crypto.passwords import SecretHasher
from gateway.accounts import StaffAccount
from gateway.audit import subject_keys
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from gateway.portal.models import MESSAGE_KEY, PortalRequest, PortalRequestEvent
from gateway.registry.models import Agency
from tests.conftest import Registry
from tests.console.conftest import StaffLogin
from tests.console.conftest import sign_in as console_sign_in
from tests.exchange.conftest import Case, plan, sealed, submit
from tests.portal.conftest import OWNER, Auth, PortalPerson, csrf_of, make_person, sign_in


def _withdraw(client: TestClient, consent_id: str) -> Any:
    return client.post(f"/p/choices/{consent_id}/withdraw", data={"csrf_token": csrf_of(client.get("/p/").text)})


# ---------------------------------------------------------------------------- consents


@pytest.mark.rule("CR14", "S04")
def test_one_button_withdraws_and_the_next_referral_relying_on_it_is_refused(
    signed_in: TestClient, person: PortalPerson, auth: Auth, registry: Registry, clock: FixedClock
) -> None:
    case = Case(subject_id=person.subject_id, consent_id=person.consent_id)
    pending = sealed(signed_in, auth, registry, plan(signed_in, auth, case))  # sealed while consent held
    home = signed_in.get("/p/")
    assert home.text.count("Stop this") == 1
    assert "A safe place to stay" in home.text and "shelter agency" in home.text
    done = _withdraw(signed_in, person.consent_id)
    assert done.status_code == 200
    assert "You stopped: A safe place to stay." in done.text
    assert "nothing more is shared for this" in done.text
    assert "These organisations get nothing new for this: shelter agency." in done.text
    clock.advance(timedelta(seconds=1))
    refused = submit(signed_in, auth, pending)
    assert refused.status_code in (409, 422), refused.text
    assert refused.json()["reason"] == "consent_withdrawn"
    again = plan(signed_in, auth, case)
    assert again["allow"] is False
    # It moved to the history; the home page has nothing left to stop.
    assert "Stop this" not in signed_in.get("/p/").text
    past = signed_in.get("/p/past").text
    assert "You stopped this on November 24, 2026." in past
    # Pressing it again (a reload) says so plainly.
    assert _withdraw(signed_in, person.consent_id).status_code == 409


@pytest.mark.rule("CR15", "CR16")
def test_withdrawing_criminal_justice_consent_with_an_open_case_says_the_investigation_may_continue(
    client: TestClient, auth: Auth, registry: Registry
) -> None:
    person = make_person(client, auth, consent={"purpose": "criminal_justice", "recipients": [{"agency_id": "police"}],
                                                "cj_option": "formal_report_and_witness", "scope": "full"},
                         open_cases=[{"recipient_agency_id": "police"}], cj_role="witness")
    assert sign_in(client, person.code, person.pin).status_code == 303
    done = _withdraw(client, person.consent_id)
    assert done.status_code == 200
    assert "The investigation may continue. What police agency already have stays in the case." in done.text
    assert "Your help, your place to stay and your other choices do not change." in done.text
    assert "A police case is already open." in client.get("/p/").text  # the notice


def test_another_persons_consent_cannot_be_withdrawn(client: TestClient, auth: Auth, registry: Registry) -> None:
    other = make_person(client, auth)
    me = make_person(client, auth)
    assert sign_in(client, me.code, me.pin).status_code == 303
    assert _withdraw(client, other.consent_id).status_code == 404
    assert client.get(f"/v1/consents/{other.consent_id}", headers=auth(OWNER)).json()["status"] == "in_force"


def test_history_lists_expired_consents(client: TestClient, person: PortalPerson, clock: FixedClock) -> None:
    clock.advance(timedelta(days=91))
    assert sign_in(client, person.code, person.pin).status_code == 303
    assert "You have no agreements in force now." in client.get("/p/").text
    assert "This ended on February 22, 2027." in client.get("/p/past").text


# ---------------------------------------------------------------------------- who received what


def _disclosure(ctx: GatewayContext, subject_id: str, recipient: str, *, exception: str | None = None,
                details: dict[str, Any] | None = None, classes: tuple[str, ...] = ("D6",)) -> None:
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id=subject_id,
                                   purpose="healthcare", recipient_agency_id=recipient, classes_released=classes,
                                   basis={"consent_ids": [], "exception": exception}, details=details or {}),
               actor=Actor(agency_id=OWNER, role="ngo"), at=ctx.clock.now())


@pytest.mark.rule("CR14")
def test_who_received_what_when_and_why(
    signed_in: TestClient, person: PortalPerson, auth: Auth, registry: Registry, ctx: GatewayContext,
    clock: FixedClock
) -> None:
    assert "No information about you has been sent to anyone yet." in signed_in.get("/p/shared").text
    case = Case(subject_id=person.subject_id, consent_id=person.consent_id)
    assert submit(signed_in, auth, sealed(signed_in, auth, registry, plan(signed_in, auth, case))).status_code == 201
    _disclosure(ctx, person.subject_id, "clinic", exception="L3")
    page = signed_in.get("/p/shared").text
    assert "shelter agency" in page and "Because you agreed to: A safe place to stay." in page
    assert "Who you are" in page and "Risks and safety plan" in page
    assert "clinic agency" in page and "Without asking you, because the law allows it:" in page
    assert "only your allergies and medicines" in page and "Physical health" in page


@pytest.mark.rule("CR15")
def test_deferred_entries_stay_hidden_until_their_date_and_only_with_a_reason(
    signed_in: TestClient, person: PortalPerson, ctx: GatewayContext, clock: FixedClock
) -> None:
    until = (clock.now() + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    _disclosure(ctx, person.subject_id, "police", exception="L2",
                details={"deferred_until": until, "defer_reason": "covert_investigation"})
    _disclosure(ctx, person.subject_id, "iom", details={"deferred_until": until})  # no reason: not deferred
    # An exception used for an envelope: the use is deferred, its submit entry is not; both stay hidden.
    _disclosure(ctx, person.subject_id, "clinic", exception="L3", details={"envelope_id": "env-x"})
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.EXCEPTION_USE, decision="allow", subject_id=person.subject_id,
                                   purpose="healthcare", recipient_agency_id="clinic", classes_released=("D6",),
                                   basis={"consent_ids": [], "exception": "L3"},
                                   details={"envelope_id": "env-x", "deferred_until": until,
                                            "defer_reason": "covert_investigation"}),
               actor=Actor(agency_id=OWNER, role="ngo"), at=ctx.clock.now())
    page = signed_in.get("/p/shared").text
    assert "police agency" not in page and "clinic agency" not in page
    assert "iom agency" in page
    clock.advance(timedelta(days=30, seconds=1))
    assert sign_in(signed_in, person.code, person.pin).status_code == 303
    page = signed_in.get("/p/shared").text
    assert "police agency" in page
    assert page.count("clinic agency") == 1  # one disclosure, listed once


# ---------------------------------------------------------------------------- exceptions explained


@pytest.mark.rule("L1")
def test_when_we_may_share_without_asking_lists_what_the_involved_agencies_published(
    signed_in: TestClient, person: PortalPerson, ctx: GatewayContext, client: TestClient, auth: Auth
) -> None:
    with ctx.sessions() as session, session.begin():
        for agency_id, policy in (("shelter", [{"basis": "L3", "scenarios": ["unconscious_emergency"]}]),
                                  (OWNER, [{"basis": "L4", "scenarios": ["suicide_risk_disclosed"]},
                                           {"basis": "L5", "scenarios": ["significant_harm"]}]),
                                  ("police", [{"basis": "L2", "scenarios": ["mandatory_report"]}])):
            agency = session.get(Agency, agency_id)
            assert agency is not None
            agency.exception_policy = policy
    page = signed_in.get("/p/rules").text
    assert "only your allergies and medicines" in page and "Written down by: shelter agency." in page
    assert "a short message to your doctor" in page and "Written down by: ngo agency." in page
    assert "they are told about risks to your safety" in page  # L9 travels with every referral
    assert "This is part of every referral." in page
    assert "To protect a child from serious harm." not in page  # child-only, and this person is an adult
    assert "reported to the police" not in page  # the police are not involved with this person
    child = make_person(client, auth, age_band="12-15")
    assert sign_in(client, child.code, child.pin).status_code == 303
    assert "To protect a child from serious harm." in client.get("/p/rules").text


# ---------------------------------------------------------------------------- notices


@pytest.mark.rule("CR32", "S34")
def test_notices_in_plain_words(signed_in: TestClient, person: PortalPerson, auth: Auth) -> None:
    case = Case(subject_id=person.subject_id, consent_id=person.consent_id)
    assert plan(signed_in, auth, case, recipient="clinic")["allow"] is False
    home = signed_in.get("/p/").text
    assert "ngo agency wanted to send information about you to clinic agency. Nothing was sent." in home
    assert "You agreed to: A safe place to stay." in home


# ---------------------------------------------------------------------------- requests


def _staff(ctx: GatewayContext, username: str, role: str, agency_id: str | None) -> StaffLogin:
    import pyotp

    secret = pyotp.random_base32()
    hasher = SecretHasher(time_cost=1, memory_cost=8)
    with ctx.sessions() as session, session.begin():
        session.add(StaffAccount(id=f"staff_{username}", username=username, role=role, agency_id=agency_id,
                                 password_hash=hasher.hash("correct horse battery staple"), totp_secret=secret,
                                 created_at=ctx.clock.now()))
    assert isinstance(ctx.clock, FixedClock)
    return StaffLogin(username, "correct horse battery staple", secret, ctx.clock)


def _complain(client: TestClient, about: str, message: str, kind: str = "complaint") -> None:
    form = client.get(f"/p/{kind}")
    assert f'value="{about}"' in form.text
    sent = client.post("/p/requests", data={"csrf_token": csrf_of(form.text), "kind": kind, "about": about,
                                            "message": message}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/p/requests?sent=1"


@pytest.mark.rule("7.3")
def test_a_complaint_goes_to_the_dpo_and_monitoring_body_and_its_status_reaches_the_person(
    signed_in: TestClient, person: PortalPerson, ctx: GatewayContext, clock: FixedClock
) -> None:
    message = "The shelter told my employer where I stay. \u202eHidden\u202c"
    _complain(signed_in, "shelter", message)
    page = signed_in.get("/p/requests?sent=1").text
    assert "We received your message." in page and "Status: <strong>Received</strong>" in page
    assert "told my employer" not in page, "the person's words are never shown back on their screen"
    with ctx.sessions() as session:
        row = session.scalars(select(PortalRequest)).one()
    assert row.about_agency_id == "shelter" and row.routed_to == ["dpo", "monitoring_body"]
    # Stored encrypted, bound to the row: a copy of the database alone does not read it.
    assert ctx.keyring is not None
    kid = ctx.keyring.current("at_rest").kid
    assert row.message.startswith(f"sr2.{kid}.") and "told my employer" not in row.message
    # Sealed under the person's own key too (erasure destroys it): the ring's key alone opens nothing.
    with pytest.raises(DecryptionFailed):
        ctx.at_rest().open(MESSAGE_KEY, row.message, where=row.id)
    with ctx.sessions() as session:
        key = subject_keys.existing_text_key(session, row.subject_id)
    assert key is not None
    stored = ctx.at_rest().open(MESSAGE_KEY, row.message, where=row.id, subject_key=key)
    assert "\u202e" not in stored and "told my employer" in stored
    # The DPO sees it and progresses it; the person sees each status.
    console = TestClient(signed_in.app, base_url="https://testserver")
    dpo = _staff(ctx, "dpo", "dpo", None)
    assert console_sign_in(console, dpo).status_code == 303
    listing = console.get("/console/requests")
    assert row.id in listing.text
    detail = console.get(f"/console/requests/{row.id}")
    assert "told my employer" in detail.text
    token = csrf_of(detail.text)
    assert console.post(f"/console/requests/{row.id}", data={"csrf_token": token, "status": "in_review"},
                        follow_redirects=False).status_code == 303
    assert "Someone is looking at it" in signed_in.get("/p/requests").text
    refused = console.post(f"/console/requests/{row.id}", data={"csrf_token": token, "status": "resolved"})
    assert refused.status_code == 422  # resolving needs an outcome
    assert console.post(f"/console/requests/{row.id}", data={"csrf_token": "forged", "status": "resolved",
                                                             "outcome": "upheld"}).status_code == 403
    assert console.post(f"/console/requests/{row.id}", data={"csrf_token": token, "status": "resolved",
                                                             "outcome": "upheld", "note": "spoke to the shelter"},
                        follow_redirects=False).status_code == 303
    mine = signed_in.get("/p/requests").text
    assert "Finished" in mine and "Your complaint was found to be right." in mine
    assert "spoke to the shelter" not in mine
    assert "spoke to the shelter" in console.get(f"/console/requests/{row.id}").text
    with ctx.sessions() as session:
        notes = [e.note for e in session.scalars(select(PortalRequestEvent)) if e.note]
    assert len(notes) == 1 and notes[0].startswith("sr2.") and "shelter" not in notes[0]
    # The monitoring body sees it too.
    monitor = TestClient(signed_in.app, base_url="https://testserver")
    assert console_sign_in(monitor, _staff(ctx, "monitor", "monitoring_body", "iom")).status_code == 303
    assert row.id in monitor.get("/console/requests?status=all").text


@pytest.mark.rule("7.3")
def test_a_complaint_about_an_agency_never_reaches_that_agency(
    signed_in: TestClient, person: PortalPerson, ctx: GatewayContext, auth: Auth, app: Any
) -> None:
    message = "complaint-marker-5521 about the shelter"
    _complain(signed_in, "shelter", message)
    with ctx.sessions() as session:
        row = session.scalars(select(PortalRequest)).one()
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action.like("portal:request:%"))))
    # (1) The audit entry names no agency, so no agency's view of the log lists it.
    assert entries and all(e.actor_agency_id is None and e.recipient_agency_id is None for e in entries)
    assert all("shelter" not in str(e.details) for e in entries)
    # (2) No /v1 route shows it to the agency it is about (or to the person's own agency).
    paths = [p for p, ops in app.openapi()["paths"].items() if p.startswith("/v1/") and "get" in ops]
    ids = {"agency_id": "shelter", "subject_id": person.subject_id, "consent_id": person.consent_id}
    for agency in ("shelter", OWNER):
        for path in paths:
            url = path
            for name, value in ids.items():
                url = url.replace("{" + name + "}", value)
            if "{" in url:
                continue
            response = signed_in.get(url, headers=auth(agency), params={"limit": 100} if "entries" in url else None)
            assert row.id not in response.text and "complaint-marker-5521" not in response.text, (agency, url)
    # (3) A console user of that agency does not see it either, even as a DPO.
    theirs = TestClient(signed_in.app, base_url="https://testserver")
    assert console_sign_in(theirs, _staff(ctx, "shelter-dpo", "dpo", "shelter")).status_code == 303
    assert row.id not in theirs.get("/console/requests?status=all").text
    assert theirs.get(f"/console/requests/{row.id}").status_code == 404
    assert theirs.post(f"/console/requests/{row.id}", data={
        "csrf_token": csrf_of(theirs.get("/console/requests").text),
        "status": "resolved", "outcome": "not_upheld"}).status_code == 404
    # (4) Nor does a console role it is not routed to.
    advocate = TestClient(signed_in.app, base_url="https://testserver")
    console_sign_in(advocate, _staff(ctx, "advocate", "advocate", None))
    assert row.id not in advocate.get("/console/requests?status=all").text


def test_requests_need_words_and_are_limited(signed_in: TestClient, ctx: GatewayContext) -> None:
    form = signed_in.get("/p/correction")
    token = csrf_of(form.text)
    assert "Which information? You can skip this." in form.text
    empty = signed_in.post("/p/requests", data={"csrf_token": token, "kind": "correction", "message": "  \n "})
    assert empty.status_code == 400 and "Please write your message." in empty.text
    long = signed_in.post("/p/requests", data={"csrf_token": token, "kind": "correction", "message": "x" * 2001})
    assert long.status_code == 400 and "too long" in long.text
    ok = signed_in.post("/p/requests", data={"csrf_token": token, "kind": "correction", "topic": "D1",
                                             "about": "not-an-involved-agency", "message": "My age is wrong."},
                        follow_redirects=False)
    assert ok.status_code == 303
    with ctx.sessions() as session:
        row = session.scalars(select(PortalRequest)).one()
    assert (row.kind, row.topic, row.about_agency_id) == ("correction", "D1", None)
    assert "Correction" in signed_in.get("/p/requests").text


# ---------------------------------------------------------------------------- language


def test_the_persons_language_from_their_record_and_switchable(client: TestClient, auth: Auth,
                                                               registry: Registry) -> None:
    person = make_person(client, auth, language="fr")
    client.cookies.clear()
    signed_out = client.get("/p/", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert '<html lang="ru" dir="ltr">' in signed_out.text and "Войти" in signed_out.text
    assert sign_in(client, person.code, person.pin).status_code == 303
    home = client.get("/p/")
    assert '<html lang="fr" dir="ltr">' in home.text and "<title>Mon compte</title>" in home.text
    switched = client.post("/p/lang", data={"csrf_token": csrf_of(home.text), "lang": "ar", "next": "/p/shared"},
                           follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/p/shared"
    page = client.get("/p/shared")
    assert '<html lang="ar" dir="rtl">' in page.text and "<title>حسابي</title>" in page.text
    # Only portal pages are accepted as the place to go back to.
    odd = client.post("/p/lang", data={"csrf_token": csrf_of(page.text), "lang": "es",
                                       "next": "https://elsewhere.example/"}, follow_redirects=False)
    assert odd.headers["location"] == "/p/"


def test_a_language_chosen_before_signing_in_is_kept(client: TestClient, person: PortalPerson) -> None:
    client.cookies.clear()
    form = client.get("/p/")
    client.post("/p/lang", data={"csrf_token": csrf_of(form.text), "lang": "es", "next": "/p/"})
    form = client.get("/p/")
    assert 'lang="es"' in form.text
    client.post("/p/sign-in", data={"csrf_token": csrf_of(form.text), "code": person.code, "pin": person.pin})
    assert '<html lang="es"' in client.get("/p/").text


def test_the_card_address_leads_to_the_portal(client: TestClient) -> None:
    response = client.get("/portal", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/p/"


def test_a_stored_message_moved_to_another_request_does_not_open_there(
    signed_in: TestClient, person: PortalPerson, ctx: GatewayContext
) -> None:
    _complain(signed_in, "shelter", "first-marker-8841")
    _complain(signed_in, "shelter", "second-marker-8842")
    with ctx.sessions() as session, session.begin():
        first, second = session.scalars(select(PortalRequest).order_by(PortalRequest.created_at,
                                                                        PortalRequest.id)).all()
        second.message = first.message
        second_id = second.id
    console = TestClient(signed_in.app, base_url="https://testserver")
    assert console_sign_in(console, _staff(ctx, "dpo", "dpo", None)).status_code == 303
    page = console.get(f"/console/requests/{second_id}").text
    assert "[this text cannot be decrypted]" in page
    assert "first-marker-8841" not in page and "second-marker-8842" not in page
