"""Issue 17, attack 7: an anonymous visitor's ``GET /p/...`` writes nothing.

The sign-in form's CSRF token rides in a signed pre-sign-in cookie (``gateway.portal.pre_sign_in``),
so no session row is created for a visitor who only looks. Many anonymous reads of every portal
page, with no cookie, a junk cookie or a stale pre-sign-in cookie, leave every table exactly as
it was; the form they get still signs a person in.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.clock import FixedClock
from gateway.context import GatewayContext
from gateway.models import metadata
from gateway.portal.pre_sign_in import PRE_COOKIE
from tests.portal.conftest import COOKIE, PortalPerson, csrf_of

ANONYMOUS_PAGES = ("/p/", "/p/?left=1", "/p/past", "/p/shared", "/p/rules", "/p/requests", "/p/correction",
                   "/p/complaint", "/p/s/portal.css", "/p/s/nothing", "/portal")


SCHEDULED = {"audit_checkpoints"}
"""Written by the gateway's own timer (a checkpoint of the log every few seconds), never by a visitor:
a checkpoint commits to the entries there are, so the test shows the log did not grow instead."""


def _row_counts(ctx: GatewayContext) -> dict[str, int]:
    with ctx.sessions() as session:
        return {name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                for name, table in sorted(metadata.tables.items()) if name not in SCHEDULED}


def test_many_anonymous_reads_write_no_row(client: TestClient, person: PortalPerson, ctx: GatewayContext,
                                           clock: FixedClock) -> None:
    client.cookies.clear()
    before = _row_counts(ctx)
    assert sum(before.values()) > 0
    reads = 0
    for round_ in range(15):
        for cookies in ({}, {COOKIE: f"junk-{round_}"}, {PRE_COOKIE: f"forged.{round_}.en"}):
            client.cookies.clear()
            for name, value in cookies.items():
                client.cookies.set(name, value)
            for path in ANONYMOUS_PAGES:
                response = client.get(path, follow_redirects=False)
                assert response.status_code in (200, 303, 404), (path, response.status_code)
                reads += 1
        clock.advance(timedelta(minutes=7))  # stale pre-sign-in cookies, expired nothing
    assert reads == 15 * 3 * len(ANONYMOUS_PAGES)
    assert _row_counts(ctx) == before, "an anonymous GET wrote to the database"


def test_the_anonymous_form_still_signs_in_and_a_forged_token_does_not(
    client: TestClient, person: PortalPerson, ctx: GatewayContext
) -> None:
    client.cookies.clear()
    form = client.get("/p/")
    token = csrf_of(form.text)
    assert form.cookies.get(PRE_COOKIE) and token
    forged = client.post("/p/sign-in", data={"csrf_token": "0" * 64, "code": person.code, "pin": person.pin},
                         follow_redirects=False)
    assert forged.status_code == 403, "a token not made for this cookie is refused"
    # Another visitor's pair does not mix: a cookie of one form with the token of another is refused.
    client.cookies.clear()
    other = client.get("/p/")
    assert other.cookies[PRE_COOKIE] != form.cookies[PRE_COOKIE]
    client.cookies.clear()
    client.cookies.set(PRE_COOKIE, form.cookies[PRE_COOKIE])
    mixed = client.post("/p/sign-in", data={"csrf_token": csrf_of(other.text), "code": person.code,
                                            "pin": person.pin}, follow_redirects=False)
    assert mixed.status_code == 403
    client.cookies.clear()
    client.cookies.set(PRE_COOKIE, form.cookies[PRE_COOKIE])
    ok = client.post("/p/sign-in", data={"csrf_token": token, "code": person.code, "pin": person.pin},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.cookies.get(COOKIE)


def test_a_language_chosen_before_signing_in_is_kept_without_a_row(
    client: TestClient, person: PortalPerson, ctx: GatewayContext
) -> None:
    client.cookies.clear()
    form = client.get("/p/")
    before = _row_counts(ctx)
    chosen = client.post("/p/lang", data={"csrf_token": csrf_of(form.text), "lang": "fr", "next": "/p/"},
                         follow_redirects=False)
    assert chosen.status_code == 303
    page = client.get("/p/")
    assert page.headers.get("content-language", "").startswith("fr") or 'lang="fr"' in page.text
    assert _row_counts(ctx) == before
    signed = client.post("/p/sign-in", data={"csrf_token": csrf_of(page.text), "code": person.code,
                                             "pin": person.pin}, follow_redirects=False)
    assert signed.status_code == 303
    assert 'lang="fr"' in client.get("/p/").text
