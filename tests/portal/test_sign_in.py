"""Signing in: code + PIN, one answer for every failure, back-off, sessions that expire and end,
cookies, CSRF, and the duress PIN (the attacks on throttling are in test_throttling.py)."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.clock import FixedClock
from consent.portal_access import PortalAccess
from gateway.context import GatewayContext
from gateway.portal.models import PortalRequest
from gateway.portal.pre_sign_in import PRE_COOKIE
from tests.portal.conftest import COOKIE, OWNER, Auth, PortalPerson, csrf_of, make_person, sign_in


def _wrong_locator(code: str) -> str:
    first = code[:4]
    other = "2222" if first != "2222" else "3333"
    return other + code[4:]


def _wrong_secret(code: str) -> str:
    last = code[-1]
    return code[:-1] + ("2" if last != "2" else "3")


def _without_token(html: str) -> str:
    return html.replace(csrf_of(html), "TOKEN")


def _advance_past_backoff(clock: FixedClock, ctx: GatewayContext) -> None:
    clock.advance(timedelta(seconds=ctx.settings.portal_max_delay_s + 1))


# ---------------------------------------------------------------------------- success


@pytest.mark.rule("ASVS-7.2.4", "ASVS-3.3.1")
def test_sign_in_starts_a_new_session_in_a_host_only_strict_cookie(client: TestClient, person: PortalPerson) -> None:
    client.cookies.clear()
    form = client.get("/p/")
    assert form.cookies.get(COOKIE) is None, "the sign-in form needs no session (anonymous pages write nothing)"
    before = form.cookies.get(PRE_COOKIE)
    assert before, "the sign-in form's token is bound to a signed pre-sign-in cookie"
    response = client.post("/p/sign-in", data={"csrf_token": csrf_of(form.text), "code": person.code,
                                                "pin": person.pin}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/p/"
    [raw] = [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE + "=")]
    cookie = SimpleCookie()
    cookie.load(raw)
    morsel = cookie[COOKIE]
    assert morsel.value and morsel.value != before, "a new session id at sign-in (no fixation)"
    assert morsel["path"] == "/" and not morsel["domain"]
    lowered = raw.lower()
    assert "secure" in lowered and "httponly" in lowered and "samesite=strict" in lowered
    # The pre-sign-in id no longer opens anything.
    client.cookies.clear()
    client.cookies.set(COOKIE, before)
    assert 'action="/p/sign-in"' in client.get("/p/").text
    client.cookies.clear()
    client.cookies.set(COOKIE, morsel.value)
    assert 'action="/p/leave"' in client.get("/p/").text


def test_code_is_accepted_however_it_is_typed(client: TestClient, person: PortalPerson) -> None:
    typed = " " + person.code.lower().replace("-", " ") + " "
    assert sign_in(client, typed, person.pin).status_code == 303


# ---------------------------------------------------------------------------- one answer


@pytest.mark.rule("ASVS-6.3.8")
def test_wrong_code_unknown_code_and_wrong_pin_get_the_same_answer(
    client: TestClient, person: PortalPerson, ctx: GatewayContext
) -> None:
    client.cookies.clear()
    form = client.get("/p/")
    token = csrf_of(form.text)
    answers = []
    for code, pin in ((person.code, "9999"), (_wrong_secret(person.code), person.pin),
                      (_wrong_locator(person.code), person.pin), ("not a code", person.pin), (person.code, "")):
        response = client.post("/p/sign-in", data={"csrf_token": token, "code": code, "pin": pin},
                               follow_redirects=False)
        answers.append((response.status_code, response.text, response.headers.get("retry-after")))
    assert answers[0][0] == 401
    assert all(a == answers[0] for a in answers), "every failure must look the same"
    assert "Check the code and the PIN" in answers[0][1]


def test_a_person_without_a_pin_cannot_sign_in(client: TestClient, auth: Auth, registry: object,
                                              ctx: GatewayContext) -> None:
    person = make_person(client, auth)
    with ctx.sessions() as session, session.begin():
        row = session.get(PortalAccess, person.subject_id)
        assert row is not None
        row.pin_hash = None
        row.duress_pin_hash = None
    assert sign_in(client, person.code, person.pin).status_code == 401


# ---------------------------------------------------------------------------- throttling and lockout


@pytest.mark.rule("ASVS-6.3.1", "NIST-800-63B-5.2.2")
def test_back_off_per_code_after_the_free_failures(client: TestClient, person: PortalPerson, ctx: GatewayContext,
                                                   clock: FixedClock) -> None:
    free = ctx.settings.portal_code_free_failures
    for _ in range(free + 1):
        assert sign_in(client, person.code, "9999").status_code == 401
    throttled = sign_in(client, person.code, person.pin)  # even the right PIN waits
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert "Please wait" in throttled.text
    clock.advance(timedelta(seconds=2))
    assert sign_in(client, person.code, person.pin).status_code == 303
    # A success clears the code's count: the next failure is a plain failure again.
    assert sign_in(client, person.code, "9999").status_code == 401


# ---------------------------------------------------------------------------- sessions


@pytest.mark.rule("ASVS-7.3.1")
def test_idle_timeout(signed_in: TestClient, ctx: GatewayContext, clock: FixedClock) -> None:
    clock.advance(timedelta(seconds=ctx.settings.portal_session_idle_s - 5))
    assert 'action="/p/leave"' in signed_in.get("/p/").text  # still in, and touched
    clock.advance(timedelta(seconds=ctx.settings.portal_session_idle_s + 1))
    page = signed_in.get("/p/shared")
    assert 'action="/p/sign-in"' in page.text
    assert "away for a while" in page.text


@pytest.mark.rule("ASVS-7.3.2")
def test_absolute_timeout(signed_in: TestClient, ctx: GatewayContext, clock: FixedClock) -> None:
    step = ctx.settings.portal_session_idle_s - 10
    elapsed = 0
    while elapsed + step <= ctx.settings.portal_session_absolute_s:
        clock.advance(timedelta(seconds=step))
        elapsed += step
        assert 'action="/p/leave"' in signed_in.get("/p/").text
    clock.advance(timedelta(seconds=ctx.settings.portal_session_absolute_s - elapsed + 1))
    assert 'action="/p/sign-in"' in signed_in.get("/p/").text


@pytest.mark.rule("ASVS-14.3.1")
def test_sign_out_ends_the_session_and_clears_the_site(signed_in: TestClient) -> None:
    token = signed_in.cookies.get(COOKIE)
    response = signed_in.post("/p/leave", data={"csrf_token": csrf_of(signed_in.get("/p/").text)},
                              follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/p/?left=1"
    assert response.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    signed_in.cookies.clear()
    signed_in.cookies.set(COOKIE, token or "")
    assert 'action="/p/sign-in"' in signed_in.get("/p/").text


@pytest.mark.rule("ASVS-14.3.1")
def test_quick_exit_ends_the_session_and_leaves_for_an_ordinary_site(signed_in: TestClient,
                                                                     ctx: GatewayContext) -> None:
    token = signed_in.cookies.get(COOKIE)
    response = signed_in.get("/p/exit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == ctx.settings.portal_exit_url
    assert response.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    assert f"{COOKIE}=" in response.headers["set-cookie"]
    signed_in.cookies.clear()
    signed_in.cookies.set(COOKIE, token or "")
    assert 'action="/p/sign-in"' in signed_in.get("/p/").text
    # Signed out already: it still just leaves.
    assert signed_in.get("/p/exit", follow_redirects=False).status_code == 303


# ---------------------------------------------------------------------------- CSRF


@pytest.mark.rule("ASVS-3.5.1")
def test_every_form_refuses_a_missing_or_wrong_token(signed_in: TestClient, person: PortalPerson,
                                                     ctx: GatewayContext, auth: Auth) -> None:
    for data in ({}, {"csrf_token": "forged"}):
        withdraw = signed_in.post(f"/p/choices/{person.consent_id}/withdraw", data=data)
        assert withdraw.status_code == 403
        sent = signed_in.post("/p/requests", data={**data, "kind": "complaint", "message": "x"})
        assert sent.status_code == 403
        lang = signed_in.post("/p/lang", data={**data, "lang": "fr"}, follow_redirects=False)
        assert lang.status_code == 403
        leave = signed_in.post("/p/leave", data=data, follow_redirects=False)
        assert leave.status_code == 403
    consent = signed_in.get(f"/v1/consents/{person.consent_id}", headers=auth(OWNER)).json()
    assert consent["status"] == "in_force"
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PortalRequest)) == 0
    assert 'lang="en"' in signed_in.get("/p/").text
    assert 'action="/p/leave"' in signed_in.get("/p/").text  # still signed in


def test_sign_in_without_the_forms_token_is_refused(client: TestClient, person: PortalPerson) -> None:
    client.cookies.clear()
    client.get("/p/")
    refused = client.post("/p/sign-in", data={"csrf_token": "forged", "code": person.code, "pin": person.pin},
                          follow_redirects=False)
    assert refused.status_code == 403
    assert "open too long" in refused.text
    # The answer carries a fresh form that works.
    ok = client.post("/p/sign-in", data={"csrf_token": csrf_of(refused.text), "code": person.code,
                                         "pin": person.pin}, follow_redirects=False)
    assert ok.status_code == 303


# ---------------------------------------------------------------------------- duress


def test_the_duress_pin_is_optional(client: TestClient, auth: Auth, registry: object) -> None:
    person = make_person(client, auth, duress=False)
    assert sign_in(client, person.code, person.pin).status_code == 303
    client.post("/p/leave", data={"csrf_token": csrf_of(client.get("/p/").text)})
    assert sign_in(client, person.code, "731546").status_code == 401
